"""The live terminal in the cell, in a browser (issue 14): JupyterLab 4 from the package venv
(`pip install <repo> jupyterlab notebook`, package_venv.py) in Debian's headless chromium,
driven with real key presses (tests/browser/terminal.js). vi opened in a cell becomes an xterm.js
terminal: text typed into it and `:wq` write the file; top is drawn live and quits with `q`; the
PTY follows the output area's width (`tput cols`); a second tab on the same notebook watches and
cannot type; no input box opens while a terminal runs. Screenshots: tests/artifacts/lab/term-*.png.
"""

from __future__ import annotations

import os
import re

import pytest

from lab_driver import ARTIFACTS, ensure_browser_tools, lab_server, run_driver, write_notebook
from package_venv import PACKAGE_TIMEOUT, package_venv, package_venv_build, run_in  # noqa: F401

pytestmark = pytest.mark.timeout(PACKAGE_TIMEOUT)

COLS = "c=$(tput cols); printf '\\033[?1049l'; echo \"cols=$c\""
WIDTH_PROBE = f"printf '\\033[?1049h\\033[H\\033[2Jpress Enter'; read -r _; {COLS}"


def run_steps(server, steps: list[dict], tmp_path, timeout: float) -> dict:
    work = tmp_path / "driver"
    work.mkdir()
    scenario = {"artifacts": str(ARTIFACTS / "lab"), "name": "term", "steps": steps}
    result = run_driver("terminal.js", scenario, work, dict(os.environ), timeout, server)
    rec = result["steps"]
    assert not result["error"] and len(rec) == len(steps) and all(s["ok"] for s in rec), \
        f"{result['error']}\nlast step: {rec[-1] if rec else None}\n" \
        f"screenshots: {result['screenshots']}"
    return result


def test_vi_top_and_a_resize_in_a_live_terminal_with_real_keys(package_venv, tmp_path):
    ensure_browser_tools()
    r = run_in(package_venv, "sshpty", "install", "--prefix", str(package_venv))
    assert r.returncode == 0, r.stderr
    env = {**os.environ, "PATH": f"{package_venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    server = lab_server(tmp_path / "lab", env=env, name="jupyter-lab-terminal",
                        python=str(package_venv / "bin" / "python")).start()
    typed = tmp_path / "typed.txt"
    watched = tmp_path / "watched.txt"
    try:
        write_notebook(server.root_dir / "term.ipynb", "sshpty", [
            "%login local",
            f"vim -u NONE -i NONE -N {typed}",
            "top -d 0.5",
            WIDTH_PROBE,
            WIDTH_PROBE,
            f"vim -u NONE -i NONE -N {watched}",
        ])
        url = f"{server.url}/lab/tree/term.ipynb?token={server.token}"
        steps = [
            {"open": url, "page": "a"},
            {"start": 0}, {"done": 0, "timeout": 60000},
            # vi: the output becomes a terminal that types; real keys edit and save the file.
            {"start": 1}, {"terminal": 1, "typing": True},
            {"click": 1},
            {"type": "ihello from real keys"},
            {"screen": 1, "contains": "hello from real keys"},
            {"shot": "vi"},
            {"press": "Escape"}, {"type": ":wq"}, {"press": "Enter"},
            {"done": 1},
            # top: drawn live, quit with q.
            {"start": 2}, {"terminal": 2, "typing": True},
            {"screen": 2, "contains": "load average"},
            {"shot": "top"},
            {"click": 2}, {"press": "q"},
            {"done": 2},
            # The PTY's width follows the output area's: wide window, then a narrower one.
            {"start": 3}, {"terminal": 3, "typing": True},
            {"screen": 3, "contains": "press Enter"},
            {"click": 3}, {"press": "Enter"}, {"done": 3},
            {"viewport": [1000, 1000]},
            {"start": 4}, {"terminal": 4, "typing": True},
            {"screen": 4, "contains": "press Enter"},
            {"click": 4}, {"press": "Enter"}, {"done": 4},
            {"viewport": [1600, 1000]},
            # A second tab on the same notebook, saved while vi runs: it watches.
            {"start": 5}, {"terminal": 5, "typing": True},
            {"press": "Control+s"}, {"sleep": 1500},
            {"open": url, "page": "b"},
            {"terminal": 5, "typing": False, "timeout": 30000},
            {"click": 5}, {"type": "iwatcher keys"}, {"sleep": 1000},
            {"shot": "watcher"},
            {"page": "a", "click": 5}, {"type": "iowner keys"},
            {"screen": 5, "contains": "owner keys"},
            {"page": "b", "screen": 5, "contains": "owner keys"},
            {"page": "a", "press": "Escape"}, {"type": ":wq"}, {"press": "Enter"},
            {"done": 5},
        ]
        result = run_steps(server, steps, tmp_path, 600)
    finally:
        server.stop()
    rec = result["steps"]
    by = {}
    for i, s in enumerate(rec):
        for key in ("done", "terminal", "screen", "click"):
            if key in s["step"]:
                by.setdefault((key, s["step"][key]), []).append(s)

    assert typed.read_text() == "hello from real keys\n"
    vi_end = by[("done", 1)][0]["output"]
    assert vi_end["boxes"] == 0 and vi_end["terminals"] == 0, vi_end  # back to text at the end
    assert by[("click", 1)][0]["seen"]["focused"], "clicking the terminal did not focus it"
    assert by[("done", 2)][0]["output"]["boxes"] == 0
    wide = re.search(r"cols=(\d+)", by[("done", 3)][0]["output"]["text"])
    narrow = re.search(r"cols=(\d+)", by[("done", 4)][0]["output"]["text"])
    assert wide and narrow, (by[("done", 3)], by[("done", 4)])
    assert int(wide.group(1)) > int(narrow.group(1)) > 40, (wide.group(1), narrow.group(1))
    # The watcher's keys reached nothing; the owner's did.
    assert watched.read_text() == "owner keys\n"
    shots = {os.path.basename(p) for p in result["screenshots"]}
    assert {"term-vi.png", "term-top.png", "term-watcher.png"} <= shots, shots
