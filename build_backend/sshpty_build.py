"""The PEP 517 build backend of the sshpty Python package (pyproject.toml, backend-path).

maturin builds the `sshpty` binary and packs the wheel, with the JupyterLab extension taken
from [tool.maturin] data; but maturin cannot run npm. So this backend first builds the
extension in labextension/ (npm ci, then `npm run build:prod`), and then hands every hook over
to maturin's.

The extension is built again only when its sources changed: a stamp file holds a hash of
them, written after a build that succeeded. A second `pip install .`, or a wheel built from
the sdist (which carries the build and the stamp), needs no node.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping, Optional

import maturin

ROOT = Path(__file__).resolve().parent.parent
EXTENSION = ROOT / "labextension"
STAMP = EXTENSION / "wheel-data.sha256"
# [tool.maturin] data in pyproject.toml; the extension's outputDir is inside it.
WHEEL_DATA = EXTENSION / "wheel-data"

# What the build output depends on, relative to labextension/. Tests and lint configuration
# are left out: they do not change the build.
SOURCES = ("package.json", "package-lock.json", "tsconfig.json", "install.json", "src", "schema",
           "style", "scripts")

# The oldest node the extension's build tools run on (eslint 9 and the builder's webpack).
NODE_MAJOR_MIN = 18
NODE_HELP = (
    "Building the sshpty JupyterLab extension (labextension/) needs node >= 20 and npm, from "
    "https://nodejs.org or your distribution (Debian: apt-get install nodejs npm; bookworm's "
    "nodejs 18 also works). Or install a wheel built elsewhere: `pip wheel .` there, then "
    "`pip install sshpty-*.whl` here."
)

ConfigSettings = Optional[Mapping[str, Any]]


class ExtensionBuildError(RuntimeError):
    """The extension could not be built; the message says why and what to do."""


def sources_digest() -> str:
    """sha256 over every source file's path and content, in a fixed order."""
    digest = hashlib.sha256()
    for name in SOURCES:
        top = EXTENSION / name
        files = sorted(p for p in top.rglob("*") if p.is_file()) if top.is_dir() else [top]
        for path in files:
            digest.update(path.relative_to(EXTENSION).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() if path.is_file() else b"(missing)")
            digest.update(b"\0")
    return digest.hexdigest()


def output_dir() -> Path:
    package = json.loads((EXTENSION / "package.json").read_text())
    return EXTENSION / package["jupyterlab"]["outputDir"]


def is_built(output: Path) -> bool:
    """The output is a complete prebuilt extension: JupyterLab loads its _build.load."""
    try:
        build = json.loads((output / "package.json").read_text())["jupyterlab"]["_build"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return (output / build["load"]).is_file() and (output / "install.json").is_file()


def is_up_to_date() -> bool:
    try:
        stamp = STAMP.read_text().strip()
    except OSError:
        return False
    return stamp == sources_digest() and is_built(output_dir())


def check_node() -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing = " and ".join(n for n, p in (("node", node), ("npm", npm)) if p is None)
        raise ExtensionBuildError(f"{missing} not found on PATH. {NODE_HELP}")
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    m = re.match(r"v(\d+)\.", version)
    if m is None or int(m.group(1)) < NODE_MAJOR_MIN:
        raise ExtensionBuildError(f"{node} is {version or 'of unknown version'}. {NODE_HELP}")


def run(*argv: str) -> None:
    """Run a command in labextension/, its output on stderr (stdout is the frontend's)."""
    print(f"sshpty_build: {' '.join(argv)}", file=sys.stderr, flush=True)
    status = subprocess.run(argv, cwd=EXTENSION, stdout=sys.stderr, stdin=subprocess.DEVNULL)
    if status.returncode != 0:
        raise ExtensionBuildError(f"`{' '.join(argv)}` in {EXTENSION} exited {status.returncode}")


def install_node_modules() -> None:
    """`npm ci`, only when package-lock.json changed since the last one (as tests/run does)."""
    lock = EXTENSION / "package-lock.json"
    installed = EXTENSION / "node_modules" / ".sshpty-installed-lock"
    if installed.is_file() and installed.read_bytes() == lock.read_bytes():
        return
    run("npm", "ci", "--no-audit", "--no-fund")
    shutil.copyfile(lock, installed)


def build_extension() -> None:
    """Build the extension unless it is up to date; on failure, exit with what to do."""
    try:
        _build_extension()
    except ExtensionBuildError as e:
        sys.exit(f"error: {e}")


def _build_extension() -> None:
    if is_up_to_date():
        print("sshpty_build: labextension is up to date", file=sys.stderr, flush=True)
        return
    check_node()
    STAMP.unlink(missing_ok=True)
    install_node_modules()
    run("npm", "run", "build:prod")
    if not is_built(output_dir()):
        raise ExtensionBuildError(f"the extension build left no complete output in {output_dir()}")
    STAMP.write_text(sources_digest() + "\n")


# ---- PEP 517 hooks: the extension first where the wheel or sdist needs it, then maturin's.

def get_requires_for_build_wheel(config_settings: ConfigSettings = None) -> list[str]:
    # Nothing for the extension: node and npm are not Python packages, and the build takes
    # JupyterLab's core metadata from npm (@jupyterlab/core-meta), not from a jupyterlab.
    return maturin.get_requires_for_build_wheel(config_settings)


def get_requires_for_build_editable(config_settings: ConfigSettings = None) -> list[str]:
    return maturin.get_requires_for_build_editable(config_settings)


def get_requires_for_build_sdist(config_settings: ConfigSettings = None) -> list[str]:
    return maturin.get_requires_for_build_sdist(config_settings)


def prepare_metadata_for_build_wheel(metadata_directory: str,
                                     config_settings: ConfigSettings = None) -> str:
    # maturin refuses a [tool.maturin] data directory that does not exist, even for the
    # metadata, which needs no extension: an empty one until build_wheel builds it.
    WHEEL_DATA.mkdir(parents=True, exist_ok=True)
    return maturin.prepare_metadata_for_build_wheel(metadata_directory, config_settings)


def build_wheel(wheel_directory: str, config_settings: ConfigSettings = None,
                metadata_directory: Optional[str] = None) -> str:
    build_extension()
    return maturin.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_editable(wheel_directory: str, config_settings: ConfigSettings = None,
                   metadata_directory: Optional[str] = None) -> str:
    build_extension()
    return maturin.build_editable(wheel_directory, config_settings, metadata_directory)


def build_sdist(sdist_directory: str, config_settings: ConfigSettings = None) -> str:
    build_extension()
    return maturin.build_sdist(sdist_directory, config_settings)
