"""Magics (issue 2, item 5) and the per-cell header (item 9)."""

from __future__ import annotations

import getpass
import json
import re
import socket
import time

MAGICS = ["login", "logout", "status", "strict", "timeout", "header", "help", "lsmagic", "param"]


# ---- %login / %logout / %status


def test_logout_then_cell_says_how_to_log_in(local):
    local.ok("echo in")
    local.ok("%logout")
    res = local.run("echo hi").failed()
    assert "%login" in res.error_text, res.describe()
    assert "hi" not in res.lines


def test_login_again_after_logout(local):
    local.ok("%logout")
    local.ok("%login local")
    assert local.ok("echo back").lines == ["back"]


def test_status_shows_target_user_cwd_state_shell(local):
    local.ok("cd /tmp")
    res = local.ok("%status")
    text = res.text + "".join(json.dumps(d["content"].get("data", {})) for d in res.displays)
    assert "local" in text, text
    assert getpass.getuser() in text, text
    assert "/tmp" in text, "the cwd carried by the context"
    assert "bash" in text, "the shell in use"
    assert re.search(r"connect|logged in", text, re.I), "the connection state"


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


def test_timeout_interrupts_a_long_cell(local):
    local.ok("%timeout 1")
    t0 = time.monotonic()
    res = local.run("sleep 10", timeout=30).failed()
    took = time.monotonic() - t0
    assert took < 6, f"a 1 s timeout ended the cell after {took:.1f}s"
    assert re.search(r"time(d)? ?out", res.error_text, re.I), res.describe()
    assert "ok" in local.ok("echo ok").text


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


def test_header_is_the_first_output_and_updated_at_the_end(plain):
    plain.ok("%login local")
    plain.ok("cd /tmp")
    res = plain.run("echo body; (exit 213)")
    assert res.status == "error"
    first, updates = _header_parts(res)
    assert first is not None and first["msg_type"] == "display_data", res.describe()
    display_id = first["content"]["transient"]["display_id"]
    assert display_id
    meta = first["content"]["metadata"]["sshpty"]
    assert meta["user"] == getpass.getuser()
    assert meta["host"] and meta["host"].split(".")[0] in (socket.gethostname().split(".")[0], "localhost")
    assert meta["cwd"] == "/tmp"
    assert meta["started"]
    assert updates, "no update_display_data at the end of the cell\n" + res.describe()
    last = updates[-1]["content"]
    assert last["transient"]["display_id"] == display_id
    blob = json.dumps(last.get("data", {})) + json.dumps(last.get("metadata", {}))
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
