"""Stock ssh_config stays quiet (issue 16, part 5): SendEnv reaches a server that accepts it,
BatchMode never asks, and a kernelspec's `--login` with this machine's stock Debian
/etc/ssh/ssh_config shows the first cell's output alone, any remaining warning after it."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from ssh_kernel import (  # noqa: F401  (fixtures are used by name)
    answering,
    no_questions,
    ssh,
    ssh_kernelspec,
    ssh_servers,
)

_names = itertools.count()

# Debian 12's stock /etc/ssh/ssh_config (openssh-client 1:9.2p1): what sshpty reads as the
# system file in every test here. Its active lines must change nothing visible.
DEBIAN_STOCK_LINES = ["Include /etc/ssh/ssh_config.d/*.conf", "Host *",
                      "    SendEnv LANG LC_*", "    HashKnownHosts yes",
                      "    GSSAPIAuthentication yes"]


def stock_system_config() -> None:
    """Fails loudly when this machine's /etc/ssh/ssh_config is not Debian's stock one."""
    text = Path("/etc/ssh/ssh_config").read_text()
    active = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert active == DEBIAN_STOCK_LINES, f"/etc/ssh/ssh_config is not Debian's stock: {active}"
    d = Path("/etc/ssh/ssh_config.d")
    assert not d.exists() or not any(d.iterdir()), f"{d} is not empty"


def remote(nb, name: str) -> str:
    """The value of $NAME in a cell on the host, `<unset>` when it is not set."""
    return nb.ok(f'echo "${{{name}-<unset>}}"').text.strip()


def test_send_env_sets_the_kernels_variables_where_accept_env_allows(ssh):
    """SendEnv LANG LC_* (the stock system file) and the test sshd's AcceptEnv LANG LC_*: the
    kernel's own values are set remotely; a variable SendEnv does not name is not."""
    stock_system_config()
    ssh.add_host("h1-env", ssh.h1, SendEnv="SSHPTY_EXTRA")
    env = {"LANG": "C", "LC_SSHPTY_TEST": "from-the-kernel", "SSHPTY_EXTRA": "x",
           "SSHPTY_NOT_SENT": "secret"}
    nb = ssh.kernel(agent=False, env=env)
    assert no_questions(nb, "%login h1-env").status == "ok"
    # sshd's default LANG here comes from /etc/default/locale (C.UTF-8): C is the kernel's.
    assert remote(nb, "LANG") == "C"
    assert remote(nb, "LC_SSHPTY_TEST") == "from-the-kernel"
    # Sent, but the server's AcceptEnv (LANG LC_*) refuses it, silently.
    assert remote(nb, "SSHPTY_EXTRA") == "<unset>"
    assert remote(nb, "SSHPTY_NOT_SENT") == "<unset>"


def test_without_accept_env_nothing_is_set_and_nothing_is_said(ssh):
    sshd = ssh.lab.start_sshd(name=f"noenv{next(_names)}", AcceptEnv=None)
    ssh.add_host("noenv", sshd)
    nb = ssh.kernel(agent=False, env={"LANG": "C", "LC_SSHPTY_TEST": "from-the-kernel"})
    res = no_questions(nb, "%login noenv")
    assert res.status == "ok", res.describe()
    assert not [m for m in res.streams if m["content"]["name"] == "stderr"], res.describe()
    assert remote(nb, "LC_SSHPTY_TEST") == "<unset>"
    assert remote(nb, "LANG") != "C"


def test_set_env_sets_a_value_on_the_server(ssh):
    ssh.add_host("h1-setenv", ssh.h1, SetEnv='LC_SSHPTY_SET="two words"')
    nb = ssh.kernel(agent=False)
    assert no_questions(nb, "%login h1-setenv").status == "ok"
    assert remote(nb, "LC_SSHPTY_SET") == "two words"


def test_the_sudo_password_variable_is_never_sent(ssh):
    """`%sudo password-from-env NAME`: even a SendEnv naming it sends it no more."""
    ssh.add_host("h1-pw-env", ssh.h1, SendEnv="LC_SSHPTY_PW")
    nb = ssh.kernel(agent=False, env={"LC_SSHPTY_PW": "hunter2"})
    assert no_questions(nb, "%login h1-pw-env").status == "ok"
    assert remote(nb, "LC_SSHPTY_PW") == "hunter2"  # sent until %sudo names it
    nb.ok("%sudo password-from-env LC_SSHPTY_PW")
    nb.ok("%logout")
    assert no_questions(nb, "%login h1-pw-env").status == "ok"
    assert remote(nb, "LC_SSHPTY_PW") == "<unset>"


def test_batch_mode_unknown_host_key_fails_without_asking(ssh, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    ssh.add_host("h1-batch", ssh.h1, BatchMode="yes", UserKnownHostsFile=empty,
                 GlobalKnownHostsFile="/dev/null")
    nb = ssh.kernel(agent=False)
    a = answering(nb, "%login h1-batch", (), timeout=20)
    assert a.asked == [], a.asked
    res = a.result.failed()
    assert res.errors[0]["ename"] == "LoginFailed", res.describe()
    assert "Host key verification failed" in res.error_text, res.describe()
    assert "BatchMode" in res.error_text, res.describe()
    assert empty.read_text() == "", "the key was recorded"


def test_batch_mode_asks_no_password(ssh):
    ssh.add_host("h1-batch-pw", ssh.h1, auth="password", BatchMode="yes")
    nb = ssh.kernel(agent=False)
    a = answering(nb, "%login h1-batch-pw", (), timeout=20)
    assert a.asked == [], a.asked
    res = a.result.failed()
    assert res.errors[0]["ename"] == "LoginFailed", res.describe()
    assert re.search(r"permission denied.*BatchMode is yes", res.error_text), res.describe()


def test_a_kerberos_site_is_told_gssapi_is_not_offered(ssh):
    sshd = ssh.lab.start_sshd(name=f"krb{next(_names)}", GSSAPIAuthentication="yes",
                              PasswordAuthentication="no", KbdInteractiveAuthentication="no")
    ssh.add_host("krb", sshd, IdentityFile="/nonexistent/key", IdentitiesOnly="yes")
    nb = ssh.kernel(agent=False)
    res = no_questions(nb, "%login krb", timeout=20).failed()
    assert "GSSAPI (Kerberos), which sshpty does not" in res.error_text, res.describe()


def test_kernelspec_login_first_cell_shows_only_its_output(ssh, ssh_kernelspec):
    """`--login h1-ops` with the stock system file: the first cell's output is its own."""
    stock_system_config()
    nb = ssh.kernel(kernel_name=ssh_kernelspec)
    res = nb.run("echo hello", timeout=60).ok()
    assert [m["content"]["text"] for m in res.streams] in (["hello\r\n"], ["hello\n"]), \
        res.describe()


def test_kernelspec_login_warning_comes_after_the_cells_output_once(ssh, ssh_kernelspec):
    """A directive that would change something and is not honoured is still said: once per
    kernel, after the first cell's own output."""
    stock_system_config()
    ssh.add_host("h1-ops", ssh.h1, LocalCommand="true")
    nb = ssh.kernel(kernel_name=ssh_kernelspec)
    res = nb.run("echo hello", timeout=60).ok()
    texts = [(m["content"]["name"], m["content"]["text"]) for m in res.streams]
    assert texts[0][1].startswith("hello"), res.describe()
    notes = [t for name, t in texts[1:] if name == "stderr"]
    assert any("LocalCommand true is not supported" in t for t in notes), res.describe()
    assert "LocalCommand" not in "".join(t for _, t in texts[:1])
    # Once per kernel: a second login to the host says nothing of it.
    nb.ok("%logout")
    again = no_questions(nb, "%login h1-ops")
    assert "LocalCommand" not in again.text, again.describe()
