"""The host in sight, in a browser (issue 13, items 2 and 3): JupyterLab 4 and Notebook 7 from
PyPI, installed beside sshpty by `pip install <repo>` in a fresh venv (package_venv.py), in
Debian's headless chromium (tests/browser/host-status.js). The status bar (JupyterLab) and the
notebook toolbar (both) name `user@host` after `%login`, turn to lost when the test kills the
connection without a cell running, and back after `%login` again; a host the user's marks file
marks production shows the mark in the header (text and colour) and the status bar, and the
notebook's `%mark` does not relabel it; a mark with HTML in it shows as text in Notebook 7's
toolbar. Screenshots: tests/artifacts/lab/host-*.png.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness import REPO
import lab_driver
from lab_driver import ensure_browser_tools, lab_server, write_notebook
from package_venv import PACKAGE_TIMEOUT, package_venv, package_venv_build, run_in  # noqa: F401
from ssh_kernel import LOSS_BOUND, ssh, ssh_servers  # noqa: F401  (fixtures, used by name)

pytestmark = pytest.mark.timeout(PACKAGE_TIMEOUT)

RED = "rgb(198, 40, 40)"  # the palette's red, #c62828
PURPLE = "rgb(106, 27, 154)"  # #6a1b9a
HOSTILE_MARK = "<img/src=x/onerror=window.__pwned=1>"


# Prints {kernel id: {target: open comms}} for every kernel the server at argv[1] (token
# argv[2]) runs; their connection files are in the runtime directory argv[3].
COMM_COUNT = """
import json, sys, urllib.request
from jupyter_client import BlockingKernelClient
url, token, runtime = sys.argv[1:4]
with urllib.request.urlopen(f"{url}/api/kernels?token={token}", timeout=10) as r:
    kernels = [k["id"] for k in json.load(r)]
counts = {}
for kid in kernels:
    kc = BlockingKernelClient(connection_file=f"{runtime}/kernel-{kid}.json")
    kc.load_connection_file()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=5)
        counts[kid] = {}
        for target in ("sshpty.host", "sshpty.terminal"):
            reply = kc.comm_info(target_name=target, reply=True, timeout=5)
            counts[kid][target] = len(reply["content"]["comms"])
    finally:
        kc.stop_channels()
print(json.dumps(counts))
"""


def run_steps(server, steps: list[dict], tmp_path, timeout: float) -> dict:
    return lab_driver.run_steps("host-status.js", "host", server, steps, tmp_path, timeout)


def test_status_bar_and_toolbar_show_the_host_its_state_and_its_mark(ssh, package_venv, tmp_path):
    ensure_browser_tools()
    # The kernelspec, as a user of the package installs it.
    r = run_in(package_venv, "sshpty", "install", "--prefix", str(package_venv))
    assert r.returncode == 0, r.stderr
    ssh.add_host("h1-html", ssh.h1)
    marks = tmp_path / "marks"
    marks.write_text(f"h1-ops production red\nh1-html {HOSTILE_MARK} purple\n")
    # The package venv's bin first: `python -m jupyter lab` runs the `jupyter-lab` on PATH.
    env = {**ssh.env(), "SSHPTY_MARKS": str(marks),
           "PATH": f"{package_venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    server = lab_server(tmp_path / "lab", env=env, real_home=True, name="jupyter-lab-host",
                        python=str(package_venv / "bin" / "python")).start()
    try:
        write_notebook(server.root_dir / "hosts.ipynb", "sshpty", [
            "%login h1-ops", "echo hi", "%login h1-ops",
            "%mark h1-* staging green\necho relabel"])
        write_notebook(server.root_dir / "n7.ipynb", "sshpty", ["%login h1-html", "echo x"])
        lab = f"{server.url}/lab/tree/hosts.ipynb?token={server.token}"
        nb7 = f"{server.url}/notebooks/n7.ipynb?token={server.token}"
        label = "sshpty-ops@127.0.0.1 (h1-ops)"
        loss_ms = int((LOSS_BOUND + 5) * 1000)
        steps = [
            {"open": lab, "page": "lab"},
            {"expect": {"where": "statusbar", "state": "not-logged-in"}},
            {"shot": "not-logged-in"},
            {"run": 0, "timeout": 60000},
            {"expect": {"where": "statusbar", "state": "connected", "label": label}},
            {"expect": {"where": "toolbar", "state": "connected", "label": label}},
            {"run": 1},
            {"output": 1},
            {"shot": "production"},
            # No cell runs: the kernel notices on its own and tells the page.
            {"exec": ["pkill", "-KILL", "-u", "sshpty-ops"]},
            {"expect": {"where": "statusbar", "state": "lost", "timeout": loss_ms}},
            {"shot": "lost"},
            {"run": 2, "timeout": 60000},
            {"expect": {"where": "statusbar", "state": "connected", "label": label}},
            {"run": 3},
            {"output": 3},
            {"expect": {"where": "statusbar", "state": "connected", "label": label}},
            {"shot": "relabel-refused"},
            {"open": nb7, "page": "nb7"},
            {"expect": {"where": "toolbar", "state": "not-logged-in"}},
            {"run": 0, "timeout": 60000},
            {"expect": {"where": "toolbar", "state": "connected", "label": "(h1-html)"}},
            {"eval": "typeof window.__pwned"},
            {"shot": "notebook7-html-mark"},
            # The JupyterLab page still shows its own notebook's host (in the status bar: a
            # narrow notebook toolbar moves the item into its overflow menu).
            {"expect": {"page": "lab", "where": "statusbar", "state": "connected",
                        "label": label}},
            # A restart: a new kernel, not logged in, with one comm of each kind per
            # notebook, as before (the extension closes the old ones).
            {"restart": True, "page": "lab"},
            {"expect": {"page": "lab", "where": "statusbar", "state": "not-logged-in",
                        "timeout": 30000}},
            {"exec": [sys.executable, "-c", COMM_COUNT, server.url, server.token,
                      os.environ["JUPYTER_RUNTIME_DIR"]]},
        ]
        result = run_steps(server, steps, tmp_path, 400)
    finally:
        server.stop()
    rec = result["steps"]

    def seen(i: int) -> dict:
        return rec[i]["seen"]

    # Logged in: user@host (alias), the mark on the palette's red, in both places.
    for i in (4, 5):
        assert seen(i)["mark"] == "production" and seen(i)["markBackground"] == RED, seen(i)
        assert seen(i)["stateText"] == "connected" and seen(i)["visible"], seen(i)
    # The header in the page: the mark's text on its colour.
    out = rec[7]["output"]
    assert out["marks"] == [{"text": "production", "background": RED}], out
    assert "production sshpty-ops@127.0.0.1:" in out["text"], out
    # Lost within the keepalive bound, with no cell run; the state says so in words.
    assert seen(10)["stateText"] == "connection lost", seen(10)
    assert rec[10]["ms"] <= LOSS_BOUND * 1000, f"lost shown after {rec[10]['ms']} ms"
    # The notebook's %mark did not relabel production.
    out = rec[15]["output"]
    assert out["marks"] == [{"text": "production", "background": RED}], out
    assert "your marks file marks h1-ops (production) otherwise" in out["text"], out
    assert seen(16)["mark"] == "production", seen(16)
    # Notebook 7: the toolbar shows the HTML mark as text, and it never ran.
    assert seen(21)["mark"] == HOSTILE_MARK and seen(21)["markBackground"] == PURPLE, seen(21)
    assert "&lt;img" in seen(21)["markHtml"], seen(21)
    assert rec[22]["value"] == "undefined", "the mark's HTML ran in the page"
    # After the restart, each kernel (the restarted one and Notebook 7's) has one host comm
    # and one terminal comm: one notebook each, one tab.
    counts = json.loads(rec[27]["stdout"])
    assert len(counts) == 2 and all(c == {"sshpty.host": 1, "sshpty.terminal": 1}
                                    for c in counts.values()), counts
    shots = {os.path.basename(p) for p in result["screenshots"]}
    assert {"host-production.png", "host-lost.png", "host-notebook7-html-mark.png"} <= shots, shots
    assert (REPO / "tests" / "artifacts" / "lab" / "host-lost.png").is_file()


def test_a_host_name_with_html_shows_as_text(package_venv, tmp_path):
    """The one host name a user cannot refuse: this machine's own. The server (and the kernels
    it starts) run in a UTS namespace whose host name is HTML; `%login local` reports it, and
    the status bar and the header show it as text."""
    ensure_browser_tools()
    hostile = "<img/src=x/onerror=window.__pwned=1>"
    # `hostname` refuses such a name; the kernel's interface does not.
    name_it = 'printf %s "$1" > /proc/sys/kernel/hostname'
    probe = subprocess.run(["unshare", "--uts", "--", "sh", "-c", f"{name_it} && uname -n",
                            "sh", hostile], capture_output=True, text=True, timeout=20)
    assert probe.returncode == 0 and probe.stdout.strip() == hostile, \
        f"cannot name a UTS namespace's host (root and unshare are needed): {probe.stderr}"
    r = run_in(package_venv, "sshpty", "install", "--prefix", str(package_venv))
    assert r.returncode == 0, r.stderr
    env = {**os.environ, "PATH": f"{package_venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    wrap = ["unshare", "--uts", "--", "sh", "-c", f'{name_it} && shift && exec "$@"', "sh",
            hostile]
    server = lab_server(tmp_path / "lab", env=env, name="jupyter-lab-hostname",
                        python=str(package_venv / "bin" / "python"), wrap=wrap).start()
    try:
        write_notebook(server.root_dir / "local.ipynb", "sshpty", ["%login local", "echo hi"])
        steps = [
            {"open": f"{server.url}/lab/tree/local.ipynb?token={server.token}", "page": "lab"},
            {"run": 0, "timeout": 60000},
            {"expect": {"where": "statusbar", "state": "connected", "label": hostile}},
            {"run": 1},
            {"output": 1},
            {"eval": "typeof window.__pwned"},
            {"shot": "html-hostname"},
        ]
        result = run_steps(server, steps, tmp_path, 300)
    finally:
        server.stop()
    rec = result["steps"]
    assert rec[2]["seen"]["label"].endswith(f"@{hostile} (local)"), rec[2]["seen"]
    out = rec[4]["output"]
    assert f"@{hostile}:" in out["text"] and out["images"] == 0, out
    assert rec[5]["value"] == "undefined", "the host name's HTML ran in the page"
