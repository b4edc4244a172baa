"""Secrets never leak (issues 5 and 7): a login password, sudo's password, and passwords
typed into programs are absent from every IOPub message, the kernel's log at its most
verbose level, the history, the notebook saved from the outputs (as nbclient saves it), and
the host's process list."""

from __future__ import annotations

import json

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, output_from_msg

from harness import PLAIN, Notebook
from ssh_kernel import (  # noqa: F401  (fixtures are used by name)
    all_iopub_text,
    answering,
    ssh,
    ssh_servers,
)


def saved_notebook(nb: Notebook, path) -> str:
    """The notebook a client saves from these cells' outputs (nbclient's way)."""
    cells = []
    for msg_id, msgs in nb._iopub.items():
        code = next((m["content"]["code"] for m in msgs if m["msg_type"] == "execute_input"), None)
        if code is None:
            continue
        cell = new_code_cell(code)
        for m in msgs:
            if m["msg_type"] in ("stream", "display_data", "error", "execute_result"):
                cell.outputs.append(output_from_msg(m))
        cells.append(cell)
    nbformat.write(new_notebook(cells=cells), str(path))
    return path.read_text()


def test_no_secret_anywhere(ssh, tmp_path):
    log = tmp_path / "kernel.log"
    typed_secret = "Typed-Secret-4821"
    echoed_secret = "Echoed-Secret-9377"
    nb = Notebook(PLAIN, env={**ssh.env(agent=False), "SSHPTY_LOG": "debug"}, real_home=True,
                  stderr_path=log)
    try:
        secrets = [ssh.lab.password, typed_secret, echoed_secret]
        answering(nb, "%login h1-ops-pw", [("(?i)password", ssh.lab.password)]).result.ok()
        a = answering(nb, "sudo -k; sudo whoami",
                      [(r"^\[sudo\] password for sshpty-ops:$", ssh.lab.password)])
        assert a.result.ok().lines == ["root"]
        answering(nb, "read -s -p 'Passphrase: ' x; echo; echo ${#x}",
                  [("Passphrase:", typed_secret)]).result.ok()
        res = answering(nb, "read -p 'Password: ' y; echo \"${#y}\"",
                        [("Password:", echoed_secret)]).result.ok()
        assert res.lines == [str(len(echoed_secret))]
        # Remembered sudo answers without a box: still nowhere.
        assert nb.ok("sudo true").status == "ok"
        procs = ssh.remote_processes("h1-ops", "|".join(secrets))
        history = json.dumps(nb.history(hist_access_type="tail", n=100, output=True))
        iopub = all_iopub_text(nb)
        saved = saved_notebook(nb, tmp_path / "saved.ipynb")
    finally:
        nb.close()
    kernel_log = log.read_text(errors="replace")
    assert "[sshpty DEBUG]" in kernel_log, \
        "the log must be at its most verbose for this test to mean anything"
    for s in secrets:
        for where, text in [("IOPub", iopub), ("history", history), ("kernel log", kernel_log),
                            ("saved notebook", saved)]:
            assert s not in text, f"a secret is in the {where}"
    assert not procs, procs
