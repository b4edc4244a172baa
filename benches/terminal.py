"""The live terminal beside JupyterLab's own terminal, a browser in the loop (issue 14).

    benches/run --terminal               # what a user runs (root: the test sshd needs it)
    python benches/terminal.py --help    # the same, driven directly

One run, one headless chromium (Debian's /usr/bin/chromium, playwright-core), one JupyterLab
(the package venv's: `pip install <repo> jupyterlab notebook`, so the sshpty extension the
repo builds) and one test sshd (tests/integration/sshd_harness.py, alias h1-ops). Sides:

  sshpty     a `%shell` cell over SSH to h1-ops: the live terminal (xterm.js 5.5, DOM renderer)
  jl-dom     JupyterLab's terminal (terminado, xterm.js 5.5) running `ssh -F CONFIG h1-ops`,
             its renderer addon disposed so xterm.js draws with its DOM renderer, as sshpty's
             does (the baseline of every ratio)
  jl-native  the same with the renderer JupyterLab picked (WebGL when the page has it, else
             the canvas addon); informational

Figures (tests/browser/terminal-bench.js has the hook; it is the same on every side):
  1. keystroke → echo drawn: KEYS single keys into `cat` on the host (its PTY echoes them),
     one at a time, sides interleaved in blocks; p50 and p99 of keydown → the first xterm
     render after the echo was parsed (also keydown → the echo's first write into xterm).
  2. `seq 1 200000` and a 10 MiB `cat` in the shell: Enter → the render that shows the line
     printed right after them (`echo` of a marker).
  3. the kernel's CPU (utime+stime of /proc/PID/stat) while the `%shell` terminal sits at its
     prompt, attached, for IDLE seconds; beside it, the same for the server's other children
     (the JupyterLab terminals' shells and ssh clients) and the server itself.

Results: benches/results/<commit>-<time>-terminal.{json,md}, each figure beside jl-dom's and the
ratio. Every wait has a deadline; the server, kernels, browser, sshd and temp files are removed
in `finally` blocks and on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

from server_harness import ARTIFACTS, JupyterServer  # noqa: E402
from sshd_harness import SSHLab  # noqa: E402

BROWSER_DIR = REPO / "tests" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
ALIAS = "h1-ops"
SEQ_N = 200_000
CAT_BYTES = 10 * 1024 * 1024
LINE = "the quick brown fox jumps over the lazy dog 0123456789 ABCDEFGHIJKLMNOPQRSTUVWXY"  # 79
IDLE_TARGET = 0.1  # % of a core
SIDES = ("sshpty", "jl-dom", "jl-native")
BASELINE = "jl-dom"


class BenchError(RuntimeError):
    pass


def log(*a) -> None:
    print("[terminal-bench]", *a, file=sys.stderr, flush=True)


def q(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(p * (len(s) - 1))))]


def summary(xs: list[float]) -> dict:
    xs = [x for x in xs if x is not None]
    if not xs:
        return {"n": 0}
    return {"n": len(xs), "p50": statistics.median(xs), "p99": q(xs, 0.99), "p90": q(xs, 0.9),
            "min": min(xs), "max": max(xs), "mean": statistics.fmean(xs)}


def ratio(a, b):
    return None if a is None or not b else a / b


# ---------------------------------------------------------------------------------------------
# Setup


def check_tools() -> None:
    if not CHROMIUM.exists():
        raise BenchError(f"{CHROMIUM} is missing: apt-get install chromium")
    if not shutil.which("node"):
        raise BenchError("node is missing (>= 20 for playwright-core)")
    if not (BROWSER_DIR / "node_modules" / "playwright-core" / "package.json").is_file():
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BROWSER_DIR,
                           capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise BenchError(f"npm ci in {BROWSER_DIR}: {(r.stdout + r.stderr)[-2000:]}")


def package_venv(args, tmp: Path) -> tuple[Path, Path | None]:
    """The venv with JupyterLab and sshpty: --venv, SSHPTY_PACKAGE_VENV, or one built now
    (`pip install <repo> jupyterlab notebook`, removed at the end: the second path)."""
    given = args.venv or os.environ.get("SSHPTY_PACKAGE_VENV")
    if given:
        venv = Path(given).resolve()
        if not (venv / "bin" / "sshpty").is_file() or not (venv / "bin" / "jupyter-lab").is_file():
            raise BenchError(f"{venv}: no bin/sshpty or bin/jupyter-lab there")
        return venv, None
    import package_venv as pv  # imports pytest; only needed here
    parent = Path(tempfile.mkdtemp(prefix="sshpty-package-", dir="/tmp"))
    parent.chmod(0o755)
    log(f"building a package venv in {parent} (pip install <repo> jupyterlab notebook; minutes)")
    try:
        built = pv.build_package_venv(parent)
    except BaseException as e:  # pytest.fail raises an Exception subclass of BaseException
        shutil.rmtree(parent, ignore_errors=True)
        raise BenchError(f"building the package venv failed: {e}") from None
    return built.path, parent


class Setup:
    def __init__(self, args):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="sshpty-term-bench-"))
        self.tmp.chmod(0o755)
        self.lab: SSHLab | None = None
        self.server: JupyterServer | None = None
        self.venv_made: Path | None = None
        self.remote_dir: str | None = None

    def start(self) -> None:
        args = self.args
        check_tools()
        self.venv, self.venv_made = package_venv(args, self.tmp)
        sshpty = self.venv / "bin" / "sshpty"
        given = args.kernel_bin or os.environ.get("SSHPTY_BIN")
        if given:
            # A copy: a build running meanwhile may replace the file.
            sshpty = self.tmp / "sshpty"
            shutil.copy2(given, sshpty)
        log(f"venv {self.venv}; kernel {sshpty}")
        t0 = time.monotonic()
        self.lab = SSHLab()
        # sshd without the harness's ClientAliveInterval=1 (OpenSSH's default is none): a
        # probe every second would be traffic the idle figure measures.
        h1 = self.lab.start_sshd(name="h1", ClientAliveInterval=None)
        home = self.tmp / "home"
        home.mkdir()
        self.cfg = self.lab.ssh_config_for(home, [h1])
        env = self.cfg.env(agent=False)
        log(f"sshd {h1.host}:{h1.port} in {time.monotonic() - t0:.1f} s")
        ssh = ["ssh", "-F", str(self.cfg.path), "-o", "BatchMode=yes", ALIAS]
        # The 10 MiB file and a directory for it on the host.
        script = (f"d=$(mktemp -d /tmp/sshpty-term-bench.XXXXXX) && "
                  f"yes '{LINE}' | head -c {CAT_BYTES - 1} > $d/10m.txt && echo >> $d/10m.txt && "
                  "echo $d")  # 10 MiB, ending with a newline (the marker's line is its own)
        cp = subprocess.run([*ssh, script], env=env, capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
        if cp.returncode != 0:
            raise BenchError(f"ssh {ALIAS}: {cp.returncode} {cp.stderr}")
        self.remote_dir = cp.stdout.strip().splitlines()[-1]
        self.ssh_argv = ssh
        self.ssh_env = env
        # The kernelspec, from the venv's sshpty (or SSHPTY_BIN), logging in to the host.
        prefix = self.tmp / "prefix"
        cp = subprocess.run([str(sshpty), "install", "--prefix", str(prefix), "--name",
                             "sshpty-bench", "--display-name", "sshpty bench", "--login", ALIAS,
                             "--no-header"], capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
        if cp.returncode != 0:
            raise BenchError(f"sshpty install: {cp.stderr}{cp.stdout}")
        senv = dict(env, PATH=f"{self.venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
                    JUPYTER_PATH=str(prefix / "share" / "jupyter"), SHELL="/bin/bash")
        for k in ("JUPYTER_CONFIG_PATH", "JUPYTER_DATA_DIR", "JUPYTERLAB_DIR", "VIRTUAL_ENV",
                  "PYTHONPATH"):
            senv.pop(k, None)
        self.server = JupyterServer(self.tmp / "lab", app="lab", env=senv, real_home=True,
                                    name="jupyter-lab-terminal-bench",
                                    python=str(self.venv / "bin" / "python"))
        config = Path(self.server.env["JUPYTER_CONFIG_DIR"])
        # window.jupyterapp (the hook reaches the xterm objects through the widgets), terminado
        # running bash (the terminal's shell, then ssh).
        (config / "jupyter_server_config.json").write_text(json.dumps({
            "ServerApp": {"terminado_settings": {"shell_command": ["/bin/bash"]}},
            "LabApp": {"expose_app_in_browser": True}}))
        settings = Path(self.server.env["JUPYTERLAB_SETTINGS_DIR"]) / "@jupyterlab"
        (settings / "apputils-extension").mkdir(parents=True, exist_ok=True)
        (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": f"c{i}",
                         "metadata": {}, "outputs": [], "source": src}
                        for i, src in enumerate(["%term 160x50", "%shell"])],
              "metadata": {"kernelspec": {"name": "sshpty-bench", "display_name": "sshpty bench",
                                          "language": "bash"}},
              "nbformat": 4, "nbformat_minor": 5}
        (self.server.root_dir / "bench.ipynb").write_text(json.dumps(nb))
        self.server.start(timeout=90)
        log(f"jupyter lab {self.server.url} (pid {self.server.proc.pid})")

    def terminal(self) -> str:
        return self.server.api("POST", "/api/terminals", {})["name"]

    def close(self) -> None:
        if self.server is not None:
            try:
                left = self.server.stop()
                if left:
                    log(f"left behind by the server (killed): {left}")
            except Exception as e:
                log(f"stopping the server: {e}")
        if self.lab is not None:
            if self.remote_dir and self.remote_dir.startswith("/tmp/sshpty-term-bench."):
                shutil.rmtree(self.remote_dir, ignore_errors=True)  # the host is this machine
            try:
                self.lab.close()
            except Exception as e:
                log(f"closing the sshd lab: {e}")
        if self.venv_made is not None:
            shutil.rmtree(self.venv_made, ignore_errors=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# The run


def run_browser(s: Setup, args) -> dict:
    sides = [x for x in SIDES if not (args.no_native and x == "jl-native")]
    token = s.server.token
    terms = [s.terminal() for _ in range(2)]
    seq_marker = "SEQ-DONE-42"
    cat_marker = "CAT-DONE-42"
    scenario = {
        "notebook": f"{s.server.url}/lab/workspaces/tb-nb?token={token}",
        "notebookPath": "bench.ipynb",
        "terminals": [f"{s.server.url}/lab/workspaces/tb-t{i}?token={token}"
                      for i in range(len(terms))],
        "terminalNames": terms,
        "sshCommand": f"ssh -F {s.cfg.path} {ALIAS}",
        "sides": sides,
        "viewport": {"width": 1600, "height": 1000},
        "keys": args.keys, "keyBlock": args.key_block, "keyGap": args.key_gap,
        "lineLength": 40,
        "seqReps": args.seq_reps, "catReps": args.cat_reps,
        # The marker's text is not in the command line (6*7 is expanded): only the echo's
        # output matches it.
        "seqCommand": f"seq 1 {SEQ_N}; echo SEQ-DONE-$((6*7))", "seqMarker": seq_marker,
        "catCommand": f"cat {s.remote_dir}/10m.txt; echo CAT-DONE-$((6*7))",
        "catMarker": cat_marker,
        "bulkTimeout": int(args.bulk_timeout * 1000), "settle": 1000,
        "idleSeconds": args.idle, "idleSettle": 5000,
        "serverPid": s.server.proc.pid,
        "artifacts": str(ARTIFACTS / "bench"), "name": "terminal-bench",
    }
    work = s.tmp / "driver"
    work.mkdir()
    (work / "scenario.json").write_text(json.dumps(scenario, indent=1))
    result_file = work / "result.json"
    log_path = ARTIFACTS / "bench" / "terminal-bench-driver.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(["node", str(BROWSER_DIR / "terminal-bench.js"),
                                 str(work / "scenario.json"), str(result_file)],
                                cwd=BROWSER_DIR, env=dict(os.environ), stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            proc.wait(timeout=args.driver_timeout)
        except subprocess.TimeoutExpired:
            log(f"the browser driver did not finish in {args.driver_timeout} s: killed")
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # chromium and its helpers
            except OSError:
                pass
            proc.wait(timeout=10)
    if not result_file.is_file():
        raise BenchError(f"the driver wrote no result (exit {proc.returncode}); log {log_path}:\n"
                         + log_path.read_text(errors="replace")[-3000:])
    r = json.loads(result_file.read_text())
    r["driver_log"] = str(log_path)
    r["scenario"] = {k: v for k, v in scenario.items() if k not in ("notebook", "terminals")}
    return r


def figures(raw: dict) -> dict:
    out: dict = {"sides": {}}
    for name, side in raw.get("sides", {}).items():
        f: dict = {"renderer": side.get("info"), "size": side.get("size")}
        keys = side.get("keys") or []
        f["key_drawn"] = summary([k["drawn"] for k in keys])
        f["key_parsed"] = summary([k["parsed"] for k in keys])
        f["key_write"] = summary([k["write"] for k in keys])
        # keydown → the websocket frame carrying the echo dispatched in the page; the rest of
        # key_write is the page's handling of that frame until term.write.
        f["key_frame"] = summary([k.get("frame") for k in keys])
        # keydown → the page's websocket send (the key leaving the page)
        f["key_sent"] = summary([k.get("sent") for k in keys])
        f["key_frame_to_write"] = summary([k["write"] - k["frame"] for k in keys
                                           if k.get("frame") is not None and k.get("write") is not None])
        for kind in ("seq", "cat"):
            runs = side.get(kind) or []
            f[kind] = summary([r["drawn"] for r in runs])
            # Runs whose last line was not drawn within --bulk-timeout (then one Enter was
            # pressed: afterNudge says whether the screen caught up, in ms).
            f[kind + "_not_drawn"] = sum(1 for r in runs if r.get("timedOut"))
            f[kind + "_runs"] = len(runs)
            f[kind + "_after_nudge_ms"] = [r.get("afterNudge") for r in runs if r.get("timedOut")]
            f[kind + "_first_write"] = summary([r["write"] for r in runs])
            f[kind + "_bytes"] = summary([r["allBytes"] for r in runs])
            f[kind + "_writes"] = summary([r["writes"] for r in runs])
            # CPU seconds during the run: the kernel's process tree (sshpty) or the JupyterLab
            # terminals' shells and ssh clients (jl-*), and the jupyter server.
            f[kind + "_cpu_own_s"] = summary([(r.get("cpu") or {}).get("own") for r in runs])
            f[kind + "_cpu_server_s"] = summary([(r.get("cpu") or {}).get("server") for r in runs])
            # The page's main thread in long tasks during the run (ms), and the text of the
            # sshpty cell's output area (the transcript under the terminal) after it.
            f[kind + "_longtasks_ms"] = summary([r.get("longtasks") for r in runs])
            f[kind + "_output_area_chars"] = summary([r.get("outputAreaChars") for r in runs])
            gaps = []
            for r in runs:
                t = [w[0] for w in r.get("trace") or []]
                gaps += [b - a for a, b in zip(t, t[1:])]
            f[kind + "_write_gap_ms"] = summary(gaps)
        out["sides"][name] = f
    base = out["sides"].get(BASELINE, {})
    me = out["sides"].get("sshpty", {})
    R = {}
    for fig, stat in (("key_drawn", "p50"), ("key_drawn", "p99"), ("key_write", "p50"),
                      ("key_write", "p99"), ("seq", "p50"), ("cat", "p50")):
        R[f"{fig}_{stat}"] = ratio((me.get(fig) or {}).get(stat), (base.get(fig) or {}).get(stat))
    out["ratios"] = R
    idle = raw.get("idle")
    if idle:
        out["idle"] = {"kernel_cpu_percent": idle["kernel"]["cpuPercent"],
                       "kernel_tree_cpu_percent": idle["kernelTree"]["cpuPercent"],
                       "terminals_cpu_percent": idle["terminals"]["cpuPercent"],
                       "server_cpu_percent": idle["server"]["cpuPercent"],
                       "seconds": idle["seconds"], "met": idle["kernel"]["cpuPercent"] < IDLE_TARGET}
    return out


def markdown(F: dict, raw: dict, env: dict) -> str:
    S = F["sides"]
    names = [n for n in SIDES if n in S]

    def ms(x, stat):
        return "—" if not x or not x.get("n") else f"{x[stat]:.1f} ms"

    def rr(r):
        return "—" if r is None else f"{r:.2f}×"

    def met(r, target=1.0):
        return "—" if r is None else ("met" if r <= target else "**missed**")

    out = [f"# sshpty live terminal vs JupyterLab's terminal — {env['commit']}"
           f"{' (dirty)' if env['dirty'] else ''}, {env['date']}", "",
           f"{env['cpus']} CPUs, {env['machine']}, Linux {env['kernel']}; load average "
           f"{env['loadavg_start'][0]:.2f} at start, {env.get('loadavg_end', [0])[0]:.2f} at end; "
           f"JupyterLab {env.get('jupyterlab')}, chromium {env.get('chromium')}, "
           f"{env['openssh']}.", "",
           "Sides: **sshpty** (`%shell` cell over SSH, xterm.js 5.5, DOM renderer); **jl-dom** "
           "(JupyterLab's terminal, terminado, running `ssh` to the same host, xterm.js 5.5, its "
           "renderer addon disposed so xterm.js draws with the DOM renderer: the baseline); "
           "**jl-native** (the same with the renderer JupyterLab picked; informational). "
           "Hook, the same on each side: keydown (capture, in the page, performance.now()) → "
           "the first xterm render after the expected text was parsed. Ratio = sshpty / jl-dom.",
           "", "| side | renderer | size | key → drawn p50 | p99 | key → first write p50 | p99 "
           "| seq 1 200000 (p50) | 10 MiB cat (p50) | bytes into xterm (seq / cat) |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for n in names:
        f = S[n]
        rend = (f.get("renderer") or {}).get("after", {}).get("kind", "?")
        size = f.get("size") or {}
        sb = (f.get("seq_bytes") or {}).get("p50")
        cb = (f.get("cat_bytes") or {}).get("p50")
        out.append(f"| {n} | {rend} | {size.get('cols')}x{size.get('rows')} | "
                   f"{ms(f['key_drawn'], 'p50')} | {ms(f['key_drawn'], 'p99')} | "
                   f"{ms(f['key_write'], 'p50')} | {ms(f['key_write'], 'p99')} | "
                   f"{ms(f.get('seq'), 'p50')} | {ms(f.get('cat'), 'p50')} | "
                   f"{'—' if sb is None else int(sb)} / {'—' if cb is None else int(cb)} |")
    for n in names:
        for kind in ("seq", "cat"):
            if S[n].get(kind + "_not_drawn"):
                out.append(f"\n**{n}: {kind}: the last line was not drawn within the timeout in "
                           f"{S[n][kind + '_not_drawn']} of {S[n][kind + '_runs']} runs** (after one "
                           f"more Enter: {S[n][kind + '_after_nudge_ms']} ms, None = still not); "
                           "the ratio below uses the runs that were drawn.")
    for kind, what in (("seq", "`seq 1 200000`"), ("cat", "the 10 MiB `cat`")):
        mine = (S.get("sshpty", {}).get(kind + "_bytes") or {}).get("p50")
        theirs = (S.get(BASELINE, {}).get(kind + "_bytes") or {}).get("p50")
        if mine and theirs and mine < 0.99 * theirs:
            out.append(f"\nsshpty's xterm was written {mine / theirs:.0%} of the bytes jl-dom's was "
                       f"for {what}: past 1 MiB held for a viewer the kernel sends the screen anew "
                       "instead of the stream (src/kernel/terminal.rs MAX_HELD), so it parsed and "
                       "drew less than the baseline did.")
    R = F["ratios"]
    out += ["", "| figure | ratio sshpty / jl-dom | target |", "|---|---|---|",
            f"| keystroke → echo drawn, p50 | {rr(R['key_drawn_p50'])} | ≤ 1.0× {met(R['key_drawn_p50'])} |",
            f"| keystroke → echo drawn, p99 | {rr(R['key_drawn_p99'])} | ≤ 1.0× {met(R['key_drawn_p99'])} |",
            f"| keystroke → echo's first write, p50 | {rr(R['key_write_p50'])} | (transport only) |",
            f"| keystroke → echo's first write, p99 | {rr(R['key_write_p99'])} | (transport only) |",
            f"| `seq 1 200000`, Enter → last line drawn | {rr(R['seq_p50'])} | ≤ 1.0× {met(R['seq_p50'])} |",
            f"| 10 MiB `cat`, Enter → last line drawn | {rr(R['cat_p50'])} | ≤ 1.0× {met(R['cat_p50'])} |"]
    out += ["", "Where a key's time goes (p50 / p99): keydown → the websocket frame carrying the "
            "echo dispatched in the page (sent: keydown → the page's websocket send); that frame → term.write (the page's handling); write → "
            "drawn.", ""]
    for n in names:
        f = S[n]
        kd, kw = f.get("key_drawn") or {}, f.get("key_write") or {}
        wd = "—" if not kd.get("n") or not kw.get("n") else \
            f"{kd['p50'] - kw['p50']:.1f} ms (difference of the p50s)"
        out.append(f"- {n}: sent {ms(f.get('key_sent'), 'p50')} / {ms(f.get('key_sent'), 'p99')}; "
                   f"frame {ms(f.get('key_frame'), 'p50')} / {ms(f.get('key_frame'), 'p99')}; "
                   f"frame → write {ms(f.get('key_frame_to_write'), 'p50')} / "
                   f"{ms(f.get('key_frame_to_write'), 'p99')}; write → drawn {wd}")
    idle = F.get("idle")
    if idle:
        out += ["", f"Idle {idle['seconds']:.0f} s, `%shell` at its prompt, attached: kernel "
                f"{idle['kernel_cpu_percent']:.3f} % of a core (target < {IDLE_TARGET} %: "
                f"{'met' if idle['met'] else '**missed**'}); the kernel's process tree "
                f"{idle['kernel_tree_cpu_percent']:.3f} %; the JupyterLab terminals' shells and ssh "
                f"clients {idle['terminals_cpu_percent']:.3f} %; the jupyter server (serving "
                f"all pages) {idle['server_cpu_percent']:.3f} %. (utime+stime, 10 ms ticks.)"]
    out += ["", "Samples: " + ", ".join(
        f"{n}: {S[n]['key_drawn'].get('n', 0)} keys, {S[n].get('seq', {}).get('n', 0)} seq, "
        f"{S[n].get('cat', {}).get('n', 0)} cat" for n in names) + "."]
    return "\n".join(out) + "\n"


def git(*a: str) -> str:
    try:
        return subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except Exception:
        return ""


def chromium_version() -> str | None:
    try:  # stdout only: Debian's wrapper script complains on stderr
        return subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True,
                              timeout=20).stdout.strip() or None
    except Exception:
        return None


def environment(venv: Path | None) -> dict:
    def out(argv):
        try:
            cp = subprocess.run(argv, capture_output=True, text=True, timeout=20)
            return (cp.stdout + cp.stderr).strip()
        except Exception:
            return None
    env = {"commit": git("rev-parse", "--short", "HEAD") or "nogit",
           "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
           "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
           "cpus": os.cpu_count(), "machine": platform.machine(), "kernel": platform.release(),
           "loadavg_start": os.getloadavg(), "openssh": out(["ssh", "-V"]),
           "chromium": chromium_version()}
    if venv is not None:
        env["jupyterlab"] = out([str(venv / "bin" / "python"), "-c",
                                 "import jupyterlab; print(jupyterlab.__version__)"])
        env["sshpty"] = out([str(venv / "bin" / "sshpty"), "--version"])
    return env


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", type=int, default=200, help="keys per side")
    ap.add_argument("--key-block", type=int, default=10, help="keys per side before switching")
    ap.add_argument("--key-gap", type=int, default=50, help="ms between a key's echo and the next key")
    ap.add_argument("--seq-reps", type=int, default=3)
    ap.add_argument("--cat-reps", type=int, default=2)
    ap.add_argument("--bulk-timeout", type=float, default=300, help="s, per seq/cat run")
    ap.add_argument("--idle", type=int, default=60, help="s of idle for the CPU figure (0: skip)")
    ap.add_argument("--no-native", action="store_true", help="skip the jl-native side")
    ap.add_argument("--venv", help="the package venv (default: $SSHPTY_PACKAGE_VENV, else built)")
    ap.add_argument("--kernel-bin", help="the kernel binary to run (copied; default: "
                    "$SSHPTY_BIN, else the venv's bin/sshpty)")
    ap.add_argument("--driver-timeout", type=float, default=1500)
    ap.add_argument("--results", default=str(REPO / "benches" / "results"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        log("needs root (the test sshd of tests/integration/sshd_harness.py)")
        return 2

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    s = Setup(args)
    try:
        s.start()
        env = environment(s.venv)
        raw = run_browser(s, args)
    except BenchError as e:
        log(f"FAILED: {e}")
        return 1
    finally:
        s.close()
    env["loadavg_end"] = os.getloadavg()
    if raw.get("error"):
        log(f"the browser driver failed: {raw['error']}\n  log: {raw['driver_log']}\n"
            f"  screenshots: {raw.get('screenshots')}")
    F = figures(raw)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    base = out / f"{env['commit']}-{stamp}-terminal"
    Path(f"{base}.json").write_text(json.dumps({"environment": env, "figures": F, "raw": raw},
                                               indent=1, default=str) + "\n")
    md = markdown(F, raw, env)
    if raw.get("error"):
        md += f"\nThe run stopped early: {raw['error'].splitlines()[0]}\n"
    Path(f"{base}.md").write_text(md)
    print(md, flush=True)
    log(f"written {base}.json and {base}.md")
    return 1 if raw.get("error") else 0


if __name__ == "__main__":
    sys.exit(main())
