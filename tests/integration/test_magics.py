"""Magics (issue 2, item 5) and the per-cell header (item 9). %login/%logout, %status, %timeout
and the header are tested on both targets (local and SSH: targets.py), the rest on the local
one (a magic is the kernel's own, whatever the target)."""

from __future__ import annotations

import json
import re
import socket
import time

from ssh_kernel import finish
from targets import (  # noqa: F401  (fixtures are used by name)
    sleeping,
    ssh,
    ssh_kernelspec,
    ssh_servers,
    target,
)

MAGICS = ["login", "logout", "status", "strict", "timeout", "header", "help", "lsmagic", "param"]


# ---- %login / %logout / %status


def test_logout_then_cell_says_how_to_log_in(local):
    local.ok("echo in")
    local.ok("%logout")
    res = local.run("echo hi").failed()
    assert "%login" in res.error_text, res.describe()
    assert "hi" not in res.lines


def test_logout_then_login_starts_from_a_fresh_context(target):
    nb = target.nb
    nb.ok("cd /tmp; v=old")
    nb.ok("%logout")
    target.login(nb)
    assert nb.ok('pwd; echo "[${v-}]"').lines == [target.start_dir, "[]"]
    assert nb.ok("echo back").lines == ["back"]


def status_host(target) -> str:
    """What %status says the host is: this machine's name, or the SSH host's name and address."""
    if target.ssh is None:
        return re.escape(target.host)
    return rf"{re.escape(target.host)} \({re.escape(target.host)}:{target.ssh.h1.port}\)"


def test_status_shows_target_host_user_cwd_state_shell_and_context(target):
    nb = target.nb
    nb.ok("cd /tmp")
    res = nb.ok("%status")
    text = res.text + "".join(json.dumps(d["content"]["data"]) for d in res.displays)
    assert re.search(rf"^target: {re.escape(target.login_name)}$", text, re.M), text
    assert re.search(rf"^host: {status_host(target)}$", text, re.M), text
    assert re.search(rf"^user: {re.escape(target.user)}$", text, re.M), text
    assert "/tmp" in text, "the cwd carried by the context"
    assert "bash" in text, "the shell in use"
    assert re.search(r"^state: connected since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", text, re.M), text
    m = re.search(r"^context: ([0-9.]+) KiB", text, re.M)
    assert m, text
    nb.ok("filler=$(head -c 50000 /dev/zero | tr '\\0' f)")
    m2 = re.search(r"^context: ([0-9.]+) KiB", nb.ok("%status").text, re.M)
    assert m2 and float(m2.group(1)) >= float(m.group(1)) + 45, (m.group(0), m2)


def test_status_before_login(plain):
    res = plain.ok("%status")
    assert re.search(r"not (logged in|connected)|no target|%login", res.text, re.I), res.describe()


def test_unknown_magic_lists_known_ones(local):
    res = local.run("%foo").failed()
    for m in MAGICS:
        assert f"%{m}" in res.error_text, f"%{m} not listed:\n{res.error_text}"


def test_help_lists_every_magic(local):
    text = local.ok("%help").text
    for m in MAGICS:
        assert f"%{m}" in text, f"%{m} missing from %help"


def test_lsmagic_lists_every_magic(local):
    text = local.ok("%lsmagic").text
    for m in MAGICS:
        assert f"%{m}" in text, f"%{m} missing from %lsmagic"


def test_magics_need_no_login(plain):
    plain.ok("%help")
    plain.ok("%strict on")
    plain.ok("%timeout 30")


# ---- %strict


def test_strict_on_fails_at_the_first_failure(local):
    local.ok("%strict on")
    res = local.run("false; echo after").failed()
    assert "after" not in res.lines


def test_strict_on_uses_pipefail(local):
    local.ok("%strict on")
    local.run("false | true").failed()


def test_strict_off_restores_terminal_behaviour(local):
    local.ok("%strict on")
    local.ok("%strict off")
    assert "after" in local.ok("false; echo after").lines


def test_strict_does_not_leak_set_e_into_the_context(local):
    local.ok("%strict on")
    local.ok("%strict off")
    assert "e-off" in local.ok("[[ $- == *e* ]] || echo e-off").lines


# ---- %timeout


def test_timeout_interrupts_a_long_cell(target):
    nb = target.nb
    nb.ok("%timeout 1")
    t0 = time.monotonic()
    res = finish(nb.submit("echo started; sleep 1934"), 30).failed()
    took = time.monotonic() - t0
    assert took < 6, f"a 1 s timeout ended the cell after {took:.1f}s"
    assert res.errors[0]["ename"] == "Timeout", res.describe()
    assert re.search(r"time(d)? ?out", res.error_text, re.I), res.describe()
    assert not target.wait_gone(sleeping(1934), timeout=3)
    assert nb.ok("echo ok").lines == ["ok"]


def test_timeout_off(local):
    local.ok("%timeout 1")
    local.ok("%timeout off")
    res = local.ok("sleep 2; echo slept", timeout=30)
    assert "slept" in res.lines


def test_timeout_rejects_nonsense(local):
    local.run("%timeout soon").failed()


# ---- %param and {NAME}


def test_param_sets_a_shell_variable(local):
    local.ok("%param GREETING hello-param")
    assert local.ok('echo "$GREETING"').text.strip() == "hello-param"


def test_param_substituted_in_magic_arguments(local):
    local.ok("%param T 1")
    local.ok("%timeout {T}")
    t0 = time.monotonic()
    res = local.run("sleep 10", timeout=30).failed()
    assert time.monotonic() - t0 < 6, "%timeout {T} did not become %timeout 1"
    assert re.search(r"time(d)? ?out", res.error_text, re.I), res.describe()


def test_param_before_login_and_login_by_param(plain):
    """The original SSH Kernel's notebooks: %param first, then %login {host}."""
    plain.ok("%param host local")
    plain.ok("%login {host}")
    res = plain.ok('echo "[$host]"')
    assert "[local]" in res.text


# ---- the header (plain kernel: header on)


def _header_parts(res):
    first = res.output_msgs[0] if res.output_msgs else None
    return first, [m for m in res.output_msgs if m["msg_type"] == "update_display_data"]


def header_host_ok(target, host: str) -> bool:
    """The header's host: this machine's name (or localhost), or the SSH host's address."""
    if target.ssh is None:
        return host.split(".")[0] in (socket.gethostname().split(".")[0], "localhost")
    return host == target.host


def test_header_is_the_first_output_and_updated_at_the_end(target):
    nb = target.login()  # a plain kernel: header on
    res = nb.ok("cd /tmp")
    first, _ = _header_parts(res)
    assert first is not None and first["msg_type"] == "display_data", res.describe()
    meta = first["content"]["metadata"]["sshpty"]
    assert meta["target"] == target.login_name and meta["user"] == target.user, meta
    assert header_host_ok(target, meta["host"]), meta
    assert f"{target.user}@{meta['host']}" in first["content"]["data"]["text/plain"], first
    res = nb.run("echo body; (exit 213)")
    assert res.status == "error"
    first, updates = _header_parts(res)
    assert first is not None and first["msg_type"] == "display_data", res.describe()
    display_id = first["content"]["transient"]["display_id"]
    assert display_id
    meta = first["content"]["metadata"]["sshpty"]
    assert meta["user"] == target.user
    assert header_host_ok(target, meta["host"]), meta
    assert meta["cwd"] == "/tmp"
    assert meta["started"]
    assert updates, "no update_display_data at the end of the cell\n" + res.describe()
    last = updates[-1]["content"]
    assert last["transient"]["display_id"] == display_id
    blob = json.dumps(last["data"]) + json.dumps(last["metadata"])
    assert re.search(r"\b213\b", blob), f"the update does not carry the exit status: {blob}"
    assert "body" in res.text


def test_header_display_ids_are_fresh_per_cell(plain):
    plain.ok("%login local")
    a = _header_parts(plain.ok("true"))[0]
    b = _header_parts(plain.ok("true"))[0]
    assert a["msg_type"] == b["msg_type"] == "display_data"
    assert a["content"]["transient"]["display_id"] != b["content"]["transient"]["display_id"]


def test_header_off_removes_it(plain):
    plain.ok("%login local")
    plain.ok("%header off")
    res = plain.ok("echo quiet")
    assert res.displays == [], res.describe()
    plain.ok("%header on")
    assert _header_parts(plain.ok("echo loud"))[0]["msg_type"] == "display_data"


def test_no_header_kernel_never_sends_it(local):
    for code in ("echo one", "false", "cd /tmp"):
        res = local.run(code)
        assert res.displays == [], res.describe()
