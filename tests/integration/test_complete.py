"""Completion, is_complete and inspect, done by the target's shell in the cell's context
(issue 2, item 4). Completion from the context is tested on both targets (local and SSH:
targets.py; the helper shell that answers is test_complete_helper.py's), the rest locally.
is_complete is the kernel's own."""

from __future__ import annotations

import re
import shlex
import shutil
import uuid
from pathlib import Path

import pytest

from harness import LOCAL, Notebook, completions_applied, plain_text
from targets import (  # noqa: F401  (fixtures are used by name)
    nb,
    ssh,
    ssh_kernelspec,
    ssh_servers,
    target,
)


def test_command_prefix(nb):
    r = nb.complete("ech")
    assert r["status"] == "ok"
    assert "echo" in r["matches"]
    assert (r["cursor_start"], r["cursor_end"]) == (0, 3)


def test_completion_in_the_middle_of_a_line(local):
    local.ok("true")
    code = "ech hi"
    r = local.complete(code, cursor_pos=3)
    assert "echo hi" in completions_applied(r, code), r


def test_function_from_an_earlier_cell(nb):
    nb.ok("myfunc_abc() { :; }")
    assert "myfunc_abc" in nb.complete("myfunc_a")["matches"]


def test_alias_from_an_earlier_cell(local):
    local.ok("alias myalias_xyz='echo hi'")
    assert "myalias_xyz" in local.complete("myalias_x")["matches"]


def test_unexported_variable(local):
    local.ok("myvariable_q=1")
    code = "echo $myvariable_"
    r = local.complete(code)
    assert "echo $myvariable_q" in completions_applied(r, code), r


def _second_words(reply, code):
    """The argument each completion leaves on the line, as the shell would read it."""
    out = []
    for applied in completions_applied(reply, code):
        for attempt in (applied, applied + "'", applied + '"'):  # close a quote left open
            try:
                words = shlex.split(attempt)
            except ValueError:
                continue
            if len(words) == 2:
                out.append(words[1])
            break
    return out


def test_path_with_spaces(local):
    base = Path(f"/tmp/sp test dir {uuid.uuid4().hex[:6]}")
    (base).mkdir()
    (base / "file one").write_text("x")
    try:
        local.ok("true")
        code = "ls " + str(base)[:-3].replace(" ", "\\ ")  # ls /tmp/sp\ test\ dir\ abc
        r = local.complete(code)
        words = _second_words(r, code)
        assert any(w.rstrip("/") == str(base) for w in words), (code, r)

        code2 = "ls " + str(base).replace(" ", "\\ ") + "/fi"
        r2 = local.complete(code2)
        words2 = _second_words(r2, code2)
        assert str(base / "file one") in words2, (code2, r2)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_cursor_pos_counts_code_points(local):
    local.ok("true")
    code = "echo é; ech"
    assert len(code) == 11 and len(code.encode()) == 12
    r = local.complete(code, cursor_pos=len(code))
    assert "echo" in r["matches"], r
    assert (r["cursor_start"], r["cursor_end"]) == (8, 11), r


def test_cursor_pos_code_points_wide_chars(local):
    local.ok("true")
    code = "echo 日本語 😀; ech"
    r = local.complete(code, cursor_pos=len(code))
    assert "echo" in r["matches"], r
    assert (r["cursor_start"], r["cursor_end"]) == (len(code) - 3, len(code)), r


def test_completion_sees_the_cwd_of_the_context(nb):
    """A directory made on the target by a cell: the completion is the target's."""
    nb.ok("cd $(mktemp -d); touch unique_name_zq.txt")
    code = "cat unique_name_z"
    r = nb.complete(code)
    assert "cat unique_name_zq.txt" in [a.rstrip() for a in completions_applied(r, code)], r
    assert any(m.endswith("unique_name_zq.txt") for m in r["matches"]), r
    nb.ok('rm -r "$PWD"')


# ---- is_complete


@pytest.fixture(scope="module")
def shared(kernelspecs):
    nb = Notebook(LOCAL)
    nb.ok("true")
    yield nb
    nb.close()


@pytest.mark.parametrize(
    "code",
    [
        "echo 'open",
        'echo "open',
        "cat <<EOF\nline",
        "echo hi \\",
        "echo $(date",
        "f() {",
        "if true; then",
        "for i in 1 2; do",
        "while true; do",
        "case x in",
        "{ echo hi",
        "( echo hi",
        "echo hi |",
        "true &&",
    ],
)
def test_incomplete(shared, code):
    r = shared.is_complete(code)
    assert r["status"] == "incomplete", (code, r)


@pytest.mark.parametrize("code", ["fi", "echo hi )", "done", "esac", "}"])
def test_invalid(shared, code):
    r = shared.is_complete(code)
    assert r["status"] == "invalid", (code, r)


@pytest.mark.parametrize(
    "code",
    ["echo hi", "if true; then echo hi; fi", "cat <<EOF\nbody\nEOF", "f() { :; }", "echo 'a\nb'", "%status"],
)
def test_complete(shared, code):
    r = shared.is_complete(code)
    assert r["status"] == "complete", (code, r)


def test_is_complete_incomplete_has_indent(shared):
    r = shared.is_complete("if true; then")
    assert r["status"] == "incomplete" and isinstance(r["indent"], str), r


# ---- inspect


def _inspect_text(nb, code):
    r = nb.inspect(code)
    assert r["status"] == "ok"
    assert r["found"] is True, r
    return plain_text(r["data"]["text/plain"])


def test_inspect_builtin(local):
    local.ok("true")
    assert "builtin" in _inspect_text(local, "echo")


def test_inspect_function(local):
    local.ok("inspect_me() { echo body-of-function; }")
    text = _inspect_text(local, "inspect_me")
    assert "function" in text
    assert "body-of-function" in text


def test_inspect_alias(local):
    local.ok("alias inspect_al='ls -l'")
    text = _inspect_text(local, "inspect_al")
    assert "alias" in text and "ls -l" in text


def test_inspect_file(local):
    local.ok("true")
    text = _inspect_text(local, "ls")
    assert "file" in text or re.search(r"/s?bin/ls\b", text), text


def test_inspect_word_under_cursor(local):
    local.ok("true")
    code = "echo hi | wc -l"
    r = local.inspect(code, cursor_pos=code.index("wc") + 1)
    assert r["found"] and "wc" in plain_text(r["data"]["text/plain"])


def test_inspect_unknown_word(local):
    local.ok("true")
    r = local.inspect("no_such_command_qq")
    assert r["status"] == "ok" and r["found"] is False
