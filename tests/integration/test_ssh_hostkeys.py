"""The host-key policy (issue 3, item 3), one test per row, and known_hosts only appended to.

Each test writes HOME/.ssh/known_hosts itself, then logs in with allow_stdin true (so a
question that should not be asked is caught) or false (so one that must be refused is).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from ssh_kernel import (  # noqa: F401  (fixtures are used by name)
    BATCH,
    answering,
    no_questions,
    ssh,
    ssh_servers,
)

YES_NO = r"\(yes/no\)"


def set_known_hosts(ssh, text: str) -> bytes:
    ssh.known_hosts.write_text(text)
    return text.encode()


def refused(res, ename="LoginFailed"):
    res.failed()
    assert res.errors[0]["ename"] == ename, res.describe()
    return res.error_text


def appended_lines(ssh, before: bytes) -> list[str]:
    """known_hosts must start with exactly what it held before; return the lines added."""
    now = ssh.known_hosts.read_bytes()
    assert now.startswith(before), f"known_hosts was rewritten, not appended to:\n{now!r}"
    return now[len(before):].decode().splitlines()


def keygen_finds(ssh, sshd) -> bool:
    """ssh-keygen -F: OpenSSH itself finds a key for SSHD in known_hosts (hashed or not)."""
    r = subprocess.run(["ssh-keygen", "-F", f"[127.0.0.1]:{sshd.port}", "-f", str(ssh.known_hosts)],
                       capture_output=True, text=True, timeout=10)
    return r.returncode == 0 and sshd.public_key().split()[1] in r.stdout


def openssh_accepts(ssh, alias: str) -> None:
    """The OpenSSH client, StrictHostKeyChecking yes, logs in with this known_hosts."""
    r = ssh.ssh(alias, "true")
    assert r.returncode == 0, f"OpenSSH refuses the known_hosts the kernel wrote: {r.stderr}"


def other_line(ssh) -> str:
    """A valid entry for another host (h2), to have something before the test's own lines."""
    return ssh.h2.known_hosts_line()


# ---------------------------------------------------------------------------------------------
# Known, changed, revoked


def test_known_key_connects_without_asking(ssh):
    set_known_hosts(ssh, f"{other_line(ssh)}\n{ssh.h1.known_hosts_line()}\n")
    ssh.login("h1-ops")


def test_changed_key_is_refused_naming_file_and_line(ssh):
    wrong = f"[127.0.0.1]:{ssh.h1.port} {ssh.h2.public_key()}"  # h2's key under h1's name
    before = set_known_hosts(ssh, f"# a comment\n{other_line(ssh)}\n{wrong}\n")
    nb = ssh.kernel()
    text = refused(no_questions(nb, "%login h1-ops"))
    assert "CHANGED" in text, text
    assert str(ssh.known_hosts) in text, text
    assert re.search(r"\bline 3\b", text), text
    assert ssh.known_hosts.read_bytes() == before


def test_changed_key_is_refused_with_accept_new_too(ssh):
    """accept-new accepts new hosts, never changed keys (as ssh)."""
    ssh.add_host("h1-acceptnew", ssh.h1, StrictHostKeyChecking="accept-new")
    wrong = f"[127.0.0.1]:{ssh.h1.port} {ssh.h2.public_key()}"
    before = set_known_hosts(ssh, f"{wrong}\n")
    text = refused(no_questions(ssh.kernel(), "%login h1-acceptnew"))
    assert "CHANGED" in text and re.search(r"\bline 1\b", text), text
    assert ssh.known_hosts.read_bytes() == before


def test_revoked_key_is_refused(ssh):
    before = set_known_hosts(
        ssh, f"{ssh.h1.known_hosts_line()}\n@revoked * {ssh.h1.public_key()}\n")
    text = refused(no_questions(ssh.kernel(), "%login h1-ops"))
    assert re.search(r"(?i)revoked", text), text
    assert str(ssh.known_hosts) in text and re.search(r"\bline 2\b", text), text
    assert ssh.known_hosts.read_bytes() == before


def test_hashed_entry_is_read(ssh):
    set_known_hosts(ssh, f"{ssh.h1.known_hosts_line()}\n")
    subprocess.run(["ssh-keygen", "-H", "-f", str(ssh.known_hosts)], check=True,
                   capture_output=True, timeout=10)
    assert ssh.known_hosts.read_text().startswith("|1|"), "ssh-keygen -H did not hash"
    ssh.login("h1-ops")


def test_global_known_hosts_file_is_read(ssh, tmp_path):
    glob = tmp_path / "ssh_known_hosts"
    glob.write_text(f"{ssh.h1.known_hosts_line()}\n")
    ssh.add_host("h1-global", ssh.h1, GlobalKnownHostsFile=glob)
    set_known_hosts(ssh, "")
    ssh.login("h1-global")
    assert ssh.known_hosts.read_text() == "", "a key known globally was added to the user file"


# ---------------------------------------------------------------------------------------------
# Unknown keys: ask, accept-new, yes, no


def test_unknown_key_asked_and_accepted_is_appended(ssh):
    ssh.add_host("h1-plainhash", ssh.h1, HashKnownHosts="no")
    before = set_known_hosts(ssh, f"# keep me\n{other_line(ssh)}\n")
    nb = ssh.kernel()
    a = answering(nb, "%login h1-plainhash", [(YES_NO, "yes")])
    assert a.result.status == "ok", a.result.describe()
    assert len(a.asked) == 1, a.asked
    q = a.asked[0]
    assert f"accept {ssh.h1.host_key_fingerprint()}" in q.prompt and re.search(YES_NO, q.prompt), q
    assert f"[127.0.0.1]:{ssh.h1.port}" in q.prompt, f"the question should name the host: {q}"
    assert not q.password, "a yes/no question is not a secret"
    added = appended_lines(ssh, before)
    assert [" ".join(ln.split()[:3]) for ln in added] == [ssh.h1.known_hosts_line()], added
    assert keygen_finds(ssh, ssh.h1)
    openssh_accepts(ssh, "h1-ops")
    # Known from now on: a second kernel does not ask.
    ssh.login("h1-plainhash")


def test_appended_entry_is_hashed_when_hashknownhosts_says_so(ssh):
    ssh.add_host("h1-hashed", ssh.h1, HashKnownHosts="yes", StrictHostKeyChecking="accept-new")
    before = set_known_hosts(ssh, f"{other_line(ssh)}\n")
    ssh.login("h1-hashed")
    added = appended_lines(ssh, before)
    assert len(added) == 1 and added[0].startswith("|1|"), added
    assert f"127.0.0.1]:{ssh.h1.port}" not in added[0], "a hashed entry names the host"
    assert keygen_finds(ssh, ssh.h1), "OpenSSH does not find the hashed entry the kernel wrote"


def test_append_after_a_last_line_without_newline(ssh):
    """A hand-edited known_hosts often lacks its final newline: the old last entry must stay
    valid and the new one be a line of its own."""
    ssh.add_host("h1-acceptnew", ssh.h1, StrictHostKeyChecking="accept-new", HashKnownHosts="no")
    before = set_known_hosts(ssh, other_line(ssh))  # no newline at the end
    ssh.login("h1-acceptnew")
    now = ssh.known_hosts.read_text()
    assert now.encode().startswith(before)
    assert now.splitlines()[0] == other_line(ssh), f"the last entry was damaged:\n{now}"
    assert keygen_finds(ssh, ssh.h1)
    openssh_accepts(ssh, "h2-ops")
    openssh_accepts(ssh, "h1-ops")


def test_unknown_key_answered_no_is_refused(ssh):
    before = set_known_hosts(ssh, f"{other_line(ssh)}\n")
    a = answering(ssh.kernel(), "%login h1-ops", [(YES_NO, "no")])
    text = refused(a.result)
    assert len(a.asked) == 1
    assert re.search(r"not accepted", text), text
    assert ssh.known_hosts.read_bytes() == before


def test_unknown_key_without_stdin_is_refused(ssh):
    before = set_known_hosts(ssh, f"{other_line(ssh)}\n")
    res = ssh.kernel().run("%login h1-ops", timeout=20, allow_stdin=False)
    text = refused(res)
    assert "cannot answer questions" in text and ssh.h1.host_key_fingerprint() in text, text
    assert res.elapsed < 10
    assert ssh.known_hosts.read_bytes() == before


def test_accept_new_appends_without_asking(ssh):
    ssh.add_host("h1-acceptnew", ssh.h1, StrictHostKeyChecking="accept-new")
    before = set_known_hosts(ssh, f"{other_line(ssh)}\n")
    nb = ssh.kernel()
    res = no_questions(nb, "%login h1-acceptnew")
    assert res.status == "ok", res.describe()
    assert re.search(r"added the host key", res.text), res.describe()
    assert len(appended_lines(ssh, before)) == 1
    assert keygen_finds(ssh, ssh.h1)
    openssh_accepts(ssh, "h1-ops")


def test_accept_new_given_with_dash_o(ssh):
    before = set_known_hosts(ssh, "")
    res = no_questions(ssh.kernel(), "%login -o StrictHostKeyChecking=accept-new h1-ops")
    assert res.status == "ok", res.describe()
    assert len(appended_lines(ssh, before)) == 1


def test_strict_yes_refuses_an_unknown_key(ssh):
    ssh.add_host("h1-strict", ssh.h1, StrictHostKeyChecking="yes")
    before = set_known_hosts(ssh, f"{other_line(ssh)}\n")
    text = refused(no_questions(ssh.kernel(), "%login h1-strict"))
    assert "StrictHostKeyChecking" in text and "not known" in text, text
    assert ssh.known_hosts.read_bytes() == before


def test_strict_no_accepts_with_a_visible_warning(ssh):
    ssh.add_host("h1-nocheck", ssh.h1, StrictHostKeyChecking="no")
    before = set_known_hosts(ssh, f"{other_line(ssh)}\n")
    nb = ssh.kernel()
    res = no_questions(nb, "%login h1-nocheck")
    assert res.status == "ok", res.describe()
    assert re.search(r"(?i)warning.*not verified", res.text), res.describe()
    assert ssh.h1.host_key_fingerprint() in res.text, res.describe()
    appended_lines(ssh, before)
    assert nb.ok("whoami").lines == ["sshpty-ops"]


# ---------------------------------------------------------------------------------------------
# Every ProxyJump hop is checked by the same policy


def test_unknown_jump_host_is_refused_without_stdin(ssh):
    ssh.add_host("h1-via-h2", ssh.h1, ProxyJump="h2-ops")
    before = set_known_hosts(ssh, f"{ssh.h1.known_hosts_line()}\n")  # target known, hop not
    res = ssh.kernel().run("%login h1-via-h2", timeout=20)
    text = refused(res)
    assert f"[127.0.0.1]:{ssh.h2.port}" in text and "cannot answer questions" in text, text
    assert ssh.known_hosts.read_bytes() == before


def test_unknown_jump_host_is_asked_about(ssh):
    ssh.add_host("h1-via-h2", ssh.h1, ProxyJump="h2-ops")
    before = set_known_hosts(ssh, f"{ssh.h1.known_hosts_line()}\n")
    a = answering(ssh.kernel(), "%login h1-via-h2", [(YES_NO, "yes")])
    assert a.result.status == "ok", a.result.describe()
    assert len(a.asked) == 1 and ssh.h2.host_key_fingerprint() in a.asked[0].prompt, a.asked
    assert len(appended_lines(ssh, before)) == 1
    assert keygen_finds(ssh, ssh.h2)


def test_changed_key_of_the_target_behind_a_jump_is_refused(ssh):
    ssh.add_host("h1-via-h2", ssh.h1, ProxyJump="h2-ops")
    wrong = f"[127.0.0.1]:{ssh.h1.port} {ssh.h2.public_key()}"
    set_known_hosts(ssh, f"{other_line(ssh)}\n{wrong}\n")
    text = refused(no_questions(ssh.kernel(), "%login h1-via-h2"))
    assert "CHANGED" in text and re.search(r"\bline 2\b", text), text


# ---------------------------------------------------------------------------------------------
# @cert-authority: an sshd that presents a host certificate


@pytest.fixture(scope="module")
def cert_host(ssh_servers, tmp_path_factory):
    """An sshd whose host key is certified by a CA of our own (ssh-keygen -s -h), principal
    127.0.0.1; returns (sshd, CA public key line, another CA's public key line)."""
    d = tmp_path_factory.mktemp("hostcert")
    d.chmod(0o700)
    ca, other_ca, key = d / "ca", d / "other_ca", d / "host_key"
    for k in (ca, other_ca, key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(k)],
                       check=True, capture_output=True, timeout=20)
    subprocess.run(["ssh-keygen", "-q", "-s", str(ca), "-h", "-I", "sshpty-test-host",
                    "-n", "127.0.0.1", f"{key}.pub"], check=True, capture_output=True, timeout=20)
    cert = Path(f"{key}-cert.pub")
    assert cert.is_file()
    sshd = ssh_servers[0].start_sshd(name="hcert", HostKey=key, HostCertificate=cert)
    pub = lambda p: " ".join(Path(f"{p}.pub").read_text().split()[:2])  # noqa: E731
    return sshd, pub(ca), pub(other_ca)


def cert_alias(ssh, sshd) -> str:
    """An alias for the cert host that does not add its plain key to known_hosts."""
    return ssh.add_host("hcert-ops", None, None, HostName="127.0.0.1", Port=sshd.port,
                        User="sshpty-ops", IdentityFile=ssh.cfg.identity, IdentitiesOnly="yes",
                        UserKnownHostsFile=ssh.known_hosts)


def test_cert_authority_covers_the_host(ssh, cert_host):
    sshd, ca, _ = cert_host
    alias = cert_alias(ssh, sshd)
    before = set_known_hosts(ssh, f"{other_line(ssh)}\n@cert-authority [127.0.0.1]:* {ca}\n")
    r = ssh.ssh(alias, "true")
    if r.returncode != 0:
        pytest.skip(f"OpenSSH itself does not log in through the host certificate: {r.stderr}")
    nb = ssh.kernel()
    res = no_questions(nb, f"%login {alias}")
    assert res.status == "ok", res.describe()
    assert nb.ok("whoami").lines == ["sshpty-ops"]
    assert ssh.known_hosts.read_bytes() == before, "a host covered by a CA needs no entry"


def test_cert_from_an_unknown_authority_is_not_trusted(ssh, cert_host):
    sshd, _, other_ca = cert_host
    alias = cert_alias(ssh, sshd)
    before = set_known_hosts(ssh, f"@cert-authority * {other_ca}\n")
    res = ssh.kernel().run(f"%login {alias}", timeout=20, allow_stdin=False)
    refused(res)
    assert ssh.known_hosts.read_bytes() == before


def test_cert_from_a_covering_authority_for_another_name_is_refused(ssh, cert_host):
    """The CA covers the name, but the certificate (principal 127.0.0.1) is not for it: a
    clear refusal, no question, nothing appended (ssh: 'Certificate invalid: name is not a
    listed principal')."""
    sshd, ca, _ = cert_host
    alias = ssh.add_host("hcert-byname", None, None, HostName="localhost", Port=sshd.port,
                         User="sshpty-ops", IdentityFile=ssh.cfg.identity,
                         IdentitiesOnly="yes", UserKnownHostsFile=ssh.known_hosts)
    before = set_known_hosts(ssh, f"@cert-authority [localhost]:* {ca}\n")
    text = refused(no_questions(ssh.kernel(), f"%login {alias}"))
    assert "host certificate" in text and "names 127.0.0.1 and not localhost" in text, text
    assert ssh.known_hosts.read_bytes() == before


def test_cert_from_a_revoked_authority_is_refused(ssh, cert_host):
    sshd, ca, _ = cert_host
    alias = cert_alias(ssh, sshd)
    before = set_known_hosts(ssh, f"@cert-authority [127.0.0.1]:* {ca}\n@revoked * {ca}\n")
    text = refused(no_questions(ssh.kernel(), f"%login {alias}"))
    assert "@revoked" in text and re.search(r"\bline 2\b", text), text
    assert ssh.known_hosts.read_bytes() == before
