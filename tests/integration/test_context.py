"""The client-side shell context, on the local target and over SSH: what carries from one cell
to the next, what never does, and the outcomes of item 7 of issue 2 (kernel-core) and issue 3
item 4, one row per test. A behaviour of both targets is one test run on each (`target`, `nb`:
targets.py); what only one target has follows: the machine's real HOME (local), the SSH
connection's own variables, and login shells that are not bash (fish, tcsh, busybox sh).

Sleep durations are unique to this file (17xx), so a test never mistakes another's process
for its own.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from harness import LOCAL, REPO
from targets import (  # noqa: F401  (fixtures are used by name)
    nb,
    no_questions,
    sleeping,
    ssh,
    ssh_kernelspec,
    ssh_servers,
    target,
)

# ---------------------------------------------------------------------------------------------
# The login environment


# What each target's login files set up, and a cell that shows it: locally the test HOME's
# ~/.profile and ~/.bashrc (harness.PROFILE, BASHRC: exported and plain variables, a function,
# an alias); on h1, Debian's ~/.bashrc of sshpty-ops (sourced by its ~/.profile), whose alias
# ls='ls --color=auto' the tests do not write.
LOGIN_ENVIRONMENT = {
    "local": ('echo "$FROM_PROFILE|$BASHRC_PLAIN"; bashrc_function x; from_bashrc',
              ["profile-was-read|plain-from-bashrc", "bashrc function x", "from-bashrc"]),
    "ssh": ("alias ls", ["alias ls='ls --color=auto'"]),
}


def test_login_environment_from_profile_and_bashrc(target):
    """The login capture brings what the profile files set, aliases usable in cells
    (expand_aliases on)."""
    code, want = LOGIN_ENVIRONMENT[target.name]
    res = target.nb.ok(code)
    assert res.lines == want, res.describe()


def test_login_with_the_machines_real_home(notebook):
    """The local kernel with the real HOME of the user running the tests (its real profile)."""
    nb = notebook(LOCAL, real_home=True)
    res = nb.ok('echo "home=$HOME"; pwd')
    assert f"home={os.path.expanduser('~')}" in res.lines, res.describe()


# ---------------------------------------------------------------------------------------------
# What carries


def test_cd_carries_and_cd_minus_goes_back(target):
    nb = target.nb
    start = nb.ok("pwd").text.strip()
    assert start == target.start_dir and start != "/tmp"
    nb.ok("cd /tmp")
    assert nb.ok("pwd").text.strip() == "/tmp"
    nb.ok("cd -")
    assert nb.ok("pwd").text.strip() == start
    assert nb.ok('pwd; echo "$OLDPWD"').lines == [start, "/tmp"]


def test_exported_variable_carries_and_stays_exported(nb):
    nb.ok("export EXPV='hello world'")
    res = nb.ok("echo \"[$EXPV]\"; bash -c 'echo \"child [$EXPV]\"'")
    assert res.lines == ["[hello world]", "child [hello world]"]


def test_unexported_variable_carries_and_stays_unexported(nb):
    nb.ok("UNEXP='just here'")
    res = nb.ok("echo \"[$UNEXP]\"; bash -c 'echo \"child [$UNEXP]\"'")
    assert res.lines == ["[just here]", "child []"]


def test_unset_variable_stays_unset(nb):
    nb.ok("GONE=1")
    nb.ok("unset GONE")
    assert nb.ok('echo "[${GONE-unset}]"').lines == ["[unset]"]


def test_indexed_array(nb):
    nb.ok('arr=(one "two words" three); arr[7]=seven')
    res = nb.ok('echo "${#arr[@]}|${arr[1]}|${arr[7]}|${!arr[*]}"')
    assert res.lines == ["4|two words|seven|0 1 2 7"]


def test_associative_array(nb):
    nb.ok('declare -A m=([k1]=v1 ["k 2"]="v 2")')
    res = nb.ok('echo "${m[k1]}|${m[k 2]}|${#m[@]}"; declare -p m | cut -c1-10')
    assert res.lines == ["v1|v 2|2", "declare -A"]


def test_integer_attribute(nb):
    nb.ok("declare -i n=5")
    assert nb.ok("n+=1; echo $n; n='2*3'; echo $n").lines == ["6", "6"]


def test_function(nb):
    nb.ok('greet() { echo "hello $1"; }; greet_host() { echo "hello $1 from $(hostname)"; }')
    host = nb.ok("hostname").text.strip()
    assert host
    assert nb.ok("greet bob; greet_host bob").lines == ["hello bob", f"hello bob from {host}"]


def test_alias(nb):
    nb.ok("alias sayit='echo aliased'")
    assert nb.ok("sayit x").lines == ["aliased x"]


def test_shell_options(nb):
    nb.ok("shopt -s extglob; set -o noclobber")
    res = nb.ok(
        "shopt -q extglob && echo extglob-on; [[ -o noclobber ]] && echo noclobber-on\n"
        "echo @(a|b)"
    )
    assert res.lines == ["extglob-on", "noclobber-on", "@(a|b)"]


def test_option_turned_off_stays_off(nb):
    nb.ok("set -o noclobber")
    nb.ok("set +o noclobber")
    assert nb.ok("[[ -o noclobber ]] || echo noclobber-off").lines == ["noclobber-off"]


def test_umask(nb):
    nb.ok("umask 027")
    assert nb.ok("umask").lines == ["0027"]


def test_value_with_newlines_quotes_colons_and_non_utf8(nb):
    nb.ok("x=$'a\\nb: \"c\" \\'d\\' \\xff'")
    res = nb.ok('printf %s "$x" | od -An -tx1')
    assert " ".join(res.text.split()) == b"a\nb: \"c\" 'd' \xff".hex(" ")


def test_large_value_carries(nb):
    """State is not passed as an exec argument (128 KiB per argument on Linux)."""
    nb.ok("big=$(head -c 300000 /dev/zero | tr '\\0' x)")
    assert nb.ok("echo ${#big}").lines == ["300000"]


# ---------------------------------------------------------------------------------------------
# Cells that end badly keep the context from before


def test_exit_keeps_the_state_from_before_and_says_so(nb):
    nb.ok("cd /tmp; kept=before")
    res = nb.run("kept=after; cd /; exit 3").failed()
    assert res.errors[0]["ename"] == "ExitStatus", res.describe()
    assert re.search(r"\b3\b", res.error_text), res.describe()
    assert re.search(r"state|context", res.error_text, re.I), "the error should say the state was kept"
    assert nb.ok('echo "$kept"; pwd').lines == ["before", "/tmp"]


def test_set_e_failure(nb):
    res = nb.run("set -e; false; echo no").failed()
    assert "no" not in res.lines
    assert nb.ok("echo yes").lines == ["yes"]


def test_cd_into_directory_later_deleted(nb):
    """The next cell runs in the nearest existing parent, and says so naming the directory."""
    d = f"/tmp/sshpty-gone-{uuid.uuid4().hex[:8]}"
    nb.run(f"mkdir {d}; cd {d}; rmdir {d}")
    res = nb.ok("echo alive; pwd")
    assert res.lines[:2] == ["alive", "/tmp"], res.describe()
    assert re.search(rf"directory {re.escape(d)} cannot be entered.*the cell ran in /tmp$",
                     res.text, re.M), res.describe()
    assert nb.ok("echo still").lines == ["still"]


def test_exec_true(nb):
    """`exec true` ends the cell's shell before its state is captured: the cell is what true
    says (ok), with a note that the context from before is kept."""
    nb.ok("before=1")
    res = nb.run("exec true", timeout=30).ok()
    assert res.output_types == ["stream"], res.describe()
    assert re.search(r"shell ended before the end of the cell.*context from before the cell is "
                     r"kept", res.text), res.describe()
    assert nb.ok('echo "next [$before]"').lines == ["next [1]"]


def test_kill_9_self_is_a_signal(nb):
    nb.ok("survivor=yes")
    res = nb.run("kill -9 $$", timeout=30).failed()
    assert res.errors[0]["ename"] == "Signal", res.describe()
    assert re.search(r"KILL|signal\D{0,3}9\b", res.error_text, re.I), res.describe()
    assert nb.ok('echo "$survivor"').lines == ["yes"]


# ---------------------------------------------------------------------------------------------
# What never carries


def test_dynamic_names_are_not_restored(nb):
    # A job left in the background ends each cell's shell (test_staying.py): every cell here
    # runs in a fresh shell, into which the context is restored.
    a = nb.ok("echo $BASHPID $SHLVL; true &").text.split()
    b = nb.ok("echo $BASHPID $SHLVL; true &").text.split()
    c = nb.ok("echo $BASHPID $SHLVL; true &").text.split()
    assert a[1] == b[1] == c[1], f"SHLVL grows: {a[1]} {b[1]} {c[1]}"
    assert len({a[0], b[0], c[0]}) == 3, "each cell runs in a fresh shell, so BASHPID differs"


def test_readonly_names_do_not_break_the_next_cell(nb):
    nb.ok("readonly RO_TEST=1")
    res = nb.ok("echo ok-$UID")
    assert re.fullmatch(r"ok-\d+", res.text.strip()), res.describe()
    assert "readonly" not in res.text


def test_kernel_variables_do_not_leak_into_set(nb):
    """The kernel's own names (nonce, markers) are not shown as the user's state."""
    a = set(nb.ok("compgen -v").lines)
    b = set(nb.ok("compgen -v").lines)
    assert a == b, f"names appear or vanish between cells: {sorted(a ^ b)}"


def test_background_jobs_are_not_carried(target):
    """Documented: background jobs end with their cell."""
    nb = target.nb
    nb.ok("sleep 1717 &")
    assert nb.ok("jobs | wc -l").lines == ["0"]
    assert not target.processes(sleeping(1717))


def test_ssh_variables_are_those_of_each_connection(ssh):
    """SSH_CONNECTION and SSH_TTY are never restored: each cell sees its own channel's."""
    h1 = ssh.login("h1-ops")
    a = h1.ok('echo "$SSH_CONNECTION"; echo "$SSH_TTY"; tty').lines
    assert a[0].split()[3] == str(ssh.h1.port), a
    assert a[1] == a[2] and a[2].startswith("/dev/pts/"), f"SSH_TTY is not this cell's tty: {a}"


def test_restored_value_never_in_process_list(nb):
    nb.ok("secret=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n'); echo \"$secret\"")
    secret = nb.ok('echo "$secret"').text.strip()
    assert re.fullmatch(r"[0-9a-f]{32}", secret), secret
    # Inside the target, while this cell's state was just restored: ps first into a file, then
    # count, so grep's own argv is not listed.
    res = nb.ok('ps -ww -eo args > /tmp/ps.$$; grep -c -F -- "$secret" /tmp/ps.$$; rm -f /tmp/ps.$$')
    assert res.lines[-1].strip() == "0", res.describe()
    # From outside (the SSH host is this machine, on loopback), while the next cells' state is
    # being restored and run.
    for _ in range(3):
        cell = nb.submit("sleep 0.3; echo done")
        while not cell._done():
            out = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True).stdout
            assert secret not in out, "a restored value is visible in ps"
            nb._pump_iopub(0.02)
        cell.result(timeout=30).ok()


# ---------------------------------------------------------------------------------------------
# Forged markers: the kernel's framing (tests/fixtures/markers.json, checked against
# crates/context/src/demux.rs by crates/context/tests/markers_fixture.rs) printed by a program
# is only output


MARKERS = json.loads((REPO / "tests" / "fixtures" / "markers.json").read_text())


def marker(name: str, nonce: str, **fields: object) -> bytes:
    """MARKERS[NAME] for NONCE, its other {FIELD}s filled in: the bytes the kernel reads."""
    text = MARKERS[name].replace("{nonce}", nonce)
    for k, v in fields.items():
        text = text.replace("{" + k + "}", str(v))
    assert "{" not in text, f"marker {name!r} has a field left: {text!r}"
    return text.encode()


def printed_capture() -> bytes:
    """The fixture's capture block as the runner prints it: the fixture holds what the kernel
    reads, after the terminal's output processing (onlcr) made the probe's "\\n" "\\r\\n"."""
    capture = marker("capture", "")
    assert capture.startswith(b"\r\n\t;") and capture.count(b"\n") == 1, capture
    return capture.replace(b"\r\n", b"\n")


def forged_capture(nonce: str) -> bytes:
    """A context capture claiming cwd / and victim=forged, printed with NONCE."""
    return marker("ctx", nonce) + printed_capture() + marker("end", nonce)


def forged_block(nonce: str) -> bytes:
    """A cell's framing as the runner prints it with NONCE: the ready marker, the start marker
    and its tail, and a context capture claiming cwd / and victim=forged; then the ctx marker
    again as an OSC instead of an APC."""
    ctx = marker("ctx", nonce)
    return (
        marker("ready", nonce)
        + marker("start", nonce) + marker("start_tail", nonce, pid=1, cd_failed=0)
        + forged_capture(nonce)
        + b"\x1b]" + ctx[len(b"\x1b_"):] + b"cwd=/;victim=forged\x07\n"
    )


# The running cell's nonce, from the variable the runner's capture prints it from.
CELLS_NONCE = "$__sshpty_nonce"


def printf_octal(data: bytes) -> str:
    """DATA as a printf format: every byte an octal escape."""
    return "".join(f"\\{b:03o}" for b in data)


@pytest.fixture
def shared_dir():
    """A directory of this machine the SSH host's user can read too."""
    d = Path(tempfile.mkdtemp(prefix="sshpty-ctx-", dir="/tmp"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_forged_marker_printed_by_a_cell_changes_nothing(nb):
    nb.ok("cd /tmp; victim=original")
    nb.run(f"printf '{printf_octal(forged_block('deadbeef'))}'")
    assert nb.ok('pwd; echo "$victim"').lines == ["/tmp", "original"]


def test_forged_marker_in_a_catted_file_changes_nothing(nb, shared_dir):
    nb.ok("cd /tmp; victim=original")
    f = shared_dir / "forged.bin"
    f.write_bytes(forged_block("deadbeef") + b"tail\n")
    f.chmod(0o644)
    nb.run(f"cat {f}")
    assert nb.ok('pwd; echo "$victim"').lines == ["/tmp", "original"]


def test_marker_with_a_previous_cells_nonce_changes_nothing(nb, shared_dir):
    """A file holding a capture block made with an earlier cell's real nonce is just output."""
    nb.ok("cd /tmp; victim=original")
    nonce = nb.ok(f'echo "{CELLS_NONCE}"').text.strip()
    assert re.fullmatch(r"[0-9a-f]{32}", nonce), f"no nonce in the runner's variable: {nonce!r}"
    f = shared_dir / "old-nonce.bin"
    f.write_bytes(forged_block(nonce))
    f.chmod(0o644)
    nb.run(f"cat {f}")
    assert nb.ok('pwd; echo "$victim"').lines == ["/tmp", "original"]
    assert nb.ok(f"cat {f} >/dev/null; echo read").lines == ["read"]


def test_forged_capture_with_the_running_cells_own_nonce_is_taken(nb):
    """The control of the forged-marker tests: the same capture, printed by a cell with its own
    nonce (read from its shell), is taken as the cell's context. So the tests above pass
    because of the nonce alone, not because the forged block is malformed."""
    nb.ok("cd /tmp; victim=original")
    octal = printf_octal(forged_capture("NONCE")).replace(printf_octal(b"NONCE"), "%s")
    res = nb.run(f'n="{CELLS_NONCE}"; printf \'{octal}\' "$n" "$n"')
    assert res.status == "ok" and res.text == "", res.describe()
    assert nb.ok('pwd; echo "$victim"').lines == ["/", "forged"]


# ---------------------------------------------------------------------------------------------
# Login shells that are not bash (SSH only: the test users of sshd_harness)


@pytest.mark.parametrize("user", ["fish", "tcsh"])
def test_cells_run_in_bash_whatever_the_login_shell(ssh, user):
    nb = ssh.login(f"h1-{user}")
    res = nb.ok('echo "[$BASH_VERSION]"; ps -o comm= -p $$')
    assert re.fullmatch(r"\[\d+\.\d+\S*\]", res.lines[0]), res.describe()
    assert res.lines[1] == "bash", res.describe()
    nb.ok("cd /tmp; v=carried; f() { echo func; }")
    assert nb.ok('pwd; echo "$v"; f').lines == ["/tmp", "carried", "func"]


def test_host_without_bash_runs_cells_in_sh_with_cwd_and_exports(ssh):
    nb = ssh.kernel()
    res = no_questions(nb, "%login h1-bb")
    assert res.status == "ok", res.describe()
    assert "logged in to h1-bb" in res.text, res.describe()
    # Said once, by the first cell after the login (whose environment is read meanwhile):
    # no bash there, and what is carried.
    cell = nb.ok("cd /tmp; export CARRIED=yes")
    assert re.search(r"has no bash.*sh.*working directory and exported variables", cell.text), \
        cell.describe()
    assert "sh (no bash" in nb.ok("%status").text
    cell = nb.ok("cd /tmp; export CARRIED=yes")
    assert "bash" not in cell.text, "the note is given once"
    assert nb.ok('pwd; echo "$CARRIED"').lines == ["/tmp", "yes"]
    # No bash ran it: busybox sh did.
    assert nb.ok("readlink /proc/$$/exe").lines == ["/bin/busybox"]


@pytest.fixture
def bb(ssh):
    nb = ssh.kernel()
    res = no_questions(nb, "%login h1-bb")
    assert res.status == "ok", res.describe()
    return nb


def test_sh_host_carries_awkward_values_and_unset(bb):
    bb.ok("export Q=\"it's \\$x \\\"q\\\" \\\\ end\"; export NL='a\nb'; PLAIN=local")
    res = bb.ok('printf "[%s]\\n" "$Q" "$NL" "$PLAIN"; sh -c \'echo "child [$Q]"\'')
    assert res.lines == ["[it's $x \"q\" \\ end]", "[a", "b]", "[]", "child [it's $x \"q\" \\ end]"], \
        res.describe()
    # A login variable unset by a cell stays unset.
    assert bb.ok('echo "[$HOME]"').lines == ["[/home/sshpty-bb]"]
    bb.ok("unset HOME")
    assert bb.ok('echo "[$HOME]"').lines == ["[]"]


def test_sh_host_exit_status_and_state_kept(bb):
    bb.ok("cd /tmp; export KEPT=before")
    res = bb.run("export KEPT=after; cd /; exit 3").failed()
    assert res.errors[0]["ename"] == "ExitStatus" and re.search(r"\b3\b", res.error_text)
    res = bb.run("false").failed()
    assert res.errors[0]["ename"] == "ExitStatus" and re.search(r"\b1\b", res.error_text)
    assert bb.ok('echo "$KEPT"; pwd').lines == ["before", "/tmp"]
    bb.ok("%strict on")
    res = bb.run("false; echo not-reached").failed()
    assert "not-reached" not in res.text, res.describe()
    bb.ok("%strict off")
    assert bb.ok("echo after").lines == ["after"]


def test_sh_host_deleted_directory_falls_back(bb):
    bb.ok("mkdir -p /tmp/sshpty-bb-gone/sub; cd /tmp/sshpty-bb-gone/sub; rm -r /tmp/sshpty-bb-gone")
    res = bb.run("pwd")
    assert res.status == "ok" and res.lines[0] == "/tmp", res.describe()
    assert re.search(r"directory /tmp/sshpty-bb-gone/sub .*the cell ran in /tmp", res.text), \
        res.describe()

