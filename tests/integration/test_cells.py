"""Cells run in a PTY: shell text as written, output as coalesced streams, the terminal's
environment, exit statuses, the login requirement (issue 2, items 5, 6, 8). Output and exit
statuses are tested on both targets (local and SSH: targets.py), the rest on the local one.

Over SSH the exit status arrives before the last data, and the channel is read until it closes:
the tests of complete output show that nothing is lost there.
"""

from __future__ import annotations

import os
import re
import time

from harness import LOCAL, PLAIN
from ssh_kernel import finish
from targets import (  # noqa: F401  (fixtures are used by name)
    nb,
    no_questions,
    ssh,
    ssh_kernelspec,
    ssh_servers,
    target,
)


def test_echo(local):
    res = local.ok("echo hi")
    assert res.lines == ["hi"], res.describe()


def test_first_cell_of_a_login_kernel_logs_in_and_runs(target):
    """The kernelspec installed with `--login TARGET --no-header`: its first cell logs in (asking
    nothing) and runs, with no header."""
    nb = target.login_kernel()
    res = no_questions(nb, "echo first-cell; whoami")
    assert res.status == "ok" and res.lines[-2:] == ["first-cell", target.user], res.describe()
    assert not res.displays, "--no-header: no header"
    if target.ssh is not None:
        assert nb.ok("echo $SSH_CONNECTION").text.split()[3] == str(target.ssh.h1.port)


def test_plain_kernel_needs_login_first(plain):
    res = plain.run("echo hi").failed()
    assert "%login" in res.errors[0]["evalue"], res.describe()
    assert "hi" not in res.text


def test_plain_kernel_works_after_login_local(plain):
    plain.ok("%login local")
    assert "hi" in plain.ok("echo hi").lines


def test_shell_text_as_written(local):
    code = r"""a="it's"
b='say "hi"'
echo "$a $b"
cat <<EOF
heredoc $(echo sub) ${a}
EOF
cat <<'RAW'
raw $(not run) $a
RAW
echo one two three | tr ' ' '\n' | wc -l
if [ -n "$a" ]; then
  for i in 1 2; do echo "loop $i"; done
fi
echo "$(echo nested $(echo deeper))"
"""
    res = local.ok(code)
    assert res.lines == [
        "it's say \"hi\"",
        "heredoc sub it's",
        "raw $(not run) $a",
        "3",
        "loop 1",
        "loop 2",
        "nested deeper",
    ], res.describe()


def test_300kb_heredoc_cell(local):
    body = ("x" * 99 + "\n") * 3000  # 300,000 bytes
    res = local.ok("wc -c <<'EOF'\n" + body + "EOF", timeout=90)
    assert res.lines[-1].strip() == "300000", res.describe()


def test_300kb_single_line_cell(local):
    """One 300 KB line: more than a PTY's canonical-mode line (4 KiB) and an exec argument (128 KiB)."""
    res = local.ok("v='" + "y" * 300_000 + "'; echo ${#v}", timeout=90)
    assert res.lines[-1].strip() == "300000", res.describe()


def test_output_is_coalesced_and_complete(local):
    res = local.ok("seq 1 20000", timeout=60)
    assert res.lines == [str(i) for i in range(1, 20001)], "lines lost, doubled or out of order"
    assert len(res.streams) < 200, f"{len(res.streams)} stream messages for 20000 lines"


def test_output_shows_while_the_cell_runs(nb):
    """To a client that can answer (allow_stdin: JupyterLab), a line shows as it arrives, in
    the live view: it stays within the program's reach (it could still be redrawn), so it is
    sent as stream only when the cell ends, once."""
    cell = nb.submit("echo early; sleep 3; echo late", allow_stdin=True)
    t0 = time.monotonic()
    cell.wait_for_text("early", timeout=10)
    waited = time.monotonic() - t0
    assert "late" not in cell._views() and "early" not in cell._text()
    res = finish(cell, 15).ok()
    assert waited < 2, f"'early' shown after {waited:.1f}s, with the end of the cell"
    assert res.lines == ["early", "late"]
    assert res.stream == "early\nlate\n", res.describe()


def test_lines_out_of_reach_stream_while_a_headless_cell_runs(nb):
    """To a client that cannot answer (nbclient, papermill), lines go out as stream once out
    of the program's reach (the terminal's 50 rows), while the cell runs."""
    cell = nb.submit("seq 1 200; sleep 3; echo late")
    t0 = time.monotonic()
    cell.wait_for_text("\n150\n", timeout=10)
    waited = time.monotonic() - t0
    res = finish(cell, 15).ok()
    assert waited < 2, f"lines out of reach sent after {waited:.1f}s, with the end of the cell"
    assert res.lines == [str(i) for i in range(1, 201)] + ["late"]
    assert not res.displays, res.describe()


def test_all_output_arrives_before_the_cell_ends(nb):
    """Every line, and the text after the last newline, before the idle."""
    for _ in range(3):
        res = nb.ok("seq 1 30000; printf 'last line without newline'")
        assert res.lines[0] == "1" and res.lines[-2] == "30000", res.lines[-3:]
        assert res.lines[-1] == "last line without newline"


def test_big_output_then_exit_status(nb):
    # 1.5 MB: under the default output limit (2 MB), so all of it is in the cell.
    res = nb.run("head -c 1500000 /dev/zero | tr '\\0' 'y' | fold -w 100; exit 4", timeout=60)
    res.failed()
    assert res.text.count("y" * 100) == 15000
    assert re.search(r"\b4\b", res.error_text)


def test_stdout_and_stderr_merged_into_stdout(local):
    res = local.ok("echo to-out; echo to-err >&2; echo out-again")
    assert res.lines == ["to-out", "to-err", "out-again"]
    assert {m["content"]["name"] for m in res.streams} == {"stdout"}


def test_runs_in_a_pty(local):
    res = local.ok("[ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo is-a-tty; tty")
    assert res.lines[0] == "is-a-tty"
    assert res.lines[1].startswith("/dev/pts/"), res.describe()


def test_term_is_a_colour_terminal(local):
    term = local.ok("echo $TERM").text.strip()
    assert "256color" in term or "xterm" in term, term
    assert int(local.ok("tput colors").text.strip()) >= 8


def _env_without(*names):
    env = dict(os.environ)
    for n in names:
        env.pop(n, None)
    return env


def test_lang_defaults_to_c_utf8_when_unset(notebook):
    nb = notebook(LOCAL, env=_env_without("LANG", "LC_ALL", "LC_CTYPE", "LANGUAGE"))
    nb.ok("true")
    assert nb.ok("echo $LANG").text.strip() == "C.UTF-8"


def test_utf8_output(local):
    res = local.ok("printf 'caf\\303\\251 \\342\\234\\223\\n'")
    assert res.lines == ["café ✓"], res.describe()


def test_pagers_default_to_cat(notebook):
    names = ("PAGER", "GIT_PAGER", "SYSTEMD_PAGER", "MANPAGER")
    nb = notebook(LOCAL, env=_env_without(*names))
    nb.ok("true")
    res = nb.ok('echo "$PAGER|$GIT_PAGER|$SYSTEMD_PAGER|$MANPAGER"')
    assert res.text.strip() == "cat|cat|cat|cat"


# ---- exit status: one error output naming the status, reply status error


def test_false_is_one_error(nb):
    res = nb.run("false").failed()
    assert res.output_types == ["error"], res.describe()
    assert res.errors[0]["ename"] == "ExitStatus" and "exit status 1" in res.error_text, \
        res.describe()


def test_error_names_the_exit_status(local):
    res = local.run("echo before; (exit 42)").failed()
    assert "before" in res.text
    assert re.search(r"\b42\b", res.error_text), res.describe()


def test_last_command_decides_as_in_a_terminal(local):
    res = local.ok("false; echo after")
    assert "after" in res.text


def test_error_then_kernel_still_works(local):
    local.run("false").failed()
    assert "fine" in local.ok("echo fine").text


def test_pipeline_status_is_the_last_command(local):
    local.ok("false | true")
    local.run("true | false").failed()
