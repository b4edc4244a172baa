"""The command line: --version, --help and `sshpty install` (issue 2, item 2)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from harness import BIN, LOCAL, PLAIN, REPO, sshpty


def cargo_version() -> str:
    text = (REPO / "Cargo.toml").read_text()
    m = re.search(r'^\[workspace\.package\][^\[]*?^version\s*=\s*"([^"]+)"', text, re.M | re.S)
    assert m, "no workspace version in Cargo.toml"
    return m.group(1)


def read_spec(kernel_dir: Path) -> dict:
    f = kernel_dir / "kernel.json"
    assert f.is_file(), f"{f} not written; found: {sorted(p.name for p in kernel_dir.parent.glob('*'))}"
    return json.loads(f.read_text())


def base_argv() -> list[str]:
    return [str(BIN), "kernel", "--connection-file", "{connection_file}"]


def test_version_prints_name_and_cargo_version():
    r = sshpty("--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"sshpty {cargo_version()}"


def test_help_mentions_subcommands():
    r = sshpty("--help")
    assert r.returncode == 0, r.stderr
    assert "install" in r.stdout and "kernel" in r.stdout, r.stdout


def test_install_prefix_with_every_option(tmp_path):
    r = sshpty("install", "--prefix", str(tmp_path), "--name", "k1", "--display-name", "My box",
               "--login", "local", "--no-header")
    assert r.returncode == 0, r.stderr
    spec = read_spec(tmp_path / "share" / "jupyter" / "kernels" / "k1")
    assert spec["argv"] == base_argv() + ["--login", "local", "--no-header"]
    assert spec["display_name"] == "My box"
    assert spec["language"] == "bash"
    assert spec["interrupt_mode"] == "message"


def test_a_login_the_kernel_would_refuse_is_refused_at_install_and_at_start(tmp_path):
    """`--login` is parsed as `%login` parses it, when the kernelspec is written and when the
    kernel starts: a bad one is said at once, never at a notebook's first cell."""
    r = sshpty("install", "--prefix", str(tmp_path), "--login", "-p 0 web1")
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "--login -p 0 web1: %login -p needs a port from 1 to 65535" in r.stderr, r.stderr
    assert not (tmp_path / "share" / "jupyter" / "kernels" / "sshpty").exists()
    r = sshpty("kernel", "--connection-file", str(tmp_path / "none.json"), "--login", "a b")
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "--login a b: %login takes one host" in r.stderr, r.stderr


def test_install_prefix_defaults(tmp_path):
    r = sshpty("install", "--prefix", str(tmp_path))
    assert r.returncode == 0, r.stderr
    spec = read_spec(tmp_path / "share" / "jupyter" / "kernels" / "sshpty")
    assert spec["argv"] == base_argv(), "no --login/--no-header unless asked"
    assert spec["display_name"] == "SSH (sshpty)"
    assert spec["language"] == "bash"
    assert spec["interrupt_mode"] == "message"


def test_install_argv0_is_the_absolute_binary(tmp_path):
    sshpty("install", "--prefix", str(tmp_path), "--name", "abs")
    argv0 = read_spec(tmp_path / "share" / "jupyter" / "kernels" / "abs")["argv"][0]
    assert os.path.isabs(argv0) and Path(argv0).resolve() == BIN


def test_install_login_only(tmp_path):
    sshpty("install", "--prefix", str(tmp_path), "--name", "lo", "--login", "local")
    spec = read_spec(tmp_path / "share" / "jupyter" / "kernels" / "lo")
    assert spec["argv"] == base_argv() + ["--login", "local"]


def test_install_default_is_user(tmp_path):
    env = dict(os.environ, HOME=str(tmp_path))
    env.pop("XDG_DATA_HOME", None)
    env.pop("JUPYTER_DATA_DIR", None)
    r = sshpty("install", "--name", "u1", env=env)
    assert r.returncode == 0, r.stderr
    spec = read_spec(tmp_path / ".local" / "share" / "jupyter" / "kernels" / "u1")
    assert spec["language"] == "bash"


def test_install_user_explicit(tmp_path):
    env = dict(os.environ, HOME=str(tmp_path))
    env.pop("XDG_DATA_HOME", None)
    env.pop("JUPYTER_DATA_DIR", None)
    r = sshpty("install", "--user", env=env)
    assert r.returncode == 0, r.stderr
    spec = read_spec(tmp_path / ".local" / "share" / "jupyter" / "kernels" / "sshpty")
    assert spec["display_name"] == "SSH (sshpty)"


def test_install_sys_prefix_uses_the_jupyter_on_path():
    """--sys-prefix: sys.prefix of the Python that runs the `jupyter` found on PATH (our venv)."""
    venv_bin = Path(sys.executable).parent
    assert (venv_bin / "jupyter").exists(), "the test venv has no jupyter executable"
    name = f"sshpty-sysprefix-{uuid.uuid4().hex[:8]}"
    target = Path(sys.prefix) / "share" / "jupyter" / "kernels" / name
    env = dict(os.environ, PATH=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}")
    try:
        r = sshpty("install", "--sys-prefix", "--name", name, env=env)
        assert r.returncode == 0, r.stderr
        assert read_spec(target)["argv"][0] == str(BIN)
    finally:
        shutil.rmtree(target, ignore_errors=True)


def test_install_sys_prefix_without_jupyter_fails_clearly(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))  # no jupyter anywhere
    r = sshpty("install", "--sys-prefix", "--name", "nojup", env=env)
    assert r.returncode != 0
    assert "jupyter" in (r.stderr + r.stdout).lower(), "the error should say jupyter was not found"


def test_jupyter_kernelspec_list_shows_installed_specs():
    jupyter = Path(sys.executable).parent / "jupyter"
    r = subprocess.run([str(jupyter), "kernelspec", "list", "--json"], capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    specs = json.loads(r.stdout)["kernelspecs"]
    for name in (LOCAL, PLAIN):
        assert name in specs, f"{name} missing from {sorted(specs)}"
        assert specs[name]["spec"]["language"] == "bash"
