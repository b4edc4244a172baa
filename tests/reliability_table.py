#!/usr/bin/env python3
"""The fault table of issue 7, made from a pytest run of tests/integration.

    tests/reliability_table.py [JUNIT_XML]   # default: tests/artifacts/junit.xml

Reads the run's JUnit XML (tests/run writes tests/artifacts/junit.xml), with the errors each
test's cells showed (its "user_saw" property, set by conftest.py), sorts every test case
into the fault or input class it exercises (CLASSES below: file and test-name patterns), and
prints a Markdown table: class, cases, passed, failed, xfail/skipped, and what the user saw
(the distinct error names of the cells, each with one example message). Test cases of no class
are left out. Exit status 0 whatever the results: the pytest stage is what fails a run.
"""

from __future__ import annotations

import json
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent
ARTIFACTS = ROOT / "artifacts"

# (class, [(file stem, test-name regex)]); a test goes to the first class that matches it.
CLASSES: list[tuple[str, list[tuple[str, str]]]] = [
    ("1. Connection lost (sshd killed / peer silent, mid-cell and idle)",
     [("test_ssh_faults", r"connection_killed|silent_peer|relogin_while")]),
    ("1. Host unreachable (closed port, unresolvable, silent listener)",
     [("test_ssh_faults", r"login_to_|failed_login")]),
    ("1. Listening sshd stopped", [("test_rel_faults", r"listener_stopped")]),
    ("2. Interrupt (sleep, busy loop, SIGINT ignored, sudo, prompt box, full screen, 100 MB)",
     [("test_interrupt", r"interrupt"),
      ("test_rel_faults", r"interrupt_"), ("test_prompts", r"interrupt"),
      ("test_ssh_login", r"interrupt")]),
    ("2. Twelve interrupts in a row (MaxSessions 10)", [("test_rel_faults", r"twelve")]),
    ("2. Shutdown / restart / timeout mid-cell, background jobs",
     [("test_interrupt", r"shutdown|background|nohup"),
      ("test_rel_faults", r"kernel_restart|kernel_shutdown"),
      ("test_magics", r"timeout_interrupts")]),
    ("2. Headless prompt (no stdin): stopped, nothing left",
     [("test_prompts", r"headless"), ("test_ssh_login", r"without_stdin")]),
    ("3. Output integrity (large, fast, trickle, binary, tail, interleave, stalled IOPub)",
     [("test_rel_output", r"."), ("test_output", r"output_limit|under_the_limit"),
      ("test_cells", r"output|stdout|300kb|utf8"),
      ("test_server", r"50mb")]),
    ("4. Wire: signatures, malformed JSON, unknown types",
     [("test_signatures", r"."), ("test_protocol", r"unknown_message_type"),
      ("test_rel_hostile", r"wrong_types|headers_of_wrong|unknown_types")]),
    ("4. Wire: ZMTP bounds (2^40 header, 10^6 frames, 70 MiB), vanishing clients",
     [("test_rel_hostile", r"2_pow_40|million|over_64|vanishing")]),
    ("4. Connection file readable by others", [("test_rel_hostile", r"connection_file")]),
    ("4. Shell: forged context markers, OSC and terminal reports",
     [("test_context", r"forged|marker_with"),
      ("test_rel_hostile", r"escape_sequences")]),
    ("4. Shell: forged sudo prompt, sudo marker hidden",
     [("test_prompts", r"forged"), ("test_rel_hostile", r"sudo_marker")]),
    ("4. Config: malformed ~/.ssh/config lines, Match blocks",
     [("test_rel_hostile", r"malformed_config")]),
    ("5. Secrets never shown (IOPub, log, history, notebook, ps)",
     [("test_secrets", r"."), ("test_context", r"restored_value"),
      ("test_prompts", r"no_secret|password_box")]),
    ("5. Host-key policy", [("test_ssh_hostkeys", r".")]),
    ("6. Long session (soak)", [("test_rel_soak", r".")]),
]


def classify(classname: str, name: str) -> str | None:
    stem = classname.rsplit(".", 1)[-1]
    for label, rules in CLASSES:
        for file_stem, rx in rules:
            if stem == file_stem and re.search(rx, name):
                return label
    return None


def outcome(case: ET.Element) -> str:
    for tag in ("failure", "error"):
        if case.find(tag) is not None:
            return "failed"
    skipped = case.find("skipped")
    if skipped is not None:
        return "xfail" if "xfail" in (skipped.get("type", "") + skipped.get("message", "")) \
            else "skipped"
    return "passed"


def user_saw(case: ET.Element) -> list[str]:
    for prop in case.iter("property"):
        if prop.get("name") == "user_saw":
            return json.loads(prop.get("value", "[]"))
    return []


def table(junit: Path) -> str:
    rows: dict[str, Counter] = defaultdict(Counter)
    seen: dict[str, dict[str, str]] = defaultdict(dict)
    seen_count: dict[str, Counter] = defaultdict(Counter)
    for case in ET.parse(junit).getroot().iter("testcase"):
        classname, name = case.get("classname", ""), case.get("name", "")
        label = classify(classname, name)
        if label is None:
            continue
        rows[label]["cases"] += 1
        rows[label][outcome(case)] += 1
        for text in user_saw(case):
            ename, _, msg = text.partition(": ")
            seen_count[label][ename] += 1
            seen[label].setdefault(ename, msg)
    out = ["| fault or input class | cases | passed | failed | xfail/skipped | what the user saw "
           "(error name ×distinct messages: one of them) |",
           "|---|---:|---:|---:|---:|---|"]
    for label, _ in CLASSES:
        r = rows.get(label)
        if not r:
            out.append(f"| {label} | 0 | 0 | 0 | 0 | (not in this run) |")
            continue
        shown = "; ".join(
            f"**{e}** ×{n}: {cell(seen[label][e])}" for e, n in seen_count[label].most_common())
        out.append(f"| {label} | {r['cases']} | {r['passed']} | {r['failed']} | "
                   f"{r['xfail'] + r['skipped']} | {shown or 'no error output (the next cells succeed)'} |")
    total = Counter()
    for r in rows.values():
        total.update(r)
    out.append(f"| **all** | {total['cases']} | {total['passed']} | {total['failed']} | "
               f"{total['xfail'] + total['skipped']} | |")
    return "\n".join(out)


def cell(text: str, limit: int = 110) -> str:
    text = re.sub(r"\s+", " ", text).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def main(argv: list[str]) -> int:
    junit = Path(argv[1]) if len(argv) > 1 else ARTIFACTS / "junit.xml"
    if not junit.is_file():
        print(f"no {junit}: run tests/run (or pytest --junitxml) first", file=sys.stderr)
        return 1
    print(table(junit))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
