#!/usr/bin/env python3
"""The import graph of the workspace's Rust code, file by file: which source file uses which,
from `use` paths and `crate::`/`super::`/`self::` paths in the code (test modules and
test-only files left out). Prints the cycles and the upward arrows (a file using one that
declares it, directly or further up: a module using its parent) per crate, and exits 1 if
there is either. The crate graph itself cannot have cycles (cargo refuses them).

    tests/module_graph.py            # check every crate under crates/ and src/
    tests/module_graph.py --edges    # also print every edge
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROOTS = [REPO / "src" / "main.rs"] + sorted((REPO / "crates").glob("*/src/lib.rs"))
# Files that exist only for tests: they may use anything.
TEST_ONLY = {"tests.rs", "fake.rs", "fuzzing.rs"}

PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+|::\{)")
MOD_DECL = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(?:r#)?([a-z_][a-z0-9_]*)\s*;", re.M)


def strip_tests(text: str) -> str:
    """The file without its `#[cfg(test)]` items (a `mod tests { … }` block, a test-only
    `mod x;`), and without comments and string literals' contents."""
    text = re.sub(r"//[^\n]*", "", text)
    out, i = [], 0
    while True:
        m = re.search(r"#\[cfg\(test\)\]\s*", text[i:])
        if not m:
            out.append(text[i:])
            break
        start = i + m.start()
        out.append(text[i:start])
        j = i + m.end()
        # the item: up to its `;` or its matching `}`
        depth, k = 0, j
        while k < len(text):
            c = text[k]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    k += 1
                    break
            elif c == ";" and depth == 0:
                k += 1
                break
            k += 1
        i = k
    return "".join(out)


def modules(root: Path) -> dict[tuple[str, ...], Path]:
    """Module path → file, following `mod x;` declarations from the crate root."""
    found: dict[tuple[str, ...], Path] = {(): root}
    todo = [((), root)]
    while todo:
        path, file = todo.pop()
        text = strip_tests(file.read_text())
        here = file.parent if file.name in ("lib.rs", "main.rs", "mod.rs") else file.with_suffix("")
        for name in MOD_DECL.findall(text):
            for cand in (here / f"{name}.rs", here / name / "mod.rs"):
                if cand.exists():
                    if cand.name in TEST_ONLY:
                        break
                    found[path + (name,)] = cand
                    todo.append((path + (name,), cand))
                    break
    return found


def resolve(mods: dict[tuple[str, ...], Path], base: tuple[str, ...], segs: list[str]):
    """The deepest module named by a path starting at `base`."""
    best = None
    cur = base
    if base in mods:
        best = base
    for s in segs:
        cur = cur + (s,)
        if cur in mods:
            best = cur
        else:
            break
    return best


def inline_modules_flattened(text: str) -> str:
    """`super::` inside an inline `mod x { … }` names the file's own module: written
    `self::` here, so paths resolve as from the file."""
    out, i = [], 0
    for m in re.finditer(r"\bmod\s+[a-z_][a-z0-9_]*\s*\{", text):
        if m.start() < i:
            continue
        depth, k = 0, m.end() - 1
        while k < len(text):
            if text[k] == "{":
                depth += 1
            elif text[k] == "}":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        out.append(text[i:m.end()])
        out.append(text[m.end():k].replace("super::", "self::"))
        i = k
    out.append(text[i:])
    return "".join(out)


def reexports(mods: dict[tuple[str, ...], Path]) -> dict[tuple[tuple[str, ...], str], list[str]]:
    """(module, name) → the path it re-exports (`pub use renderer::Renderer;` in lib.rs),
    relative to that module, so a use of `crate::Renderer` counts as one of renderer.rs."""
    out = {}
    for path, file in mods.items():
        text = strip_tests(file.read_text())
        for m in re.finditer(r"pub(?:\([^)]*\))?\s+use\s+([^;]+);", text):
            body = re.sub(r"\s+", "", m.group(1))
            prefix, _, group = body.partition("{")
            names = group.rstrip("}").split(",") if group else [prefix.rsplit("::", 1)[-1]]
            base = prefix.rstrip(":").split("::") if group else prefix.split("::")[:-1]
            for n in names:
                n = n.split("::")[-1].split("as")[-1] if n else n
                if n and n != "self":
                    out[(path, n)] = base
    return out


def expand_groups(text: str) -> str:
    """`use a::{b, c::{d, e}};` written as one `use` per leaf, so each path resolves."""

    def leaves(prefix: str, body: str) -> list[str]:
        out, depth, item = [], 0, ""
        for c in body + ",":
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            if c == "," and depth == 0:
                item = item.strip()
                if "{" in item:
                    head, _, rest = item.partition("{")
                    out += leaves(prefix + head, rest.rsplit("}", 1)[0])
                elif item:
                    out.append(prefix + item)
                item = ""
            else:
                item += c
        return out

    def one(m: re.Match) -> str:
        head, body = m.group(1), m.group(2)
        return " ".join(f"use {leaf};" for leaf in leaves(head, body))

    return re.sub(r"\buse\s+([A-Za-z_:]*::)\{((?:[^{}]|\{[^{}]*\})*)\}\s*;", one, text)


def edges_of(mods: dict[tuple[str, ...], Path]) -> set[tuple[tuple[str, ...], tuple[str, ...]]]:
    edges = set()
    again = reexports(mods)
    for path, file in mods.items():
        text = expand_groups(inline_modules_flattened(strip_tests(file.read_text())))
        text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
        for m in PATH.finditer(text):
            kind, rest = m.group(1), m.group(2)
            segs = [s for s in rest.split("::") if s and s != "{"]
            if kind == "crate":
                base = ()
            elif kind == "self":
                base = path
            else:
                base = path[:-1]
                while segs and segs[0] == "super":  # `super::super::x`
                    base = base[:-1]
                    segs = segs[1:]
            target = resolve(mods, base, segs)
            # Through a re-export to where the item is defined.
            for _ in range(4):
                if target is None:
                    break
                rest = segs[len(target) - len(base):] if len(target) >= len(base) else segs
                via = again.get((target, rest[0])) if rest else None
                if not via:
                    break
                hop_base = target
                hop = list(via)
                if hop and hop[0] in ("crate",):
                    hop_base, hop = (), hop[1:]
                while hop and hop[0] in ("super", "self"):
                    if hop[0] == "super":
                        hop_base = hop_base[:-1]
                    hop = hop[1:]
                nxt = resolve(mods, hop_base, hop)
                if nxt is None or nxt == target:
                    break
                base, segs, target = hop_base, hop + rest[1:], nxt
            if target is not None and target != path:
                edges.add((path, target))
        # `use x::…` inside `mod.rs`/`lib.rs` for a child declared here (`use cell::Sink`)
        for m in re.finditer(r"\buse\s+(?:r#)?([a-z_][a-z0-9_]*)::", text):
            child = path + (m.group(1),)
            if child in mods and child != path:
                edges.add((path, child))
    return edges


def cycles(nodes, edges):
    graph = {n: set() for n in nodes}
    for a, b in edges:
        graph[a].add(b)
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def name(crate: str, path: tuple[str, ...]) -> str:
    return crate + ("::" + "::".join(path) if path else "")


def main() -> int:
    show = "--edges" in sys.argv
    bad = 0
    for root in ROOTS:
        crate = root.parent.parent.name if root.name == "lib.rs" else "sshpty"
        mods = modules(root)
        edges = edges_of(mods)
        ups = sorted((a, b) for a, b in edges if b == a[: len(b)])
        cyc = cycles(mods.keys(), edges)
        print(f"{crate}: {len(mods)} files, {len(edges)} imports, {len(cyc)} cycles, {len(ups)} upward")
        if show:
            for a, b in sorted(edges):
                print(f"    {name(crate, a)} -> {name(crate, b)}")
        for c in cyc:
            print("    cycle: " + " -> ".join(name(crate, p) for p in sorted(c)))
        for a, b in ups:
            print(f"    upward: {name(crate, a)} uses {name(crate, b)}")
        bad += len(cyc) + len(ups)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
