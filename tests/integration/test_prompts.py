"""Programs that wait for input (issue 5): the notebook asks through input_request, the
answer goes into the PTY; sudo's own prompt is recognised by its per-cell marker and its
password remembered; headless runs never hang. Local target (prompts, full-screen keys), both
targets (vi, targets.py) and the SSH test host h1 (a real sudo that asks for sshpty-ops's
password)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from harness import PLAIN, pgrep, wait_no_process
from ssh_kernel import all_iopub_text, answering, no_questions
from targets import (  # noqa: F401  (fixtures are used by name)
    nb,
    ssh,
    ssh_kernelspec,
    ssh_servers,
    target,
)

HEADLESS_BOUND = 10  # s: a headless prompt ends the cell within this


# ---------------------------------------------------------------------------------------------
# Local target: ordinary prompts, password prompts, full-screen programs


def test_read_prompt_is_a_text_box_and_shown_once(local):
    a = answering(local, "read -p 'name? ' n; echo \"hi $n\"", [(r"^name\?$", "bars")])
    assert [(q.prompt, q.password) for q in a.asked] == [("name?", False)]
    res = a.result.ok()
    # JupyterLab prints "name? bars" itself: the cell shows neither the prompt nor the echo.
    assert res.lines == ["hi bars"], res.describe()


def test_read_password_without_s_is_a_password_box_and_the_echo_is_hidden(local):
    a = answering(local, "read -p 'Password: ' p; echo \"len=${#p}\"", [("Password:", "s3cr3t!")])
    assert [(q.prompt, q.password) for q in a.asked] == [("Password:", True)]
    res = a.result.ok()
    assert res.lines == ["len=7"], res.describe()
    assert "s3cr3t!" not in all_iopub_text(local)


def test_python_input_and_yes_no(local):
    a = answering(local, "python3 -c \"print('got', input('q? '))\"", [(r"^q\?$", "42")])
    assert a.result.ok().lines == ["got 42"]
    a = answering(local, "read -p 'Continue? [y/N] ' a; echo \"answer=$a\"", [(r"\[y/N\]", "y")])
    assert a.prompts == ["Continue? [y/N]"]
    assert a.result.ok().lines == ["answer=y"]


def test_text_that_scrolled_past_is_no_prompt(local):
    res = no_questions(local, "echo 'Password:'; echo more; sleep 1.5; echo done")
    assert res.ok().lines == ["Password:", "more", "done"]


def test_progress_output_with_pauses_is_no_prompt(local):
    code = "for i in 10 50 90; do printf '\\rDownloading... %d%% (1.2 MB/s)' $i; sleep 0.8; done; echo"
    res = no_questions(local, code)
    assert res.ok().text.startswith("Downloading... 90%")


def test_headless_prompt_ends_the_cell_with_an_error(local):
    t0 = time.monotonic()
    res = local.run("read -p 'name? ' n; echo never", timeout=30)
    took = time.monotonic() - t0
    res.failed()
    assert res.errors[0]["ename"] == "WaitsForInput", res.describe()
    assert "name?" in res.errors[0]["evalue"] and "cannot answer" in res.errors[0]["evalue"]
    assert took < HEADLESS_BOUND, took
    assert "never" not in res.text
    assert local.ok("echo next").lines == ["next"]


def test_vi_edits_and_saves_a_file(nb):
    """vi on the target, driven by keys typed into its keys box."""
    a = answering(nb, 'f=$(mktemp); vi "$f"', [("keys", ["ihello from vi<Esc>", ":wq<CR>"])],
                  timeout=60)
    res = a.result.ok()
    assert len(a.asked) == 2 and not any(q.password for q in a.asked)
    screens = [m["content"]["data"]["text/plain"] for m in res.displays]
    assert any("hello from vi" in s for s in screens), screens[-3:]
    path = nb.ok('echo "$f"').text.strip()
    assert Path(path).read_text() == "hello from vi\n"  # the SSH host is this machine
    assert nb.ok('cat "$f"; rm -f "$f"').lines == ["hello from vi"]


def test_less_quits_with_q(local):
    a = answering(local, "seq 1 500 | less", [("keys", "q")], timeout=60)
    res = a.result.ok()
    assert a.prompts and all("keys" in p for p in a.prompts)
    screens = [m["content"]["data"]["text/plain"] for m in res.displays]
    assert screens and screens[0].startswith("1\n2\n3"), screens[:1]


def test_headless_full_screen_program_is_stopped(local):
    t0 = time.monotonic()
    res = local.run("vi /tmp/sshpty-headless-vi-$$", timeout=30)
    res.failed()
    assert res.errors[0]["ename"] == "WaitsForInput", res.describe()
    assert time.monotonic() - t0 < HEADLESS_BOUND
    assert not wait_no_process(r"^vi /tmp/sshpty-headless-vi-", timeout=5)


def test_interrupt_with_a_box_open_ends_the_cell_and_drops_the_late_answer(local):
    cell = local.submit("read -p 'first? ' a; echo \"a=$a\"", allow_stdin=True)
    req = local.kc.stdin_channel.get_msg(timeout=15)
    assert req["content"]["prompt"] == "first?"
    local.interrupt()
    res = cell.result(timeout=15)
    assert res.errors and res.errors[0]["ename"] == "Interrupted", res.describe()
    # The late answer to the dead box must not answer the next cell's prompt.
    from ssh_kernel import send_input
    send_input(local, "late", req)
    a = answering(local, "read -p 'second? ' b; echo \"b=$b\"", [("second", "fresh")])
    assert a.result.ok().lines == ["b=fresh"]


# ---------------------------------------------------------------------------------------------
# sudo on the SSH test host (sshpty-ops's sudo asks for the password every time)


@pytest.fixture
def h1(ssh):
    return ssh.login("h1-ops")


SUDO_PROMPT = r"^\[sudo\] password for sshpty-ops:$"


def test_sudo_password_box_reads_like_sudo_and_the_marker_never_shows(ssh, h1):
    a = answering(h1, "sudo whoami", [(SUDO_PROMPT, ssh.lab.password)])
    assert [(q.prompt, q.password) for q in a.asked] == [("[sudo] password for sshpty-ops:", True)]
    res = a.result.ok()
    assert res.lines == ["root"], res.describe()
    everything = all_iopub_text(h1)
    leaks = re.findall(r".{60}\[sshpty:.{60}", everything)
    assert not leaks, leaks
    assert ssh.lab.password not in everything


def test_sudo_wrong_then_right_and_the_cache_answers_the_next_cell(ssh, h1):
    a = answering(h1, "sudo -k; sudo whoami", [(r"password for sshpty-ops:$",
                                                ["wrong-one", ssh.lab.password])])
    assert a.result.ok().lines[-1] == "root"
    assert a.prompts[0] == "[sudo] password for sshpty-ops:"
    assert a.prompts[1].startswith("Sorry, try again."), a.prompts
    # Remembered: the next sudo cells ask nothing, even in a headless run.
    assert no_questions(h1, "sudo whoami").ok().lines == ["root"]
    assert h1.ok("sudo id -u").lines == ["0"]
    assert ssh.lab.password not in all_iopub_text(h1)


def test_sudo_three_wrong_fails_with_sudos_message(h1):
    a = answering(h1, "sudo -k; sudo whoami", [(SUDO_PROMPT + "|Sorry", ["a1", "a2", "a3"])])
    res = a.result.failed()
    assert len(a.asked) == 3, a.prompts
    assert re.search(r"incorrect password attempt", res.text), res.describe()
    # Nothing remembered: the next sudo asks again.
    a = answering(h1, "sudo -n true 2>/dev/null || echo needs-password", [])
    assert a.result.ok().lines == ["needs-password"]


def test_sudo_k_and_sudo_forget_forget_the_password(ssh, h1):
    answering(h1, "sudo true", [(SUDO_PROMPT, ssh.lab.password)]).result.ok()
    assert no_questions(h1, "sudo true").ok()
    a = answering(h1, "sudo -k; sudo true", [(SUDO_PROMPT, ssh.lab.password)])
    assert len(a.asked) == 1
    h1.ok("%sudo forget")
    a = answering(h1, "sudo true", [(SUDO_PROMPT, ssh.lab.password)])
    assert len(a.asked) == 1


def test_forged_sudo_prompt_never_gets_the_password(ssh, h1):
    answering(h1, "sudo true", [(SUDO_PROMPT, ssh.lab.password)]).result.ok()
    forged = ("printf '[sshpty:0123456789abcdef] password for sshpty-ops: '; "
              "read -s x; echo; echo \"got:$x\"")
    a = answering(h1, forged, [("password for sshpty-ops", "typed-by-user")])
    assert len(a.asked) == 1  # asked the user: the remembered password was not given
    assert a.result.ok().lines[-1] == "got:typed-by-user"


def test_sudo_cache_off(ssh, h1):
    h1.ok("%sudo cache off")
    answering(h1, "sudo true", [(SUDO_PROMPT, ssh.lab.password)]).result.ok()
    a = answering(h1, "sudo true", [(SUDO_PROMPT, ssh.lab.password)])
    assert len(a.asked) == 1


def test_headless_sudo_fails_fast_and_leaves_nothing(ssh, h1):
    t0 = time.monotonic()
    res = h1.run("sudo -k; sudo sleep 1937", timeout=30)
    res.failed()
    assert res.errors[0]["ename"] == "WaitsForInput", res.describe()
    assert "[sudo] password for sshpty-ops:" in res.errors[0]["evalue"]
    assert time.monotonic() - t0 < HEADLESS_BOUND
    assert not ssh.wait_remote_gone("h1-ops", r"sudo.*sleep 1937", timeout=5)
    assert "[sshpty:" not in all_iopub_text(h1)  # the unanswered prompt reads as sudo's own


# A prompt program that catches SIGINT with a handler that only notes it (as sudo's tgetpass
# does), and a moment between writing the prompt and reading: a Ctrl-C in that moment is
# noted and the read() after it waits for a line. That moment is microseconds in sudo, and
# this test's 1.5 s window makes it certain; a headless stop must still end it well within
# the bound (one Ctrl-C alone leaves it for the 10 s hang-up, 11 s in all).
CAUGHT_BEFORE_READ = r"""
import os, signal, time
seen, reading = [], False
class Interrupted(Exception): pass
def noted(signum, frame):
    seen.append(signum)
    if reading: raise Interrupted()
signal.signal(signal.SIGINT, noted)
tty = os.open("/dev/tty", os.O_RDWR)
os.write(tty, b"Passphrase for the vault: ")
time.sleep(1.5)
try:
    reading = True
    os.read(tty, 100)
except Interrupted:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)
print("read a line")
"""


def test_headless_prompt_that_caught_the_stop_before_reading_still_ends(local, tmp_path):
    prog = tmp_path / "caught_before_read.py"
    prog.write_text(CAUGHT_BEFORE_READ)
    t0 = time.monotonic()
    res = local.run(f"python3 {prog}", timeout=30)
    res.failed()
    assert res.errors[0]["ename"] == "WaitsForInput", res.describe()
    assert time.monotonic() - t0 < HEADLESS_BOUND - 3, res.describe()
    assert "cleaning up" not in res.text, res.describe()  # a prompt is not a cleanup
    assert not pgrep(re.escape(str(prog)))


def test_password_from_command_for_headless_runs(ssh, h1, tmp_path):
    secret = tmp_path / "vault"
    secret.write_text(ssh.lab.password + "\n")
    h1.ok(f"%sudo password-from-command 'cat {secret}'")
    assert h1.ok("sudo -k; sudo whoami").lines == ["root"]
    assert ssh.lab.password not in all_iopub_text(h1)


def test_password_from_env_for_headless_runs(ssh):
    nb = ssh._make(PLAIN, env={**ssh.env(), "SSHPTY_TEST_SUDO_PW": ssh.lab.password},
                   real_home=True)
    ssh.login("h1-ops", nb)
    nb.ok("%sudo password-from-env SSHPTY_TEST_SUDO_PW")
    assert nb.ok("sudo -k; sudo whoami").lines == ["root"]
    assert ssh.lab.password not in all_iopub_text(nb)


def test_no_secret_in_history(ssh, h1):
    answering(h1, "sudo true", [(SUDO_PROMPT, ssh.lab.password)]).result.ok()
    hist = h1.history(hist_access_type="tail", n=50, output=True)
    assert ssh.lab.password not in str(hist)
    assert not pgrep(re.escape(ssh.lab.password))


def test_become_runs_as_root_with_the_context_carried(ssh, h1):
    h1.ok("cd /tmp; carried=yes")
    a = answering(h1, "%become", [(SUDO_PROMPT, ssh.lab.password)])
    a.result.ok()
    a = answering(h1, 'id -u; pwd; echo "$carried"', [(SUDO_PROMPT, ssh.lab.password)])
    assert a.result.ok().lines == ["0", "/tmp", "yes"], a.result.describe()
    # The password is remembered: no more questions; the context carries as root.
    assert no_questions(h1, "cd /root; secret_dir=$(pwd)").ok()
    assert no_questions(h1, 'pwd; echo "$secret_dir"; whoami').ok().lines == ["/root", "/root", "root"]
    h1.ok("%unbecome")
    res = h1.run("whoami")
    assert res.lines[0] == "sshpty-ops", res.describe()
    assert ssh.lab.password not in all_iopub_text(h1)


def test_become_headless_without_a_password_fails_fast(h1):
    h1.ok("%sudo forget")
    h1.ok("%become")
    t0 = time.monotonic()
    res = h1.run("id -u", timeout=30)
    res.failed()
    assert res.errors[0]["ename"] == "WaitsForInput", res.describe()
    assert time.monotonic() - t0 < HEADLESS_BOUND


def test_whiptail_menu_pick_by_keys(local):
    code = ("choice=$(whiptail --menu 'Pick a fruit' 15 40 3 a Apple b Banana c Cherry "
            "3>&1 1>&2 2>&3); echo \"picked=$choice\"")
    a = answering(local, code, [("keys", "<Down><CR>")], timeout=60)
    res = a.result.ok()
    assert res.lines[-1] == "picked=b", res.describe()
    # A slow machine may also show a live view's placeholder (a display with no data yet).
    screens = [m["content"]["data"].get("text/plain", "") for m in res.displays]
    assert any("Pick a fruit" in s and "Banana" in s for s in screens), screens[:1]


def test_su_password_prompt_on_the_host(ssh, h1):
    a = answering(h1, "su sshpty-ops -c 'echo su-ok'", [("^Password:$", ssh.lab.password)])
    assert [(q.prompt, q.password) for q in a.asked] == [("Password:", True)]
    assert a.result.ok().lines == ["su-ok"]

