"""A real JupyterLab in Debian's headless chromium, driven by tests/browser/run-notebook.js
(playwright-core from npm), for the tests a user's browser alone can show (issues 4 and 5).

    server = lab_server(tmp_path)                          # `jupyter lab`, default settings
    write_notebook(server.root_dir / "t.ipynb", LOCAL, ["echo hello", "echo after"])
    run = run_in_lab(server, "t.ipynb", [Step(0), Step(1)], name="hello")
    assert "hello" in run.lines(0)

What is needed besides the venv's jupyterlab: Debian's `chromium` (tests/run installs it; a
browser is never downloaded), node >= 20 (playwright-core's floor) and tests/browser/node_modules
(`npm ci` from the committed package-lock.json; done here when missing). Screenshots and the
server's log go to tests/artifacts/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness import REPO, plain_text
from server_harness import ARTIFACTS, JupyterServer

BROWSER_DIR = REPO / "tests" / "browser"
CHROMIUM = Path("/usr/bin/chromium")


def ensure_browser_tools() -> None:
    """Fail (not skip: CI must run these tests) naming what is missing; `npm ci` when only the
    node modules are."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (tests/run does it)",
                    pytrace=False)
    node = shutil.which("node")
    if not node:
        pytest.fail("node is missing (node >= 20 is needed by playwright-core)", pytrace=False)
    v = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=20).stdout
    m = re.match(r"v(\d+)", v.strip())
    if not m or int(m.group(1)) < 20:
        pytest.fail(f"node {v.strip()} is too old: playwright-core needs >= 20", pytrace=False)
    if not (BROWSER_DIR / "node_modules" / "playwright-core" / "package.json").is_file():
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BROWSER_DIR,
                           capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            pytest.fail(f"npm ci in {BROWSER_DIR} failed:\n{(r.stdout + r.stderr)[-3000:]}",
                        pytrace=False)


def lab_server(workdir: Path, env: dict | None = None, real_home: bool = False,
               name: str = "jupyter-lab", python: str | None = None,
               wrap: list[str] | None = None) -> JupyterServer:
    """`jupyter lab` with default server settings; the one UI setting changed is the news
    notification, whose toast would cover the bottom of the screenshots. PYTHON: whose
    JupyterLab (the package venv's, with our extension); the test venv's when not given."""
    server = JupyterServer(workdir, app="lab", env=env, real_home=real_home, name=name,
                           python=python, wrap=wrap)
    settings = Path(server.env["JUPYTERLAB_SETTINGS_DIR"]) / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    return server


def write_notebook(path: Path, kernel_name: str, sources: list[str]) -> Path:
    """An nbformat 4 notebook whose kernelspec is KERNEL_NAME, one code cell per source."""
    nb = {
        "cells": [{"cell_type": "code", "execution_count": None, "id": f"cell{i}",
                   "metadata": {}, "outputs": [], "source": src}
                  for i, src in enumerate(sources)],
        "metadata": {"kernelspec": {"name": kernel_name, "display_name": kernel_name,
                                    "language": "bash"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb, indent=1))
    return path


@dataclass
class Answer:
    kind: str  # "password" | "text" | "keys" (vim notation typed into a text box)
    value: str | None = None
    secret: str | None = None  # passed to node in its environment only, never in a file


@dataclass
class Step:
    cell: int
    answers: list[Answer] = field(default_factory=list)
    timeout: float = 30
    sample: bool = False  # keep the output area's text at every poll while the cell runs


@dataclass
class LabRun:
    result: dict
    notebook: dict | None  # the saved .ipynb, when the scenario saved it

    @property
    def steps(self) -> list[dict]:
        return self.result["steps"]

    def step(self, cell: int) -> dict:
        for s in self.steps:
            if s["index"] == cell:
                return s
        raise AssertionError(f"cell {cell} was not run:\n{self.describe()}")

    def lines(self, cell: int) -> list[str]:
        """The cell's output area as the page shows it, line by line."""
        return self.step(cell)["output"].splitlines()

    def samples(self, cell: int) -> list[list[str]]:
        """The cell's output area at each poll (~10 a second) while it ran, line by line."""
        return [t.splitlines() for t in self.step(cell)["samples"]]

    def boxes(self, cell: int) -> list[dict]:
        return self.step(cell)["boxes"]

    def saved_text(self, cell: int) -> str:
        """The saved notebook's outputs of CELL: stream text as stored (escapes removed)."""
        assert self.notebook, "the scenario did not save the notebook"
        out = []
        for o in self.notebook["cells"][cell]["outputs"]:
            if o["output_type"] == "stream":
                out.append("".join(o["text"]) if isinstance(o["text"], list) else o["text"])
            elif "data" in o:
                t = o["data"].get("text/plain", "")
                out.append("".join(t) if isinstance(t, list) else t)
        return plain_text("".join(out))

    def describe(self) -> str:
        r = self.result
        lines = [f"kernel {r.get('kernelName')!r}; driver error: {r.get('error')}"]
        for s in self.steps:
            lines.append(f"  cell {s['index']} prompt {s['prompt']} boxes {s['boxes']} "
                         f"dialog {s['dialog']!r} error {s['error']!r}")
            lines.append(f"    output {s['output'][:800]!r}")
        lines.append(f"  screenshots: {r.get('screenshots')}")
        return "\n".join(lines)

    def check_clean(self) -> "LabRun":
        """Every step ran: no driver error, no dialog (pending input), each cell finished."""
        assert not self.result.get("error"), self.describe()
        for s in self.steps:
            assert not s["error"] and not s["dialog"], self.describe()
            assert not s.get("unused"), f"cell {s['index']}: answers left unused\n{self.describe()}"
            assert re.fullmatch(r"\[\d+\]:", s["prompt"]), self.describe()
        return self


def run_driver(script: str, scenario: dict, work: Path, env: dict, timeout: float,
               server: JupyterServer) -> dict:
    """Run tests/browser/SCRIPT on SCENARIO (written to WORK/scenario.json) and return the
    result it wrote; fail with its log and the server's when it wrote none or failed."""
    (work / "scenario.json").write_text(json.dumps(scenario, indent=1))
    result_file = work / "result.json"
    log = open(work / "driver.log", "wb")
    # Its own process group: chromium and its helpers go with it if the driver must be killed.
    proc = subprocess.Popen(["node", str(BROWSER_DIR / script), str(work / "scenario.json"),
                             str(result_file)], cwd=BROWSER_DIR, env=env, stdin=subprocess.DEVNULL,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the browser
        except OSError:
            pass
        proc.wait(timeout=10)
        log.close()
    driver_log = (work / "driver.log").read_text(errors="replace")[-3000:]
    assert result_file.is_file(), (
        f"the browser driver wrote no result (exit {proc.returncode}):\n{driver_log}\n"
        f"{server.log_tail(2000)}")
    result = json.loads(result_file.read_text())
    assert proc.returncode == 0, f"the browser driver exited {proc.returncode}:\n{driver_log}"
    return result


def run_in_lab(server: JupyterServer, notebook: str, steps: list[Step], name: str,
               save: bool = True, timeout: float = 240) -> LabRun:
    """Run STEPS on NOTEBOOK (a path under the server's root) in headless chromium."""
    ensure_browser_tools()
    work = server.workdir / f"driver-{name}"
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    scenario_steps = []
    for s in steps:
        answers = []
        for j, a in enumerate(s.answers):
            if a.secret is not None:
                var = f"SSHPTY_LAB_ANSWER_{s.cell}_{j}"
                env[var] = a.secret
                answers.append({"kind": a.kind, "env": var})
            else:
                answers.append({"kind": a.kind, "value": a.value})
        scenario_steps.append({"cell": s.cell, "answers": answers, "timeout": int(s.timeout * 1000),
                               "sample": s.sample})
    scenario = {
        "url": f"{server.url}/lab/tree/{notebook}?token={server.token}",
        "artifacts": str(ARTIFACTS / "lab"), "name": name, "steps": scenario_steps, "save": save,
    }
    result = run_driver("run-notebook.js", scenario, work, env, timeout, server)
    saved = None
    if result.get("saved"):
        saved = json.loads((server.root_dir / notebook).read_text())
    return LabRun(result, saved)


def run_steps(script: str, name: str, server: JupyterServer, steps: list[dict], tmp_path: Path,
              timeout: float) -> dict:
    """Run STEPS with tests/browser/SCRIPT (a step driver: host-status.js, terminal.js), its
    screenshots named NAME-*.png in tests/artifacts/lab/; fail unless every step went."""
    work = tmp_path / "driver"
    work.mkdir()
    scenario = {"artifacts": str(ARTIFACTS / "lab"), "name": name, "steps": steps}
    result = run_driver(script, scenario, work, dict(os.environ), timeout, server)
    rec = result["steps"]
    assert not result["error"] and len(rec) == len(steps) and all(s["ok"] for s in rec), \
        f"{result['error']}\nlast step: {rec[-1] if rec else None}\n" \
        f"screenshots: {result['screenshots']}"
    return result
