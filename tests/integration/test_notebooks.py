"""Whole notebooks through the real tools: papermill, nbclient, and the bundled runbook.

papermill: it injects `-p` parameters as a new cell written by its translator for the
notebook's language; papermill has a bash translator (`name=shell-quoted value`), chosen from
the notebook's metadata (language_info.name or kernelspec.language), so the injected cell is a
plain shell assignment that later cells read as `$name`. It does not know %param, so `{name}`
in a magic's arguments is not fed by papermill parameters.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from harness import LOCAL, PLAIN, REPO, kernel_env, plain_text

METADATA = {
    "language_info": {"name": "bash", "file_extension": ".sh", "mimetype": "text/x-sh"},
}


def notebook_with(kernel: str, cells) -> nbformat.NotebookNode:
    nb = new_notebook(cells=cells)
    nb.metadata.update(METADATA)
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "bash"}
    return nb


def stream_text(cell) -> str:
    return plain_text("".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream"))


def run_papermill(src: Path, dst: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "papermill", str(src), str(dst), *args],
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
        env=env or kernel_env(),
    )


def parameters_cell(source: str):
    c = new_code_cell(source)
    c.metadata["tags"] = ["parameters"]
    return c


def test_papermill_parameters_seen_by_later_cells(tmp_path):
    nb = notebook_with(LOCAL, [
        parameters_cell("target=nowhere\ncount=1"),
        new_code_cell('echo "target=$target count=$count"'),
    ])
    src, dst = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, src)
    r = run_papermill(src, dst, "-k", LOCAL, "-p", "target", "local", "-p", "count", "3")
    assert r.returncode == 0, r.stderr[-3000:]
    out = nbformat.read(dst, as_version=4)
    injected = [c for c in out.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "target=local" in injected[0].source, [c.source for c in out.cells]
    assert "target=local count=3" in stream_text(out.cells[-1])


def test_papermill_on_a_plain_kernel_after_login_cell(tmp_path):
    nb = notebook_with(PLAIN, [
        new_code_cell("%login local"),
        parameters_cell("target=nowhere"),
        new_code_cell('echo "target is $target"'),
    ])
    src, dst = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, src)
    r = run_papermill(src, dst, "-k", PLAIN, "-p", "target", "local")
    assert r.returncode == 0, r.stderr[-3000:]
    out = nbformat.read(dst, as_version=4)
    assert "target is local" in stream_text(out.cells[-1])


def test_papermill_value_with_spaces_and_quotes(tmp_path):
    nb = notebook_with(LOCAL, [parameters_cell("msg=x"), new_code_cell('printf "[%s]\\n" "$msg"')])
    src, dst = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, src)
    r = run_papermill(src, dst, "-k", LOCAL, "-p", "msg", "it's a \"test\"")
    assert r.returncode == 0, r.stderr[-3000:]
    out = nbformat.read(dst, as_version=4)
    assert "[it's a \"test\"]" in stream_text(out.cells[-1])


def test_papermill_fails_on_a_failing_cell(tmp_path):
    nb = notebook_with(LOCAL, [new_code_cell("false"), new_code_cell("echo never")])
    src, dst = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, src)
    r = run_papermill(src, dst, "-k", LOCAL)
    assert r.returncode != 0
    out = nbformat.read(dst, as_version=4)
    assert "never" not in stream_text(out.cells[-1])


def _nbclient(nb, kernel, allow_errors=False):
    from nbclient import NotebookClient

    NotebookClient(nb, kernel_name=kernel, timeout=60, allow_errors=allow_errors).execute(env=kernel_env())
    return nb


def test_sshkernel_style_notebook_with_param(tmp_path):
    nb = notebook_with(PLAIN, [
        new_code_cell("%param host local\n"),
        new_code_cell("%param dir /tmp"),
        new_code_cell("%login {host}"),
        new_code_cell('cd "$dir" && echo "on $host in $(pwd)"'),
        new_code_cell("%timeout 30"),
        new_code_cell("echo done"),
    ])
    _nbclient(nb, PLAIN)
    assert "on local in /tmp" in stream_text(nb.cells[3])
    assert "done" in stream_text(nb.cells[5])


def test_run_all_stops_at_the_failing_cell():
    from nbclient.exceptions import CellExecutionError

    nb = notebook_with(LOCAL, [new_code_cell("echo one"), new_code_cell("exit 4"), new_code_cell("echo three")])
    with pytest.raises(CellExecutionError):
        _nbclient(nb, LOCAL)
    assert "one" in stream_text(nb.cells[0])
    assert nb.cells[2].outputs == []


def test_header_is_saved_with_its_metadata(tmp_path):
    nb = notebook_with(PLAIN, [new_code_cell("%login local"), new_code_cell("cd /tmp && echo hi")])
    _nbclient(nb, PLAIN)
    saved = tmp_path / "saved.ipynb"
    nbformat.write(nb, saved)
    cell = nbformat.read(saved, as_version=4).cells[1]
    headers = [o for o in cell.outputs if o.output_type == "display_data"]
    assert headers, cell.outputs
    assert set(headers[0].metadata["sshpty"]) >= {"user", "host", "cwd", "started"}


def test_bundled_runbook_runs(tmp_path):
    """examples/runbook.ipynb, run on the test kernelspec (the example's own is sshpty-local)."""
    nb = nbformat.read(REPO / "examples" / "runbook.ipynb", as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "sshpty-local"
    _nbclient(nb, LOCAL)
    code = [c for c in nb.cells if c.cell_type == "code"]
    by_source = {c.source.strip(): stream_text(c) for c in code}
    assert by_source["pwd"].strip() == "/tmp/sshpty-demo"
    assert "Linux" in by_source[code[0].source.strip()]
    assert "filesystem at" in stream_text(code[-2])
    assert "\x1b[" in "".join(o.get("text", "") for o in code[-1].outputs), "ls --color lost its colour"


def test_progress_bar_saved_with_nbclient_keeps_the_final_line_only(tmp_path):
    """With the header on (live view), the saved notebook still has one line for the bar and
    no empty or duplicated output."""
    code = ("for i in $(seq 1 10000); do printf '\\rcopying %5d/10000' $i; "
            "[ $((i % 1000)) = 0 ] && sleep 0.08; done; echo; echo done")
    nb = notebook_with(PLAIN, [new_code_cell("%login local"), new_code_cell(code)])
    _nbclient(nb, PLAIN)
    saved = tmp_path / "saved.ipynb"
    nbformat.write(nb, saved)
    cell = nbformat.read(saved, as_version=4).cells[1]
    assert stream_text(cell) == "copying 10000/10000\ndone\n", cell.outputs
    assert [o.output_type for o in cell.outputs].count("display_data") == 1  # the header
    for o in cell.outputs:
        if o.output_type == "display_data":
            assert o.data.get("text/plain", "").strip(), f"an empty output: {o}"
            assert "copying" not in o.data["text/plain"], f"the live view stayed: {o}"
