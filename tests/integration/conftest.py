"""Fixtures: the test kernelspecs (installed once per session by the binary's own installer)
and `Notebook` handles on running kernels. See harness.py for the handle itself."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import harness
from harness import BIN, LOCAL, PLAIN, REPO, Notebook, install_kernelspecs, make_test_home

FIGURES: list[str] = []


@pytest.fixture(scope="session", autouse=True)
def kernelspecs(tmp_path_factory) -> Path:
    """Install sshpty-test-local and sshpty-test-plain into a temp prefix and point Jupyter at it.

    Set in os.environ so subprocesses (papermill, jupyter kernelspec list) see the same specs.
    """
    if not BIN.is_file():
        pytest.fail(f"{BIN} does not exist: build it with `cargo build --release`", pytrace=False)
    prefix = tmp_path_factory.mktemp("prefix")
    share = install_kernelspecs(prefix)
    os.environ["JUPYTER_PATH"] = str(share)
    os.environ["JUPYTER_RUNTIME_DIR"] = str(tmp_path_factory.mktemp("runtime"))
    os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")
    harness.TEST_HOME = make_test_home(tmp_path_factory.mktemp("home"))
    return share


@pytest.fixture
def notebook():
    """Factory: notebook(kernel_name, env=None, real_home=False) -> Notebook; every one is
    closed and checked."""
    opened: list[Notebook] = []

    def make(kernel_name: str = LOCAL, env: dict | None = None, real_home: bool = False) -> Notebook:
        nb = Notebook(kernel_name, env=env, real_home=real_home)
        opened.append(nb)
        return nb

    yield make
    errors = []
    for nb in opened:
        try:
            nb.close()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)


@pytest.fixture
def local(notebook) -> Notebook:
    """A kernel installed with --login local --no-header, logged in: it logs in at its first
    cell, which may print a login line; a `true` cell takes that, so each test sees only the
    output of its own cells. (notebook(LOCAL) gives one not yet logged in.)"""
    nb = notebook(LOCAL)
    nb.ok("true")
    return nb


@pytest.fixture
def plain(notebook) -> Notebook:
    """A kernel installed without --login: no target until %login; header on."""
    return notebook(PLAIN)


@pytest.fixture
def figures():
    """Record a figure for the closing note; printed in the terminal summary."""
    return FIGURES.append


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("sshpty figures (each beside its baseline from the same run)")
        for line in FIGURES:
            terminalreporter.write_line(line)
        artifacts = REPO / "tests" / "artifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
        (artifacts / "figures.txt").write_text("\n".join(FIGURES) + "\n")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "soak: the long-session test (test_rel_soak.py); `-m 'not soak'` leaves it out")


# What the user saw: every error output (ename: evalue) of every cell a test ran, kept as the
# test's "user_saw" property in the JUnit XML (tests/reliability_table.py makes issue 7's
# table from it). Set on the item directly: record_property would warn under xunit2, whose
# schema has no per-test properties (pytest writes them all the same).
_SEEN: list[str] = []
_cell_result = harness.Cell.result


def _recording_result(self, timeout: float = 60):
    res = _cell_result(self, timeout)
    for e in res.errors:
        first = str(e.get("evalue", "")).strip().splitlines()[:1]
        _SEEN.append(f"{e.get('ename', '')}: {first[0] if first else ''}"[:240])
    return res


harness.Cell.result = _recording_result


@pytest.fixture(autouse=True)
def _user_saw(request):
    _SEEN.clear()
    yield
    if _SEEN:
        request.node.user_properties.append(("user_saw", json.dumps(list(dict.fromkeys(_SEEN)))))
