"""What a cell shows while it runs and after (issue 4): the still-changing part live in the
header, full-screen programs as one display updated in place, the output limit with its
saved file and live tail."""

from __future__ import annotations

import os
import re
from pathlib import Path

from harness import LOCAL, plain_text


def display_texts(res, kind=None) -> list[str]:
    return [m["content"]["data"].get("text/plain", "") for m in res.displays
            if kind is None or m["msg_type"] == kind]


def test_progress_bar_is_shown_live_in_the_header_and_saved_as_one_line(notebook):
    """To a client with a page (allow_stdin), the live view is under the header line."""
    nb = notebook(LOCAL)
    nb.ok("%header on")
    res = nb.ok("for i in $(seq 1 40); do printf '\\rprogress %3d%%' $i; sleep 0.03; done; echo",
                allow_stdin=True)
    # The stream holds the final line only, once.
    assert res.text == "progress  40%\n", res.describe()
    updates = display_texts(res, "update_display_data")
    live = [t for t in updates if re.search(r"\nprogress +\d+%$", t)]
    assert live, f"no live view of the progress bar in the header: {updates}"
    # Shown while it changed (an intermediate value), at most ~10 updates a second.
    assert any("progress  40%" not in t for t in live), live
    assert len(updates) <= 2 + 10 * 1.2 * 3, len(updates)
    # The header's last state has no live part left.
    assert "\n" not in updates[-1], updates[-1]


def test_quick_cell_sends_no_live_updates(notebook):
    nb = notebook(LOCAL)
    nb.ok("%header on")
    res = nb.ok("printf 'a\\rb\\n'", allow_stdin=True)
    assert res.text == "b\n"
    # The header: its display and its final update, nothing else.
    assert len(res.displays) == 2, res.describe()


def test_full_screen_program_is_one_display_updated_in_place(local):
    code = ("printf '\\033[?1049h\\033[2J\\033[H'; for i in 1 2 3; do printf '\\033[1;1Hscreen %s' $i;"
            " sleep 0.3; done; printf '\\033[?1049l'; echo after")
    res = local.ok(code)
    assert res.text == "after\n", res.describe()
    shown = res.displays
    assert shown and shown[0]["msg_type"] == "display_data", res.describe()
    ids = {m["content"]["transient"]["display_id"] for m in shown}
    assert len(ids) == 1, ids
    texts = [m["content"]["data"]["text/plain"] for m in shown]
    assert texts[-1].startswith("screen 3"), texts
    assert any(t.startswith("screen 1") or t.startswith("screen 2") for t in texts[:-1]), texts
    assert shown[0]["content"]["data"]["text/html"].startswith("<pre"), shown[0]


def test_output_limit_keeps_the_head_saves_everything_and_shows_the_tail(local):
    local.ok("%output-limit 100k")
    res = local.ok("seq 1 100000")
    text = res.text
    shown = [l for l in res.stream.split("\n") if l.isdigit()]
    # The head: whole lines from 1, within the limit.
    assert shown[0] == "1" and shown == [str(i) for i in range(1, len(shown) + 1)], shown[-3:]
    assert 100_000 - 10 <= sum(len(l) + 1 for l in shown) <= 100_000  # 100k = 100 000 bytes
    m = re.search(r"complete output (?:goes to|of this cell is in) (\S+)", text)
    assert m, res.describe()
    path = Path(m.group(1))
    assert path.read_text() == "".join(f"{i}\n" for i in range(1, 100001))
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    # The tail display ends with the last lines.
    tails = display_texts(res)
    assert tails and tails[-1].rstrip().endswith("\n".join(str(i) for i in range(99991, 100001))), \
        tails[-1][-200:]
    path.unlink()


def test_output_under_the_limit_leaves_no_file(local):
    home = Path(local.ok('printf %s "$HOME"').text)
    outputs = home / ".local/share/sshpty/outputs"
    before = set(outputs.glob("*")) if outputs.is_dir() else set()
    local.ok("%output-limit 10MB")
    res = local.ok("seq 1 300000")  # ~2 MB: spilled to a file while it ran, removed after
    assert res.lines == [str(i) for i in range(1, 300001)]
    assert "complete output" not in res.text
    after = set(outputs.glob("*")) if outputs.is_dir() else set()
    assert after == before, after - before


def test_output_limit_off(local):
    assert "off" in local.ok("%output-limit off").text
    res = local.ok("seq 1 200000")
    assert res.lines == [str(i) for i in range(1, 200001)]
    assert plain_text(res.stream).count("\n") == 200000


def test_binary_output_leaves_the_terminal_as_new(local):
    res = local.run("head -c 300000 /dev/urandom; printf '\\033[?1049h\\033[?25l\\033[31m'; "
                    "head -c 1000 /dev/urandom", timeout=60)
    assert res.status == "ok", res.describe()
    assert "\ufffd" in res.stream  # invalid UTF-8 shows as U+FFFD
    # The next cell starts on a fresh terminal: line mode, default colours, no screen.
    nxt = local.ok("echo plain")
    assert nxt.stream == "plain\n", nxt.describe()
    assert not nxt.displays
