"""The Python package (issue 13): `pip install <repo>` into a fresh venv puts the `sshpty`
binary and the prebuilt JupyterLab extension there, usable by every user of the environment.

The venv is package_venv.py's (built once per session, or SSHPTY_PACKAGE_VENV's). The pip
install time and the wheel's size go to tests/artifacts/package.md.
"""

from __future__ import annotations

import csv
import json
import os
import pwd
import re
import secrets
import shutil
import stat
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from harness import REPO
from package_venv import (ARTIFACTS, PACKAGE_TIMEOUT, PIP_LOG, package_venv,  # noqa: F401
                          package_venv_build, run_in, usable_by_others, venv_env)
from server_harness import free_port
from test_install import cargo_version

pytestmark = pytest.mark.timeout(PACKAGE_TIMEOUT)

EXTENSION = "sshpty-labextension"  # labextension/package.json "name"
REPORT = ARTIFACTS / "package.md"
_FACTS: dict[str, str] = {}


def extension_dir(venv: Path) -> Path:
    return venv / "share" / "jupyter" / "labextensions" / EXTENSION


def site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    assert found, f"no site-packages in {venv}"
    return found[0]


def installed_files(venv: Path) -> list[Path]:
    """Every file pip installed for the sshpty distribution (its RECORD)."""
    site = site_packages(venv)
    records = list(site.glob("sshpty-*.dist-info/RECORD"))
    assert len(records) == 1, f"sshpty dist-info in {site}: {records}"
    with open(records[0], newline="") as f:
        return [(site / row[0]).resolve() for row in csv.reader(f) if row]


@pytest.fixture(scope="module", autouse=True)
def report(package_venv_build):
    """Write tests/artifacts/package.md with what the tests measured."""
    if package_venv_build.install_seconds is not None:
        _FACTS["pip install <repo> jupyterlab notebook jupyterhub (fresh venv)"] = (
            f"{package_venv_build.install_seconds:.0f} s (log: tests/artifacts/{PIP_LOG.name})")
        log = PIP_LOG.read_text(errors="replace")
        _FACTS["in it: npm ci ran"] = "yes" if "sshpty_build: npm ci" in log else "no"
        _FACTS["in it: extension built"] = ("yes" if "sshpty_build: npm run build:prod" in log
                                            else "no (up to date)")
        compiled = len(re.findall(r"^\s*Compiling ", log, re.M))
        _FACTS["in it: crates compiled by maturin's cargo"] = str(compiled)
    else:
        _FACTS["venv"] = f"reused from SSHPTY_PACKAGE_VENV ({package_venv_build.path})"
    _FACTS["base python of the venv"] = package_venv_build.base_python
    yield
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    lines = ["# sshpty Python package (tests/integration/test_package.py)", "",
             "| what | measured |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in _FACTS.items()]
    REPORT.write_text("\n".join(lines) + "\n")


def test_sshpty_command_is_the_kernel_at_the_cargo_version(package_venv):
    r = run_in(package_venv, "sshpty", "--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"sshpty {cargo_version()}"
    assert (package_venv / "bin" / "sshpty").is_file()


def test_install_sys_prefix_writes_the_kernelspec_into_the_venv(package_venv, tmp_path):
    """`sshpty install --sys-prefix` finds the venv through the `jupyter` first on PATH."""
    r = run_in(package_venv, "sshpty", "install", "--sys-prefix", home=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    spec_file = package_venv / "share" / "jupyter" / "kernels" / "sshpty" / "kernel.json"
    assert spec_file.is_file(), r.stdout + r.stderr
    spec = json.loads(spec_file.read_text())
    assert Path(spec["argv"][0]).resolve() == (package_venv / "bin" / "sshpty").resolve()
    r = run_in(package_venv, "jupyter", "kernelspec", "list", "--json", home=tmp_path)
    assert r.returncode == 0, r.stderr
    found = json.loads(r.stdout)["kernelspecs"]
    assert "sshpty" in found, sorted(found)
    assert Path(found["sshpty"]["resource_dir"]).resolve() == spec_file.parent.resolve()


def labextension_list(venv: Path, home: Path, user: str | None = None) -> str:
    """`jupyter labextension list`, without its colours."""
    r = run_in(venv, "jupyter", "labextension", "list", home=home, user=user)
    assert r.returncode == 0, f"exit {r.returncode}:\n{r.stdout}{r.stderr}"
    return re.sub(r"\x1b\[[0-9;]*m", "", r.stdout + r.stderr)  # the list goes to stderr


def assert_listed_enabled_ok(listing: str, venv: Path) -> None:
    m = re.search(rf"^\s+{re.escape(EXTENSION)} v(\S+) (enabled|disabled)\s+(OK|X)(.*)$",
                  listing, re.M)
    assert m, f"{EXTENSION} not in `jupyter labextension list`:\n{listing}"
    version, enabled, ok, rest = m.groups()
    assert (enabled, ok) == ("enabled", "OK"), m.group(0)
    assert version == cargo_version(), f"extension {version}, Cargo {cargo_version()}"
    assert "(python, sshpty)" in rest, f"install.json not read: {m.group(0)!r}"
    # Listed under the venv's own labextensions directory: the last unindented line above.
    headers = [line for line in listing[:m.start()].splitlines() if line and not line[0].isspace()]
    assert headers and Path(headers[-1]) == extension_dir(venv).parent, listing


def test_jupyter_labextension_list_shows_it_enabled_and_ok(package_venv, tmp_path):
    assert_listed_enabled_ok(labextension_list(package_venv, tmp_path), package_venv)


def test_the_extension_is_prebuilt_with_its_toolbar_item(package_venv):
    ext = extension_dir(package_venv)
    meta = json.loads((ext / "package.json").read_text())
    load = meta["jupyterlab"]["_build"]["load"]
    assert re.fullmatch(r"static/remoteEntry\.[0-9a-f]+\.js", load), load
    assert (ext / load).is_file()
    schema = json.loads((ext / "schemas" / EXTENSION / "plugin.json").read_text())
    items = schema["jupyter.lab.toolbars"]["Notebook"]
    assert [i["name"] for i in items] == ["sshpty-host"]


def test_every_installed_file_is_readable_by_others_and_the_binary_runnable(package_venv):
    files = installed_files(package_venv)
    ours = [f for f in files if f.is_file()]
    assert package_venv.resolve() / "bin" / "sshpty" in ours
    assert any(f.name.startswith("remoteEntry.") for f in ours), "extension not in RECORD"
    bad = [f"{oct(f.stat().st_mode & 0o777)} {f}" for f in ours
           if not f.stat().st_mode & stat.S_IROTH]
    dirs = {d for f in ours for d in f.parents if package_venv.resolve() in d.parents}
    bad += [f"{oct(d.stat().st_mode & 0o777)} {d}/" for d in sorted(dirs)
            if (d.stat().st_mode & 0o005) != 0o005]
    assert not bad, "not readable by others:\n" + "\n".join(bad)
    binary = (package_venv / "bin" / "sshpty").stat().st_mode
    assert binary & stat.S_IXOTH and binary & stat.S_IXGRP, oct(binary)


@pytest.fixture
def nobody_home():
    home = Path(tempfile.mkdtemp(prefix="sshpty-nobody-", dir="/tmp"))
    os.chown(home, pwd.getpwnam("nobody").pw_uid, -1)
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="running as another user needs root")
def test_another_user_can_use_the_installed_package(package_venv, nobody_home):
    """A JupyterHub's users run what root installed into its environment."""
    assert shutil.which("setpriv"), "setpriv (util-linux) is needed to run as nobody"
    python = (package_venv / "bin" / "python").resolve()
    assert usable_by_others(package_venv / "bin" / "sshpty") and usable_by_others(python), (
        f"{package_venv} or its python ({python}) is not readable by other users: "
        "make the venv in a world-readable directory from a world-readable python3")
    r = run_in(package_venv, "sshpty", "--version", home=nobody_home, user="nobody")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == f"sshpty {cargo_version()}"
    assert_listed_enabled_ok(labextension_list(package_venv, nobody_home, user="nobody"),
                             package_venv)


def http_get(url: str, token: str) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_jupyter_lab_serves_the_extension(package_venv, tmp_path):
    """The venv's own `jupyter lab` lists the extension in its page and serves its code."""
    port, token = free_port(), secrets.token_hex(16)
    log_path = ARTIFACTS / "package-jupyter-lab.log"
    argv = [str(package_venv / "bin" / "jupyter"), "lab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}"]
    if os.geteuid() == 0:
        argv.append("--allow-root")
    env = venv_env(package_venv, tmp_path)
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "config")
    base = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, f"jupyter lab exited: see {log_path}"
                try:
                    if http_get(f"{base}/api/status", token)[0] == 200:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline, f"jupyter lab did not answer: see {log_path}"
                time.sleep(0.3)
            status, page = http_get(f"{base}/lab", token)
            assert status == 200, status
            m = re.search(rb'<script id="jupyter-config-data" type="application/json">(.*?)'
                          rb'</script>', page, re.S)
            assert m, "no page config in /lab"
            federated = json.loads(m.group(1))["federated_extensions"]
            ours = [e for e in federated if e["name"] == EXTENSION]
            assert ours, f"{EXTENSION} not among {[e['name'] for e in federated]}"
            status, body = http_get(f"{base}/lab/extensions/{EXTENSION}/{ours[0]['load']}", token)
            assert status == 200 and b"sshpty-labextension" in body, status
        finally:
            os.killpg(proc.pid, 15)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(timeout=10)


def test_wheel_holds_the_binary_and_the_extension(package_venv, tmp_path):
    """`pip wheel <repo>`: the artifact a release would upload; its size goes to package.md."""
    start = time.monotonic()
    r = subprocess.run([str(package_venv / "bin" / "python"), "-m", "pip", "wheel", str(REPO),
                        "--no-deps", "-w", str(tmp_path)], env=venv_env(package_venv),
                       capture_output=True, text=True, timeout=PACKAGE_TIMEOUT - 60,
                       stdin=subprocess.DEVNULL, cwd=tmp_path)
    seconds = time.monotonic() - start
    assert r.returncode == 0, (r.stdout + r.stderr)[-6000:]
    wheels = list(tmp_path.glob("sshpty-*.whl"))
    assert len(wheels) == 1, wheels
    wheel = wheels[0]
    assert wheel.name.startswith(f"sshpty-{cargo_version()}-py3-none-"), wheel.name
    with zipfile.ZipFile(wheel) as z:
        infos = {i.filename: i for i in z.infolist()}
    data = f"sshpty-{cargo_version()}.data"
    binary = infos.get(f"{data}/scripts/sshpty")
    assert binary is not None, sorted(infos)
    assert (binary.external_attr >> 16) & 0o111 == 0o111, oct(binary.external_attr >> 16)
    prefix = f"{data}/data/share/jupyter/labextensions/{EXTENSION}/"
    assert f"{prefix}package.json" in infos and f"{prefix}install.json" in infos, sorted(infos)
    assert any(n.startswith(f"{prefix}static/remoteEntry.") for n in infos), sorted(infos)
    size = wheel.stat().st_size
    _FACTS["wheel"] = (f"{wheel.name}: {size / 2**20:.1f} MiB "
                       f"(binary {binary.file_size / 2**20:.1f} MiB uncompressed)")
    _FACTS["pip wheel <repo> --no-deps (after the install)"] = f"{seconds:.0f} s"
