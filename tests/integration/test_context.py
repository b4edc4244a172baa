"""The client-side shell context: what carries from one cell to the next, what never does, and
the outcomes of item 7 of issue 2, one row per test."""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid

from harness import LOCAL, pgrep


def test_login_environment_from_profile_and_bashrc(local):
    """The login capture brings what ~/.profile and ~/.bashrc set: exported and plain
    variables, functions, and aliases usable in cells (expand_aliases on)."""
    res = local.ok('echo "$FROM_PROFILE|$BASHRC_PLAIN"; bashrc_function x; from_bashrc')
    assert res.lines == ["profile-was-read|plain-from-bashrc", "bashrc function x", "from-bashrc"]


def test_login_with_the_machines_real_home(notebook):
    """The same kernel with the real HOME of the user running the tests (its real profile)."""
    nb = notebook(LOCAL, real_home=True)
    res = nb.ok('echo "home=$HOME"; pwd')
    assert f"home={os.path.expanduser('~')}" in res.lines, res.describe()


def test_cd_carries_and_cd_minus_goes_back(local):
    start = local.ok("pwd").text.strip()
    assert start != "/tmp"
    local.ok("cd /tmp")
    assert local.ok("pwd").text.strip() == "/tmp"
    local.ok("cd -")
    assert local.ok("pwd").text.strip() == start
    assert local.ok('echo "$OLDPWD"').text.strip() == "/tmp"


def test_exported_variable_carries_and_stays_exported(local):
    local.ok("export EXPV='hello world'")
    res = local.ok("echo \"[$EXPV]\"; bash -c 'echo \"child [$EXPV]\"'")
    assert res.lines == ["[hello world]", "child [hello world]"]


def test_unexported_variable_carries_and_stays_unexported(local):
    local.ok("UNEXP='just here'")
    res = local.ok("echo \"[$UNEXP]\"; bash -c 'echo \"child [$UNEXP]\"'")
    assert res.lines == ["[just here]", "child []"]


def test_unset_variable_stays_unset(local):
    local.ok("GONE=1")
    local.ok("unset GONE")
    assert local.ok('echo "[${GONE-unset}]"').text.strip() == "[unset]"


def test_indexed_array(local):
    local.ok('arr=(one "two words" three); arr[7]=seven')
    res = local.ok('echo "${#arr[@]}|${arr[1]}|${arr[7]}|${!arr[*]}"')
    assert res.text.strip() == "4|two words|seven|0 1 2 7"


def test_associative_array(local):
    local.ok('declare -A m=([k1]=v1 ["k 2"]="v 2")')
    res = local.ok('echo "${m[k1]}|${m[k 2]}|${#m[@]}"; declare -p m | cut -c1-10')
    assert res.lines == ["v1|v 2|2", "declare -A"]


def test_integer_attribute(local):
    local.ok("declare -i n=5")
    assert local.ok("n+=1; echo $n; n='2*3'; echo $n").lines == ["6", "6"]


def test_function(local):
    local.ok('greet() { echo "hello $1"; }')
    assert local.ok("greet bob").text.strip() == "hello bob"


def test_alias(local):
    local.ok("alias sayit='echo aliased'")
    assert local.ok("sayit x").text.strip() == "aliased x"


def test_shell_options(local):
    local.ok("shopt -s extglob; set -o noclobber")
    res = local.ok(
        "shopt -q extglob && echo extglob-on; [[ -o noclobber ]] && echo noclobber-on\n"
        "echo @(a|b)"
    )
    assert res.lines == ["extglob-on", "noclobber-on", "@(a|b)"]


def test_option_turned_off_stays_off(local):
    local.ok("set -o noclobber")
    local.ok("set +o noclobber")
    assert "noclobber-off" in local.ok("[[ -o noclobber ]] || echo noclobber-off").text


def test_umask(local):
    local.ok("umask 027")
    assert local.ok("umask").text.strip() == "0027"


def test_value_with_newlines_quotes_colons_and_non_utf8(local):
    local.ok("x=$'a\\nb: \"c\" \\'d\\' \\xff'")
    res = local.ok('printf %s "$x" | od -An -tx1')
    want = b"a\nb: \"c\" 'd' \xff".hex(" ")
    assert " ".join(res.text.split()) == want


def test_large_value_carries(local):
    """State is not passed as an exec argument (128 KiB per argument on Linux)."""
    local.ok("big=$(head -c 300000 /dev/zero | tr '\\0' x)")
    assert local.ok("echo ${#big}").text.strip() == "300000"


def test_exit_keeps_the_state_from_before_and_says_so(local):
    start = local.ok("kept=before; pwd").text.strip()
    res = local.run("kept=after; cd /; exit 3").failed()
    assert re.search(r"\b3\b", res.error_text), res.describe()
    assert re.search(r"state|context", res.error_text, re.I), "the error should say the state was kept"
    assert local.ok('echo "$kept"; pwd').lines == ["before", start]


def test_set_e_failure(local):
    res = local.run("set -e; false; echo no").failed()
    assert "no" not in res.lines
    assert "yes" in local.ok("echo yes").text


def test_cd_into_directory_later_deleted(local):
    d = f"/tmp/sshpty-gone-{uuid.uuid4().hex[:8]}"
    local.run(f"mkdir {d}; cd {d}; rmdir {d}")
    res = local.run("echo alive; pwd")
    assert "alive" in res.text, res.describe()
    if res.status != "ok":
        assert d in res.error_text, "a failing cell should name the vanished directory"
    assert "still" in local.ok("echo still").text


def test_exec_true(local):
    local.ok("before=1")
    local.run("exec true", timeout=30)  # ends the cell's shell: either status is fair
    assert local.ok('echo "next [$before]"').text.strip() == "next [1]"


def test_kill_9_self(local):
    local.ok("survivor=yes")
    res = local.run("kill -9 $$", timeout=30).failed()
    assert re.search(r"KILL|signal\D{0,3}9\b", res.error_text, re.I), res.describe()
    assert local.ok('echo "$survivor"').text.strip() == "yes"


def test_dynamic_names_are_not_restored(local):
    a = local.ok("echo $BASHPID $SHLVL").text.split()
    b = local.ok("echo $BASHPID $SHLVL").text.split()
    c = local.ok("echo $BASHPID $SHLVL").text.split()
    assert a[1] == b[1] == c[1], f"SHLVL grows: {a[1]} {b[1]} {c[1]}"
    assert len({a[0], b[0], c[0]}) == 3, "every cell runs in a fresh shell, so BASHPID differs"


def test_readonly_names_do_not_break_the_next_cell(local):
    local.ok("readonly RO_TEST=1")
    res = local.ok("echo ok-$UID")
    assert res.text.strip().startswith("ok-"), res.describe()
    assert "readonly" not in res.text


def test_kernel_variables_do_not_leak_into_set(local):
    """The kernel's own names (nonce, markers) are not shown as the user's state."""
    a = set(local.ok("compgen -v").lines)
    b = set(local.ok("compgen -v").lines)
    assert a == b, f"names appear or vanish between cells: {sorted(a ^ b)}"


def test_restored_value_never_in_process_list(local):
    local.ok("secret=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n'); echo \"$secret\"")
    secret = local.ok('echo "$secret"').text.strip()
    assert re.fullmatch(r"[0-9a-f]{32}", secret), secret
    # Inside the target: ps first into a file, then count, so grep's own argv is not listed.
    res = local.ok('ps -ww -eo args > /tmp/ps.$$; grep -c -F -- "$secret" /tmp/ps.$$; rm -f /tmp/ps.$$')
    assert res.lines[-1].strip() == "0", res.describe()
    # From outside, while the next cells' state is being restored and run.
    for _ in range(3):
        cell = local.submit("sleep 0.3; echo done")
        while not cell._done():
            out = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True).stdout
            assert secret not in out, "a restored value is visible in ps"
            local._pump_iopub(0.02)
        cell.result(timeout=30).ok()


def forged_block(nonce: str) -> bytes:
    """A context capture as the kernel's runner prints it (src/context/demux.rs, capture.rs),
    claiming cwd / and victim=forged, plus a start marker and an OSC variant."""
    return (
        f"\x1b_sshpty;{nonce};start;1;0\x1b\\".encode()
        + f"\x1b_sshpty;{nonce};ctx;\r\n\t;S\x1f0\0O\x1f\0D\x1f/\0M\x1f0022\0".encode()
        + b'V\x1fdeclare -- victim="forged"\0'
        + f"\0E\x1f{nonce}\0\x1b\\".encode()
        + f"\x1b]sshpty;{nonce};ctx;cwd=/;victim=forged\x07\n".encode()
    )


def test_forged_marker_printed_by_a_cell_changes_nothing(local):
    local.ok("cd /tmp; victim=original")
    octal = "".join(f"\\{b:03o}" for b in forged_block("deadbeef"))
    local.run(f"printf '{octal}'")
    assert local.ok('pwd; echo "$victim"').lines == ["/tmp", "original"]


def test_forged_marker_in_a_catted_file_changes_nothing(local, tmp_path):
    local.ok("cd /tmp; victim=original")
    f = tmp_path / "forged.bin"
    f.write_bytes(forged_block("deadbeef") + b"tail\n")
    local.run(f"cat {f}")
    assert local.ok('pwd; echo "$victim"').lines == ["/tmp", "original"]


def test_marker_with_a_previous_cells_nonce_changes_nothing(local, tmp_path):
    """A file holding a capture block made with an earlier cell's real nonce is just output."""
    local.ok("cd /tmp; victim=original")
    found = local.ok("declare -f | grep -o 'sshpty;[A-Za-z0-9_-]*;ctx' | head -n 1").text.strip()
    nonce = found.split(";")[1] if found.count(";") == 2 else "0" * 32
    f = tmp_path / "old-nonce.bin"
    f.write_bytes(forged_block(nonce))
    local.run(f"cat {f}")
    assert local.ok('pwd; echo "$victim"').lines == ["/tmp", "original"]
    assert local.ok(f"cat {f} >/dev/null; echo read").lines == ["read"]


def test_background_jobs_are_not_carried(local):
    """Documented: background jobs end with their cell."""
    local.ok("sleep 1017 &")
    assert local.ok("jobs | wc -l").text.strip() == "0"
    assert not pgrep(r"sleep 1017([^0-9]|$)")
