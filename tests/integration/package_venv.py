"""A fresh Python venv with sshpty installed by `pip install <repo> jupyterlab notebook
jupyterhub`, the real from-source build of issue 13 (cargo for the binary, npm for the
JupyterLab extension), a JupyterHub single-user environment as an administrator makes one,
made once per pytest session and shared by every test that asks for it:

    from package_venv import PACKAGE_TIMEOUT, package_venv  # noqa: F401 (the fixture)

    pytestmark = pytest.mark.timeout(PACKAGE_TIMEOUT)  # the first user pays for the build

    def test_it(package_venv):
        run_in(package_venv, "sshpty", "--version")

SSHPTY_PACKAGE_VENV=<dir> names a venv made that way already (tests/run may make it once):
it is used as it is, and not removed.

The venv lives in a world-readable directory of its own under /tmp, not in pytest's tmp_path
(/tmp/pytest-of-root is 0700), so a test can run its commands as another user, as the users of
a JupyterHub's environment would. Its base interpreter is one that other users can run too.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import REPO

# pip's whole from-source build: cargo build of the kernel when target/ is cold, npm ci and the
# extension build, and the download of jupyterlab and notebook.
PIP_TIMEOUT = 20 * 60
# For the tests that use the venv: the first of them builds it.
PACKAGE_TIMEOUT = PIP_TIMEOUT + 5 * 60

ENV_VAR = "SSHPTY_PACKAGE_VENV"
ARTIFACTS = REPO / "tests" / "artifacts"
PIP_LOG = ARTIFACTS / "package-pip-install.log"

# Variables of the test session that would point the venv's Jupyter at other places
# (conftest sets JUPYTER_PATH to the test kernelspecs).
_JUPYTER_VARS = ("JUPYTER_PATH", "JUPYTER_CONFIG_DIR", "JUPYTER_CONFIG_PATH", "JUPYTER_DATA_DIR",
                 "JUPYTER_RUNTIME_DIR", "JUPYTERLAB_DIR", "JUPYTERLAB_SETTINGS_DIR",
                 "JUPYTERLAB_WORKSPACES_DIR", "PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")


@dataclass(frozen=True)
class PackageVenv:
    path: Path
    # Seconds `pip install` took; None when the venv came from SSHPTY_PACKAGE_VENV.
    install_seconds: float | None
    base_python: str


def usable_by_others(path: Path) -> bool:
    """Whether any user can reach and read PATH (every directory above it searchable)."""
    path = path.resolve()
    try:
        if not path.stat().st_mode & stat.S_IROTH:
            return False
        return all(p.stat().st_mode & stat.S_IXOTH for p in path.parents)
    except OSError:
        return False


def base_prefix(python: str) -> Path | None:
    r = subprocess.run([python, "-c", "import os, sys; print(os.__file__)"], capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    return Path(r.stdout.strip()) if r.returncode == 0 and r.stdout.strip() else None


def pick_base_python() -> str:
    """A python3 whose interpreter and standard library other users can read: the venv's
    python is a link to it. The one on PATH may live under /root (pyenv); Debian's does not."""
    candidates = [c for c in (shutil.which("python3"), "/usr/bin/python3") if c]
    for python in candidates:
        stdlib = base_prefix(python)
        if stdlib is not None and usable_by_others(Path(python)) and usable_by_others(stdlib):
            return python
    return candidates[0]


def venv_env(venv: Path, home: Path | None = None) -> dict[str, str]:
    """The environment of a user of VENV: its bin/ first on PATH, none of the test session's
    Jupyter settings, and HOME a directory of the test's (so no ~/.local/share/jupyter of the
    machine's user is read)."""
    env = {k: v for k, v in os.environ.items() if k not in _JUPYTER_VARS}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    if home is not None:
        env["HOME"] = str(home)
    return env


def run_in(venv: Path, *argv: str, home: Path | None = None, timeout: float = 120,
           user: str | None = None) -> subprocess.CompletedProcess:
    """Run ARGV (argv[0] looked up in the venv's bin/) as a user of the venv; as USER when
    given (we run as root: setpriv drops to that user's uid and gid, with no other groups)."""
    exe = venv / "bin" / argv[0]
    cmd = [str(exe) if exe.exists() else argv[0], *argv[1:]]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user_group(user)}", "--clear-groups",
               "--", *cmd]
    return subprocess.run(cmd, env=venv_env(venv, home), capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL, cwd="/")


def user_group(user: str) -> int:
    return pwd.getpwnam(user).pw_gid


def build_package_venv(parent: Path) -> PackageVenv:
    """python3 -m venv, then one `pip install <repo> jupyterlab notebook jupyterhub`, its log
    kept: a JupyterHub single-user environment as an administrator builds one (jupyterhub
    brings `jupyterhub-singleuser`; test_hub.py also runs the hub itself from it)."""
    python = pick_base_python()
    venv = parent / "venv"
    r = subprocess.run([python, "-m", "venv", str(venv)], capture_output=True, text=True,
                       timeout=300, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"{python} -m venv {venv} failed:\n{r.stdout}{r.stderr}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    cmd = [str(venv / "bin" / "python"), "-m", "pip", "install", "-v", str(REPO), "jupyterlab",
           "notebook", "jupyterhub"]
    start = time.monotonic()
    with open(PIP_LOG, "w") as log:
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        try:
            r = subprocess.run(cmd, env=venv_env(venv), stdout=log, stderr=subprocess.STDOUT,
                               timeout=PIP_TIMEOUT, stdin=subprocess.DEVNULL, cwd=parent)
        except subprocess.TimeoutExpired:
            pytest.fail(f"pip install did not finish in {PIP_TIMEOUT} s; log: {PIP_LOG}",
                        pytrace=False)
    seconds = time.monotonic() - start
    if r.returncode != 0:
        tail = PIP_LOG.read_text(errors="replace")[-6000:]
        pytest.fail(f"pip install {REPO} exited {r.returncode} (log: {PIP_LOG}):\n{tail}",
                    pytrace=False)
    return PackageVenv(venv, seconds, python)


@pytest.fixture(scope="session")
def package_venv_build():
    """The PackageVenv of this session: SSHPTY_PACKAGE_VENV's, or one built now and removed
    at the end of the session."""
    given = os.environ.get(ENV_VAR)
    if given:
        venv = Path(given).resolve()
        assert (venv / "bin" / "sshpty").is_file(), \
            f"{ENV_VAR}={given}: no bin/sshpty there; make one with " \
            "`python tests/integration/package_venv.py DIR`"
        cfg = (venv / "pyvenv.cfg").read_text() if (venv / "pyvenv.cfg").is_file() else ""
        home = next((line.split("=", 1)[1].strip() for line in cfg.splitlines()
                     if line.split("=", 1)[0].strip() == "home"), "?")
        yield PackageVenv(venv, None, f"{home}/python3 (pyvenv.cfg home)")
        return
    # tempfile.mkdtemp makes it 0700; others must reach the venv inside.
    parent = Path(tempfile.mkdtemp(prefix="sshpty-package-", dir="/tmp"))
    parent.chmod(0o755)
    try:
        yield build_package_venv(parent)
    finally:
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture(scope="session")
def package_venv(package_venv_build) -> Path:
    """The path of a venv where `pip install <repo> jupyterlab notebook jupyterhub` was run."""
    return package_venv_build.path


if __name__ == "__main__":
    # Make one by hand, for SSHPTY_PACKAGE_VENV: python tests/integration/package_venv.py DIR
    target = Path(sys.argv[1]).resolve()
    target.mkdir(parents=True, exist_ok=True)
    built = build_package_venv(target)
    print(f"{built.path} ({built.install_seconds:.0f} s)")
