"""The live terminal in the cell, in a browser (issue 14): JupyterLab 4 from the package venv
(`pip install <repo> jupyterlab notebook`, package_venv.py) in Debian's headless chromium,
driven with real key presses (tests/browser/terminal.js). vi opened in a cell becomes an xterm.js
terminal: text typed into it and `:wq` write the file; top is drawn live and quits with `q`; the
PTY follows the output area's width (`tput cols`); a second tab on the same notebook watches and
cannot type; no input box opens while a terminal runs. Keys reach the program as a terminal
sends them: PageDown scrolls less; the arrows in the form the program asked for (SS3 in
application cursor mode, CSI otherwise); Ctrl+C, Ctrl+D and Escape as bytes 03, 04, 1b; and
JupyterLab's command-mode shortcuts (dd, a, b, m, y) do not fire. A tab reloaded while vi runs
(the notebook saved after Ctrl+Shift+Enter left the terminal) gets the terminal back, typing,
with what was typed before. Notebook 7 runs vi the same way. With the extension disabled, a
full-screen program shows no terminal and asks for keys in a text box (vim notation).
`%shell` on the SSH host: sudo answered in the terminal (no box), Ctrl+C stops ping, and the
next cell runs where the session left off after `exit`.
Screenshots: tests/artifacts/lab/term-*.png.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

import lab_driver
from lab_driver import ensure_browser_tools, lab_server, write_notebook
from package_venv import PACKAGE_TIMEOUT, package_venv, package_venv_build, run_in  # noqa: F401
from ssh_kernel import ssh, ssh_servers  # noqa: F401  (fixtures, used by name)

pytestmark = pytest.mark.timeout(PACKAGE_TIMEOUT)

COLS = "c=$(tput cols); printf '\\033[?1049l'; echo \"cols=$c\""
WIDTH_PROBE = f"printf '\\033[?1049h\\033[H\\033[2Jpress Enter'; read -r _; {COLS}"


VIM = "vim -u NONE -i NONE -N"
PYTHON = "/usr/bin/python3"  # Debian's: the kernel's shell need not have pyenv's shims

# Reads keys in raw mode (no echo, no signals: Ctrl+C is byte 03) on the alternate screen, in
# application cursor key mode (DECCKM, `ESC [ ? 1 h`) or normal mode as argv[2] says, until a
# `q`; shows how many reads it made and what came; writes what came before the q as hex.
KEYS_PY = r"""
import os, sys, termios, tty
out, mode = sys.argv[1], sys.argv[2]
fd = sys.stdin.fileno()
saved = termios.tcgetattr(fd)
tty.setraw(fd)
def show(s):
    os.write(1, s.encode())
show("\033[?1049h" + ("\033[?1h" if mode == "app" else "\033[?1l") + "\033[H\033[2J"
     + "keys " + mode + " ready\r\n")
got, reads = b"", 0
try:
    while not got.endswith(b"q"):
        b = os.read(fd, 64)
        if not b:
            break
        got, reads = got + b, reads + 1
        show("n=%d hex=%s\r\n" % (reads, got.hex()))
finally:
    termios.tcsetattr(fd, termios.TCSADRAIN, saved)
    show("\033[?1l\033[?1049l")
with open(out, "w") as f:
    f.write(got[:-1].hex() if got.endswith(b"q") else got.hex())
print("read " + got.hex())
"""


@pytest.fixture(scope="module")
def term_server(package_venv, tmp_path_factory):
    """One JupyterLab (and Notebook 7) with our extension for the tests of this module that
    need it; each test opens its own notebook, so its own kernel."""
    ensure_browser_tools()
    r = run_in(package_venv, "sshpty", "install", "--prefix", str(package_venv))
    assert r.returncode == 0, r.stderr
    env = {**os.environ, "PATH": f"{package_venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    server = lab_server(tmp_path_factory.mktemp("lab"), env=env, name="jupyter-lab-terminal",
                        python=str(package_venv / "bin" / "python")).start()
    try:
        yield server
    finally:
        server.stop()


def run_steps(server, steps: list[dict], tmp_path, timeout: float) -> dict:
    return lab_driver.run_steps("terminal.js", "term", server, steps, tmp_path, timeout)


def by_step(rec: list[dict], keys=("done", "terminal", "screen", "click", "look")) -> dict:
    """The step records by (kind, cell): ("done", 1) -> the records of every {"done": 1}."""
    by: dict = {}
    for s in rec:
        for key in keys:
            if key in s["step"]:
                by.setdefault((key, s["step"][key]), []).append(s)
    return by


def test_vi_top_and_a_resize_in_a_live_terminal_with_real_keys(term_server, tmp_path):
    server = term_server
    typed = tmp_path / "typed.txt"
    watched = tmp_path / "watched.txt"
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
        {"page": "b", "terminal": 5, "ended": True},
        # This page never gets the display's last update (JupyterLab gives it to the page
        # that ran the cell): the terminal shows the program's last screen from 'ended'
        # (vi's, with its "written" line; vi's exit scrolled its first line away).
        {"screen": 5, "contains": "watched.txt\" [New] 1L, 11B written"},
        {"output": 5}, {"shot": "watcher-ended"},
    ]
    result = run_steps(server, steps, tmp_path, 600)
    by = by_step(result["steps"])

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


def rows_of(seen: dict) -> list[str]:
    """The terminal's rows as the page shows them, each stripped (xterm pads with spaces)."""
    return [r.replace("\u00a0", " ").strip() for r in seen["rows"].split("\n")]


def numbers_on(seen: dict) -> list[int]:
    return [int(r) for r in rows_of(seen) if r.isdigit()]


def test_keys_reach_the_program_as_a_terminal_sends_them(term_server, tmp_path):
    """PageDown scrolls less; arrows in application cursor mode are SS3, otherwise CSI; Ctrl+C,
    Ctrl+D and Escape arrive as bytes; JupyterLab's command-mode shortcuts stay off."""
    server = term_server
    keys_py = tmp_path / "keys.py"
    keys_py.write_text(KEYS_PY)
    numbers = tmp_path / "numbers.txt"
    app, normal, ctrl = (tmp_path / f"{n}.hex" for n in ("app", "normal", "ctrl"))
    esc = tmp_path / "esc.txt"
    shortcuts = tmp_path / "shortcuts.txt"
    shortcuts.write_text("drop me\n")
    write_notebook(server.root_dir / "keys.ipynb", "sshpty", [
        "%login local",
        f"seq 1 500 > {numbers}; less {numbers}",
        f"{PYTHON} {keys_py} {app} app",
        f"{PYTHON} {keys_py} {normal} normal",
        f"{PYTHON} {keys_py} {ctrl} normal",
        f"{VIM} {esc}",
        f"{VIM} {shortcuts}",
    ])
    # A workspace of its own: the default one would reopen the notebooks of the other tests.
    url = f"{server.url}/lab/workspaces/keys/tree/keys.ipynb?token={server.token}"
    steps = [
        {"open": url, "page": "a"},
        {"start": 0}, {"done": 0, "timeout": 60000},
        # 1. less: the first screenful starts at line 1; PageDown (ESC [ 6 ~) moves it on.
        {"start": 1}, {"terminal": 1, "typing": True},
        {"screen": 1, "matches": "^1\\s*$"},
        {"click": 1}, {"press": "PageDown"},
        {"screen": 1, "matches": "^\\s*(?!1\\s)\\d+\\s", "flags": ""},
        {"shot": "less-pagedown"},
        {"press": "q"}, {"done": 1},
        # 2. Arrows, in application cursor key mode, then in normal mode.
        {"start": 2}, {"terminal": 2, "typing": True},
        {"screen": 2, "contains": "keys app ready"},
        {"click": 2}, {"press": "ArrowUp"}, {"screen": 2, "contains": "n=1 "},
        {"press": "ArrowDown"}, {"screen": 2, "contains": "n=2 "},
        {"shot": "arrows-app"},
        {"press": "q"}, {"done": 2},
        {"start": 3}, {"terminal": 3, "typing": True},
        {"screen": 3, "contains": "keys normal ready"},
        {"click": 3}, {"press": "ArrowUp"}, {"screen": 3, "contains": "n=1 "},
        {"press": "ArrowDown"}, {"screen": 3, "contains": "n=2 "},
        {"press": "q"}, {"done": 3},
        # 3. Ctrl+C and Ctrl+D in raw mode are bytes, not a stop of the cell.
        {"start": 4}, {"terminal": 4, "typing": True},
        {"screen": 4, "contains": "keys normal ready"},
        {"click": 4}, {"press": "Control+c"}, {"screen": 4, "contains": "n=1 "},
        {"press": "Control+d"}, {"screen": 4, "contains": "n=2 "},
        {"shot": "ctrl-keys"},
        {"press": "q"}, {"done": 4},
        # Escape leaves vim's insert mode.
        {"start": 5}, {"terminal": 5, "typing": True},
        {"click": 5}, {"type": "ione"},
        {"screen": 5, "contains": "-- INSERT --"},
        {"press": "Escape"}, {"screen": 5, "lacks": "-- INSERT --"},
        {"type": "otwo"}, {"screen": 5, "contains": "-- INSERT --"},
        {"press": "Escape"}, {"screen": 5, "lacks": "-- INSERT --"},
        {"type": ":wq"}, {"press": "Enter"}, {"done": 5},
        # 4. dd, a, b, m, y: JupyterLab's command-mode shortcuts (delete the cell, add one
        # above, below, make it Markdown, code) while the notebook is in command mode; they go
        # to vim: dd deletes the line, a appends "bmy".
        {"start": 6}, {"terminal": 6, "typing": True},
        {"screen": 6, "contains": "drop me"},
        {"click": 6}, {"notebook": True},
        {"type": "dd"}, {"screen": 6, "lacks": "drop me"},
        {"type": "a"}, {"type": "b"}, {"type": "m"}, {"type": "y"},
        {"screen": 6, "contains": "bmy"},
        {"notebook": True},
        {"shot": "shortcuts-off"},
        {"press": "Escape"}, {"type": ":wq"}, {"press": "Enter"}, {"done": 6},
        {"notebook": True},
    ]
    result = run_steps(server, steps, tmp_path, 600)
    rec = result["steps"]
    by = by_step(rec)

    # less: line 1 first; after PageDown, lines beyond the first screenful and not line 1.
    first = numbers_on(by[("screen", 1)][0]["seen"])
    paged = numbers_on(by[("screen", 1)][1]["seen"])
    assert first and first[0] == 1, rows_of(by[("screen", 1)][0]["seen"])
    assert 1 not in paged and paged and max(paged) > max(first), (first, paged)
    assert by[("done", 1)][0]["output"]["terminals"] == 0
    # Arrows: SS3 (ESC O A / ESC O B) in application mode, CSI (ESC [ A / ESC [ B) otherwise.
    assert app.read_text() == "1b4f411b4f42", app.read_text()
    assert normal.read_text() == "1b5b411b5b42", normal.read_text()
    # Ctrl+C, Ctrl+D: bytes 03, 04 to a program in raw mode.
    assert ctrl.read_text() == "0304", ctrl.read_text()
    for cell in (2, 3, 4):
        out = by[("done", cell)][0]["output"]
        assert out["boxes"] == 0 and out["terminals"] == 0, out
    # Escape left insert mode twice: the text is what insert mode took, no more.
    assert esc.read_text() == "one\ntwo\n", esc.read_text()
    # The shortcuts: the same cells, all code, before, while and after (Shift+Enter on the last
    # cell added an eighth before the first count); vim got the keys.
    states = [s["value"] for s in rec if "notebook" in s["step"]]
    assert states[0]["commandMode"] and states[0]["inTerminal"], states[0]
    assert states[0]["cells"] == states[0]["code"] >= 7 and states[0]["markdown"] == 0, states
    for st in states:
        assert (st["cells"], st["code"], st["markdown"]) == \
            (states[0]["cells"], states[0]["code"], 0), states
    assert states[1]["inTerminal"], states[1]
    assert shortcuts.read_text() == "bmy\n", shortcuts.read_text()
    shots = {os.path.basename(p) for p in result["screenshots"]}
    assert {"term-less-pagedown.png", "term-arrows-app.png", "term-ctrl-keys.png",
            "term-shortcuts-off.png"} <= shots, shots


def test_a_reloaded_tab_gets_its_running_vi_back(term_server, tmp_path):
    """vi runs, text typed; Ctrl+Shift+Enter leaves the terminal, Ctrl+S saves the notebook
    (its display in it); the tab reloads and the terminal comes back typing, showing the text;
    more text, :wq, and the file has both."""
    server = term_server
    edited = tmp_path / "edited.txt"
    nb = write_notebook(server.root_dir / "reload.ipynb", "sshpty", [
        "%login local", f"{VIM} {edited}"])
    # A workspace of its own (see above); the reload keeps it.
    url = f"{server.url}/lab/workspaces/reload/tree/reload.ipynb?token={server.token}"
    steps = [
        {"open": url, "page": "a"},
        {"start": 0}, {"done": 0, "timeout": 60000},
        {"start": 1}, {"terminal": 1, "typing": True},
        {"click": 1}, {"type": "ibefore reload"},
        {"screen": 1, "contains": "before reload"},
        {"press": "Control+Shift+Enter"},
        {"look": 1}, {"notebook": True},
        {"save": True},
        {"exec": ["cat", str(nb)]},
        {"reload": True},
        {"terminal": 1, "typing": True, "timeout": 30000},
        {"screen": 1, "contains": "before reload"},
        {"shot": "reloaded"},
        {"click": 1}, {"type": " and after"},
        {"screen": 1, "contains": "before reload and after"},
        {"press": "Escape"}, {"type": ":wq"}, {"press": "Enter"},
        # Not {"done": 1}: the execute_reply goes to the session before the reload, so this
        # page's prompt stays "[ ]:" (JupyterLab's); the terminal hears the end on its comm.
        {"terminal": 1, "ended": True},
        {"screen": 1, "contains": "edited.txt\" [New] 1L, 24B written"},
        {"output": 1},
        {"shot": "reloaded-ended"},
    ]
    result = run_steps(server, steps, tmp_path, 300)
    rec = result["steps"]
    by = by_step(rec)
    step = {k: s for s in rec for k in ("notebook", "save", "exec", "output") if k in s["step"]}

    # Ctrl+Shift+Enter: out of the terminal, the notebook in command mode.
    assert not by[("look", 1)][0]["seen"]["focused"], by[("look", 1)][0]["seen"]
    left = step["notebook"]["value"]
    assert left["commandMode"] and not left["inTerminal"], left
    # Ctrl+S then saved it: the tab was dirty and is not; the file holds the live display.
    assert step["save"]["before"]["dirty"] and not step["save"]["value"]["dirty"], step["save"]
    saved = json.loads(step["exec"]["stdout"])
    mimes = {m for o in saved["cells"][1]["outputs"] for m in o.get("data", {})}
    assert "application/vnd.sshpty.terminal+json" in mimes, saved["cells"][1]["outputs"]
    # After the reload: typing (this tab), the text typed before it on the screen.
    back = by[("terminal", 1)][1]["seen"]
    assert back["typing"] == "true" and back["ended"] is None, back
    assert edited.read_text() == "before reload and after\n", edited.read_text()
    assert step["output"]["output"]["boxes"] == 0, step["output"]
    assert "term-reloaded.png" in {os.path.basename(p) for p in result["screenshots"]}


def test_vi_in_notebook_7(term_server, tmp_path):
    """Notebook 7 (/notebooks/...): the toolbar's host item, vi as a live terminal typed into
    with real keys, dd not deleting the cell, :wq writes the file, the output text again."""
    server = term_server
    typed = tmp_path / "n7.txt"
    typed.write_text("drop me\n")
    write_notebook(server.root_dir / "n7.ipynb", "sshpty", ["%login local", f"{VIM} {typed}"])
    steps = [
        {"open": f"{server.url}/notebooks/n7.ipynb?token={server.token}", "page": "n7"},
        {"eval": "document.querySelectorAll('.jp-NotebookPanel-toolbar .sshpty-host').length"},
        {"start": 0}, {"done": 0, "timeout": 60000},
        {"start": 1}, {"terminal": 1, "typing": True},
        {"screen": 1, "contains": "drop me"},
        {"click": 1}, {"notebook": True},
        {"type": "dd"}, {"screen": 1, "lacks": "drop me"},
        {"type": "ifrom notebook seven"},
        {"screen": 1, "contains": "from notebook seven"},
        {"notebook": True},
        {"shot": "notebook7-vi"},
        {"press": "Escape"}, {"type": ":wq"}, {"press": "Enter"},
        {"done": 1},
    ]
    result = run_steps(server, steps, tmp_path, 300)
    rec = result["steps"]
    by = by_step(rec)
    assert rec[1]["value"] == 1, "no .sshpty-host in Notebook 7's toolbar"
    assert by[("click", 1)][0]["seen"]["focused"], by[("click", 1)][0]["seen"]
    # dd did not delete a cell (Shift+Enter on the last cell had added one before the count).
    before, after = (s["value"] for s in rec if "notebook" in s["step"])
    assert before["cells"] == after["cells"] >= 2 and after["code"] == after["cells"], \
        (before, after)
    assert before["commandMode"] and before["inTerminal"] and after["inTerminal"], (before, after)
    assert typed.read_text() == "from notebook seven\n", typed.read_text()
    out = by[("done", 1)][0]["output"]
    assert out["terminals"] == 0 and out["boxes"] == 0, out
    assert "term-notebook7-vi.png" in {os.path.basename(p) for p in result["screenshots"]}


def test_without_the_extension_a_keys_box_drives_vim(package_venv, tmp_path):
    """`jupyter labextension disable sshpty-labextension` in this server's own config dir:
    vim shows as a display, no terminal; a text box takes keys in vim notation."""
    ensure_browser_tools()
    r = run_in(package_venv, "sshpty", "install", "--prefix", str(package_venv))
    assert r.returncode == 0, r.stderr
    env = {**os.environ, "PATH": f"{package_venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    server = lab_server(tmp_path / "lab", env=env, name="jupyter-lab-terminal-off",
                        python=str(package_venv / "bin" / "python"))
    python = str(package_venv / "bin" / "python")
    config = server.env["JUPYTER_CONFIG_DIR"]  # the server's own, under tmp_path
    assert config.startswith(str(tmp_path)), config

    def venv_config() -> dict:
        etc = package_venv / "etc" / "jupyter"
        return {str(p): p.read_bytes() for p in sorted(etc.rglob("*")) if p.is_file()}

    shared = venv_config()
    # --level=user: into JUPYTER_CONFIG_DIR, this server's alone (the venv's stays as it is).
    r = subprocess.run([python, "-m", "jupyter", "labextension", "disable", "--level=user",
                        "sshpty-labextension"], env=server.env, capture_output=True, text=True,
                       timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    labconfig = tmp_path / "lab" / "config" / "labconfig"
    page_config = json.loads((labconfig / "page_config.json").read_text())
    assert page_config.get("disabledExtensions", {}).get("sshpty-labextension"), page_config
    assert venv_config() == shared, "disabling wrote into the shared package venv"
    typed = tmp_path / "boxed.txt"
    try:
        server.start()
        write_notebook(server.root_dir / "off.ipynb", "sshpty", ["%login local", f"{VIM} {typed}"])
        url = f"{server.url}/lab/tree/off.ipynb?token={server.token}"
        steps = [
            {"open": url, "page": "off", "extension": False},
            {"start": 0}, {"done": 0, "timeout": 60000},
            {"start": 1},
            {"box": 1, "keys": "ihello<Esc>:wq<CR>"},
            {"done": 1},
            {"shot": "extension-off"},
        ]
        result = run_steps(server, steps, tmp_path, 300)
    finally:
        server.stop()
        shutil.rmtree(labconfig)  # what the disable wrote (`enable` would cost ~6 s more)
    rec = result["steps"]
    assert rec[0]["hostItems"] == 0, "the extension's host item shows: not disabled"
    boxed = rec[4]
    assert "vim notation" in boxed["prompt"], boxed["prompt"]
    # The screen as a display (vim's empty-line tildes), no terminal, while the box is open.
    assert boxed["output"]["terminals"] == 0, boxed["output"]
    assert "~" in boxed["output"]["text"], boxed["output"]
    assert typed.read_text() == "hello\n", typed.read_text()
    out = rec[5]["output"]
    assert out["boxes"] == 0 and out["terminals"] == 0, out


def test_shell_magic_over_ssh_sudo_in_the_terminal_and_the_context_after_exit(
        ssh, package_venv, tmp_path):
    """%shell on the SSH host: typed into with real keys; sudo's password typed in the
    terminal (no box, never in the page's outputs); Ctrl+C stops ping and the session goes
    on; after `exit` the next cell runs where the session left off."""
    ensure_browser_tools()
    r = run_in(package_venv, "sshpty", "install", "--prefix", str(package_venv))
    assert r.returncode == 0, r.stderr
    env = {**ssh.env(), "PATH": f"{package_venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    server = lab_server(tmp_path / "lab", env=env, real_home=True, name="jupyter-lab-shell",
                        python=str(package_venv / "bin" / "python")).start()
    try:
        write_notebook(server.root_dir / "shell.ipynb", "sshpty", [
            "%login h1-ops", "%shell", 'pwd; echo "carried=$carried"'])
        url = f"{server.url}/lab/tree/shell.ipynb?token={server.token}"
        steps = [
            {"open": url, "page": "a"},
            {"start": 0}, {"done": 0, "timeout": 60000},
            {"start": 1}, {"terminal": 1, "typing": True},
            {"click": 1},
            {"type": "cd /tmp; carried=yes"}, {"press": "Enter"},
            {"type": "sudo -k; sudo whoami"}, {"press": "Enter"},
            {"screen": 1, "contains": "[sudo] password for sshpty-ops:"},
            {"type": ssh.lab.password}, {"press": "Enter"},
            # The prompt after it first: keys typed while sudo (use_pty) still relays the
            # terminal are lost with the command's own terminal, in any terminal.
            {"screen": 1, "matches": r"^root\s*\n\S*sshpty-ops@\S+:/tmp\$", "flags": "m"},
            {"type": "ping -i 0.2 127.0.0.1"}, {"press": "Enter"},
            {"screen": 1, "contains": "icmp_seq=3"},
            {"press": "Control+c"},
            {"screen": 1, "contains": "packet loss"},
            {"type": "echo after-ping"}, {"press": "Enter"},
            {"screen": 1, "matches": r"^after-ping\s*$", "flags": "m"},
            {"shot": "shell"},
            {"type": "exit"}, {"press": "Enter"},
            {"done": 1},
            {"start": 2}, {"done": 2},
            {"eval": "document.body.innerText"},
        ]
        result = run_steps(server, steps, tmp_path, 300)
    finally:
        server.stop()
    by = by_step(result["steps"])
    end = by[("done", 1)][0]["output"]
    assert end["boxes"] == 0, end  # sudo was answered in the terminal
    assert end["terminals"] == 0 and "root" in end["text"], end  # the transcript is the output
    after = by[("done", 2)][0]["output"]["text"]
    assert "/tmp" in after and "carried=yes" in after, after
    page = [s for s in result["steps"] if "eval" in s["step"]][0]["value"]
    assert ssh.lab.password not in page
    assert "[sshpty:" not in page
