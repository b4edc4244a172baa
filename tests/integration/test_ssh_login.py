"""Logging in over SSH (issue 3, items 1 and 2): by key, by agent, by password and by an
encrypted key, questions through input_request, and the failures a user meets."""

from __future__ import annotations

import re
from queue import Empty

import pytest

from harness import Deadline
from ssh_kernel import (  # noqa: F401  (fixtures are used by name)
    all_iopub_text,
    answering,
    finish,
    no_questions,
    send_input,
    ssh,
    ssh_servers,
)

PASSWORD_PROMPT = r"(?i)password:"
PASSPHRASE_PROMPT = r"Enter passphrase for key"


def logged_in(res, alias: str, nb, user: str = "sshpty-ops"):
    """The login line, then what the login shell's environment (read in the background
    after the login answered) says in %status: bash's version and the home directory."""
    assert res.status == "ok", res.describe()
    assert re.search(rf"^logged in to {re.escape(alias)} as {user}@127\.0\.0\.1$", res.text,
                     re.M), res.describe()
    status = nb.ok("%status")
    assert re.search(r"^shell: bash [0-9]\S*$", status.text, re.M), status.describe()
    m = re.search(r"^cwd: (/\S*)$", status.text, re.M)
    assert m, status.describe()
    return m.group(1)


def test_login_by_key_file(ssh):
    nb = ssh.kernel(agent=False)  # only the IdentityFile can log in
    home = logged_in(no_questions(nb, "%login h1-ops"), "h1-ops", nb)
    assert home == "/home/sshpty-ops"
    assert nb.ok("whoami; pwd").lines == ["sshpty-ops", "/home/sshpty-ops"]


def test_login_by_agent(ssh):
    nb = ssh.kernel(agent=True)
    logged_in(no_questions(nb, "%login h1-ops-agent"), "h1-ops-agent", nb)
    assert nb.ok("whoami").lines == ["sshpty-ops"]


def test_agent_alias_without_agent_is_refused_at_once(ssh):
    """The agent alias has no key file: without SSH_AUTH_SOCK only a password could log in, and
    a client without stdin cannot give one. Shows the agent is what logged in above."""
    nb = ssh.kernel(agent=False)
    res = nb.run("%login h1-ops-agent", timeout=20).failed()
    assert res.errors[0]["ename"] == "LoginFailed", res.describe()
    assert "cannot answer questions" in res.error_text, res.describe()
    assert res.elapsed < 10, res.describe()


def test_login_by_password_asked_through_input_request(ssh):
    nb = ssh.kernel(agent=False)
    a = answering(nb, "%login h1-ops-pw", [(PASSWORD_PROMPT, ssh.lab.password)])
    logged_in(a.result, "h1-ops-pw", nb)
    assert len(a.asked) == 1, a.asked
    assert a.asked[0].password, f"the password box must hide the answer: {a.asked}"
    assert nb.ok("whoami").lines == ["sshpty-ops"]
    assert ssh.lab.password not in all_iopub_text(nb), "the password appeared on IOPub"
    hist = nb.history(hist_access_type="tail", n=50)
    assert ssh.lab.password not in repr(hist), "the password is in the history"


def test_wrong_password_is_asked_again(ssh):
    nb = ssh.kernel(agent=False)
    a = answering(nb, "%login h1-ops-pw",
                  [(PASSWORD_PROMPT, ["wrong-password", ssh.lab.password])], timeout=40)
    logged_in(a.result, "h1-ops-pw", nb)
    assert len(a.asked) == 2, a.asked


def test_every_password_wrong_is_permission_denied(ssh):
    nb = ssh.kernel(agent=False)
    a = answering(nb, "%login h1-ops-pw", [(PASSWORD_PROMPT, "wrong-password")], timeout=60,
                  max_questions=6)
    res = a.result.failed()
    assert res.errors[0]["ename"] == "LoginFailed", res.describe()
    assert re.search(r"(?i)permission denied", res.error_text), res.describe()
    assert 1 <= len(a.asked) <= 6, a.asked
    assert "wrong-password" not in all_iopub_text(nb)


def test_password_login_without_stdin_fails_at_once(ssh):
    nb = ssh.kernel(agent=False)
    res = nb.run("%login h1-ops-pw", timeout=20, allow_stdin=False).failed()
    assert res.errors[0]["ename"] == "LoginFailed", res.describe()
    assert "cannot answer questions" in res.error_text, res.describe()
    assert res.elapsed < 10, res.describe()


def test_login_by_encrypted_key_asks_the_passphrase(ssh):
    nb = ssh.kernel(agent=False)
    pp = ssh.lab.keys.passphrase
    a = answering(nb, "%login h1-ops-enc", [(PASSPHRASE_PROMPT, pp)])
    logged_in(a.result, "h1-ops-enc", nb)
    assert len(a.asked) == 1 and a.asked[0].password, a.asked
    assert str(ssh.cfg.encrypted_identity) in a.asked[0].prompt, a.asked
    assert nb.ok("whoami").lines == ["sshpty-ops"]
    assert pp not in all_iopub_text(nb), "the passphrase appeared on IOPub"


def test_wrong_passphrase_fails_naming_the_key(ssh):
    nb = ssh.kernel(agent=False)
    a = answering(nb, "%login h1-ops-enc", [(PASSPHRASE_PROMPT, "not-the-passphrase"),
                                            (PASSWORD_PROMPT, "wrong-password")])
    res = a.result.failed()
    assert res.errors[0]["ename"] == "LoginFailed", res.describe()
    assert "passphrase" in res.error_text and "sshpty_encrypted" in res.error_text, res.describe()


def test_encrypted_key_without_stdin_fails_at_once(ssh):
    nb = ssh.kernel(agent=False)
    res = nb.run("%login h1-ops-enc", timeout=20).failed()
    assert res.errors[0]["ename"] == "LoginFailed", res.describe()
    assert "cannot answer questions" in res.error_text, res.describe()
    assert res.elapsed < 10, res.describe()


def test_root_logs_in_by_key(ssh):
    nb = ssh.kernel(agent=False)
    logged_in(no_questions(nb, "%login h1-root"), "h1-root", nb, user="root")
    assert nb.ok("id -u").lines == ["0"]


def test_user_at_host_and_port_flags(ssh):
    """`%login -p PORT -i KEY user@host` as ssh takes them, no alias needed."""
    nb = ssh.kernel(agent=False)
    res = no_questions(
        nb, f"%login -p {ssh.h1.port} -i {ssh.cfg.identity} -o IdentitiesOnly=yes "
            f"-o UserKnownHostsFile={ssh.known_hosts} sshpty-ops@127.0.0.1")
    assert res.status == "ok", res.describe()
    assert re.search(r"^logged in to sshpty-ops@127\.0\.0\.1 as sshpty-ops@127\.0\.0\.1$",
                     res.text, re.M), res.describe()
    assert nb.ok("whoami").lines == ["sshpty-ops"]


def test_answer_without_parent_header_is_taken(ssh):
    """jupyter_client's own `input()` sends no parent header; ipykernel takes such a reply as
    the answer to the question it asked. The answer must not be lost."""
    nb = ssh.kernel(agent=False)
    cell = nb.submit("%login h1-ops-pw", allow_stdin=True)
    d = Deadline(15, "the password question")
    while True:
        try:
            msg = nb.kc.stdin_channel.get_msg(timeout=0.1)
        except Empty:
            d.check()
            continue
        if msg["msg_type"] == "input_request":
            break
    send_input(nb, ssh.lab.password, None)
    logged_in(finish(cell, 10), "h1-ops-pw", nb)


def test_interrupt_while_a_password_is_asked(ssh):
    """An interrupt abandons the question; an answer sent after that answers nothing."""
    nb = ssh.kernel(agent=False)
    cell = nb.submit("%login h1-ops-pw", allow_stdin=True)
    d = Deadline(15, "the password question")
    while True:
        try:
            req = nb.kc.stdin_channel.get_msg(timeout=0.1)
        except Empty:
            d.check()
            continue
        if req["msg_type"] == "input_request":
            break
    nb.interrupt()
    res = finish(cell, 10).failed()
    assert res.errors[0]["ename"] in ("Interrupted", "LoginFailed"), res.describe()
    send_input(nb, ssh.lab.password, req)  # late: must not log anybody in
    res = nb.run("echo hi", timeout=20).failed()
    assert res.errors[0]["ename"] == "NoTarget", res.describe()
