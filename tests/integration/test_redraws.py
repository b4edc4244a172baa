"""What the cell keeps is what tmux shows (issue 12, part 1): programs that redraw lines they
printed earlier (docker pull, apt, pip, `tput cuu`), their output replayed in the cell with
pauses between pieces, on both targets, to a client that shows a page (allow_stdin) and to one
that does not. The expectation is tmux's (crates/terminal/tests/recordings/NAME.lines, made by
tmux-reference.sh from the same bytes), never our own output pasted back."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from harness import plain_text
from targets import nb, ssh, ssh_kernelspec, ssh_servers, target  # noqa: F401  (fixtures by name)

RECORDINGS = Path(__file__).resolve().parents[2] / "crates/terminal/tests/recordings"
# Each redraws lines above the cursor after it printed them (or a `\r` bar: the base case).
REDRAWING = ["docker_pull", "apt_progress", "pip_rich", "progress_cr", "tput_cuu", "apt_real",
             "pip_real"]
PIECES = 6
PAUSE = 0.15  # longer than the 100 ms after which lines used to be sent as final

REPLAY = r"""python3 - <<'PY'
import base64, os, sys, time
data = base64.b64decode({b64!r})
n = {pieces}
for i in range(n):
    os.write(1, data[len(data) * i // n:len(data) * (i + 1) // n])
    time.sleep({pause})
PY"""


def normalise(text: str) -> str:
    """As the Rust recorded tests compare: SGR dropped, trailing blanks trimmed on each line,
    blank lines at the end dropped."""
    lines = [l.rstrip() for l in plain_text(re.sub(r"\x1b\[[0-9;:]*m", "", text)).split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def replay_cell(name: str) -> str:
    data = (RECORDINGS / f"{name}.bin").read_bytes()
    return REPLAY.format(b64=base64.b64encode(data).decode(), pieces=PIECES, pause=PAUSE)


def page_order_kept(res) -> None:
    """No stream was sent while a live view showed something above it (JupyterLab keeps a
    display where it was created; stream sent later lands below it)."""
    shown: dict[str, str] = {}
    for m in res.outputs:
        kind, c = m["msg_type"], m["content"]
        if kind in ("display_data", "update_display_data"):
            shown[c["transient"]["display_id"]] = c["data"].get("text/plain", "")
        elif kind == "stream":
            live = [t for i, t in shown.items()
                    if (i.startswith("sshpty-live-") and t) or (i.startswith("sshpty-header-") and "\n" in t)]
            assert not live, f"stream {c['text'][:80]!r} sent below an open live view {live}"


@pytest.mark.parametrize("name", [n for n in REDRAWING if (RECORDINGS / f"{n}.bin").exists()])
def test_redrawn_lines_are_kept_as_tmux_shows_them(nb, name):
    expected = normalise((RECORDINGS / f"{name}.lines").read_text())
    nb.ok("%term 160x24")  # the recordings' size: apt's status line is addressed by row
    code = replay_cell(name)
    # The live view under the header, in a display of its own, and none (no page).
    for watched, header in ((True, "on"), (True, "off"), (False, "off")):
        nb.ok(f"%header {header}")
        res = nb.ok(code, allow_stdin=watched, timeout=60)
        got = normalise(res.stream)
        assert got == expected, f"{name}, allow_stdin={watched}: the cell differs from tmux\n" \
            f"--- cell\n{got}\n--- tmux\n{expected}"
        page_order_kept(res)
        views = [m for m in res.displays if m["msg_type"] == "update_display_data"
                 and "\n" in m["content"]["data"].get("text/plain", "")]
        if watched:
            assert views, f"{name}, header {header}: nothing shown live\n{res.describe()}"
        else:
            assert not res.displays, f"{name}: a live view for a client without a page\n{res.describe()}"
