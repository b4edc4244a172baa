"""Notebooks from elsewhere run unchanged (issue 16): the original SSH Kernel's example and
integration notebooks, MetaKernel's `!` lines, `%param` as environment variables, papermill's
parameters before `%login`, and the administrator's `--no-local`.

The SSH Kernel notebooks are NII-cloud-operation/sshkernel's `examples/getting-started.ipynb`,
`examples/parameterized-notebook.ipynb`, `tests/integration/login-logout-ubuntu-18.ipynb` and
`tests/integration/parameterized-ubuntu-18.ipynb`: their code cells are written out below as
they stand there, with only the host names rewritten to the test sshd's aliases (`test`,
`ubuntu18`, `127.0.0.1`, `test.example.com` → h1-ops, h2-ops; `grep localhost` of the
known_hosts → the test host's address). Each cell must end with the status it has in the
notebook SSH Kernel saved (all ok) and show the lines its command printed there.
"""

from __future__ import annotations

import os
import pwd
import socket

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from harness import LOCAL, PLAIN, kernel_env, plain_text, sshpty
from ssh_kernel import restore_jupyter_path, ssh, ssh_servers  # noqa: F401 (fixtures)
from test_notebooks import notebook_with, parameters_cell, run_papermill

SSHKERNEL_METADATA = {
    # As the SSH Kernel notebooks have it; the tests run them on sshpty's kernelspecs.
    "kernelspec": {"display_name": "SSH", "language": "bash", "name": "ssh"},
    "language_info": {"codemirror_mode": "shell", "file_extension": ".sh",
                      "mimetype": "text/x-sh", "name": "ssh"},
}

OPS_HOME = "/home/sshpty-ops"

GETTING_STARTED = [
    "! head -n6 ~/.ssh/config",
    "! grep 127.0.0.1 ~/.ssh/known_hosts",
    "%login h1-ops",
    "pwd",
    "cd /",
    "ls -lahrt",
    "hostname",
    "ps aux",
    "%logout",
]

PARAMETERIZED = [
    "%param HOST_A h1-ops\n%param HOST_B h2-ops",
    "%login {HOST_A}",
    "echo Hey, this is HOST_A",
    "%logout",
    "%login {HOST_B}",
    'printenv |sort | grep --color=always "HOST_."',
    "echo HOST_A is $HOST_A\necho HOST_B is $HOST_B",
    "%logout",
]

# doc/ssh-kernel-how-to.ipynb, without its three `!docker` cells (they start its demo sshd;
# here the test sshd is that server). With the status each cell has in SSH Kernel's saved
# outputs, except `%python` (MetaKernel's Python magic: a clear error naming what to use).
HOW_TO = [
    ("!head -n5 ~/.ssh/config", "ok"),
    # OpenSSH reads the passwd entry's home, not $HOME: the test's client config by -F.
    ("!ssh -F ~/.ssh/config h1-ops id", "ok"),
    ("%login h1-ops", "ok"),
    ("id", "ok"),
    ("%logout", "ok"),
    ("id", "error"),  # not logged in
    ("%login notfound.invalid", "error"),
    ("!id", "ok"),
    ("%python x = 1+1", "error"),
    ("%help", "ok"),
    ("%help %login", "ok"),
    ("%help %%python", "ok"),
]

LOGIN_LOGOUT = ["%login h1-ops", "id", "%logout"]

PARAMETERIZED_INTEGRATION = ["%param TARGET_HOST h1-ops", "%login {TARGET_HOST}", "id", "%logout"]


def sshkernel_notebook(sources: list[str]) -> nbformat.NotebookNode:
    cells = [new_markdown_cell("# as in SSH Kernel's notebook")]
    cells += [new_code_cell(s) for s in sources]
    nb = new_notebook(cells=cells)
    nb.metadata.update(SSHKERNEL_METADATA)
    return nb


def outputs_by_cell(nb) -> list[str]:
    return [plain_text("".join(o.get("text", "") for o in c.outputs if o.output_type == "stream"))
            for c in nb.cells if c.cell_type == "code"]


def errors_of(nb) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for c in nb.cells if c.cell_type == "code"
            for o in c.outputs if o.output_type == "error"]


def run_nbclient(nb, env: dict):
    from nbclient import NotebookClient

    NotebookClient(nb, kernel_name=PLAIN, timeout=60).execute(env=env)
    return nb


def ssh_env(ssh) -> dict:  # noqa: F811 (the fixture's value)
    return kernel_env(ssh.env(), real_home=True)


# ---- SSH Kernel's notebooks, with nbclient and papermill


def test_sshkernel_getting_started_runs_unchanged(ssh):  # noqa: F811
    nb = run_nbclient(sshkernel_notebook(GETTING_STARTED), ssh_env(ssh))
    assert errors_of(nb) == []
    out = outputs_by_cell(nb)
    config = (ssh.home / ".ssh" / "config").read_text().splitlines()
    # `!` ran on the kernel's machine, with the kernel's HOME: the client config's first lines.
    assert out[0].splitlines() == config[:6], out[0]
    assert "ssh-ed25519" in out[1] or "ecdsa" in out[1] or "ssh-rsa" in out[1], out[1]
    assert out[3].strip() == OPS_HOME
    assert out[4].strip() == ""
    listing = out[5]
    assert " etc" in listing and " tmp" in listing and listing.startswith("total"), listing
    assert out[6].strip() == socket.gethostname(), out[6]
    assert out[7].splitlines()[0].split()[:3] == ["USER", "PID", "%CPU"], out[7]
    assert "sshpty-ops" in out[7]


def test_sshkernel_how_to_cells_end_as_they_did_there(ssh):  # noqa: F811
    from nbclient import NotebookClient

    nb = sshkernel_notebook([code for code, _ in HOW_TO])
    NotebookClient(nb, kernel_name=PLAIN, timeout=60, allow_errors=True).execute(env=ssh_env(ssh))
    code = [c for c in nb.cells if c.cell_type == "code"]
    status = ["error" if any(o.output_type == "error" for o in c.outputs) else "ok" for c in code]
    assert status == [want for _, want in HOW_TO], list(zip(status, [c.source for c in code], outputs_by_cell(nb)))
    out = outputs_by_cell(nb)
    ops = pwd.getpwnam("sshpty-ops").pw_uid
    assert out[1].startswith(f"uid={ops}(sshpty-ops)"), out[1]  # the machine's own ssh
    assert out[3].startswith(f"uid={ops}(sshpty-ops)"), out[3]
    assert out[7].startswith("uid=0(root)"), out[7]
    python_error = [o for o in code[8].outputs if o.output_type == "error"][0]
    assert "MetaKernel magic" in python_error.evalue, python_error.evalue
    assert out[10].startswith("%login [-p PORT]"), out[10]
    assert "MetaKernel magic" in out[11], out[11]


def test_sshkernel_parameterized_example_exports_its_params(ssh):  # noqa: F811
    nb = run_nbclient(sshkernel_notebook(PARAMETERIZED), ssh_env(ssh))
    assert errors_of(nb) == []
    out = outputs_by_cell(nb)
    assert out[2].strip() == "Hey, this is HOST_A"
    # printenv: programs see the params (SSH Kernel made them environment variables).
    assert out[5].splitlines() == ["HOST_A=h1-ops", "HOST_B=h2-ops"], out[5]
    assert out[6].splitlines() == ["HOST_A is h1-ops", "HOST_B is h2-ops"]


@pytest.mark.parametrize("sources", [GETTING_STARTED, PARAMETERIZED, LOGIN_LOGOUT,
                                     PARAMETERIZED_INTEGRATION],
                         ids=["getting-started", "parameterized-example", "login-logout",
                              "parameterized-integration"])
def test_sshkernel_notebooks_with_papermill(ssh, tmp_path, sources):  # noqa: F811
    src, dst = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(sshkernel_notebook(sources), src)
    r = run_papermill(src, dst, "-k", PLAIN, env=ssh_env(ssh))
    assert r.returncode == 0, r.stderr[-3000:]
    out = nbformat.read(dst, as_version=4)
    assert errors_of(out) == []
    texts = outputs_by_cell(out)
    assert len(texts) == len(sources) and all(c.execution_count for c in out.cells
                                                if c.cell_type == "code")
    if "id" in sources:
        ops = pwd.getpwnam("sshpty-ops")
        ids = [o for o in texts if o.startswith("uid=")]
        assert len(ids) == 1 and ids[0].startswith(f"uid={ops.pw_uid}(sshpty-ops)"), texts
    if sources is PARAMETERIZED:
        assert texts[5].splitlines() == ["HOST_A=h1-ops", "HOST_B=h2-ops"], texts


# ---- `!` lines: MetaKernel's rule


def test_bang_runs_on_the_kernels_machine_and_the_target_stays(ssh):  # noqa: F811
    nb = ssh.login("h1-ops")
    # The kernel runs as root; the SSH cells as sshpty-ops.
    res = nb.ok("! id -un\n!echo \"local $((6 * 7))\"\nid -un")
    assert plain_text(res.stream).splitlines()[-3:] == ["root", "local 42", "sshpty-ops"], res.describe()
    assert nb.ok("id -un").text.strip().endswith("sshpty-ops")
    # Its exit status counts: the cell fails there, and nothing after it runs.
    res = nb.run("! exit 3\necho never")
    assert res.status == "error" and "never" not in res.stream, res.describe()
    assert res.errors[0]["ename"] == "ExitStatus"
    # `!!`: the rest of the cell, several lines, on the kernel's machine.
    res = nb.ok("!!\ncd /tmp\nprintf '%s@%s\\n' \"$(id -un)\" \"$PWD\"")
    assert "root@/tmp" in res.stream, res.describe()
    # bash's own `!` (negation) inside a cell is bash's.
    res = nb.ok("id -un\n! false")
    assert res.text.strip().endswith("sshpty-ops")


def test_bang_never_shows_local_as_the_notebooks_host(ssh):  # noqa: F811
    """The status bar (the `sshpty.host` comm) keeps the notebook's host while a `!` line
    logs in to `local` and runs there."""
    from test_presence import Comm

    nb = ssh.login("h1-ops")
    comm = Comm(nb)
    comm.state("connected", timeout=10)
    res = nb.ok("! sleep 1.2; echo on-the-kernel-machine")
    assert "on-the-kernel-machine" in res.stream, res.describe()
    seen = [m["content"]["data"] for m in comm.quiet_for(0.6) if m["msg_type"] == "comm_msg"]
    assert all(d.get("target") == "h1-ops" and d.get("state") == "connected" for d in seen), seen
    comm.send({"request": "presence"})
    now = comm.wait(lambda d: True, 5, "an answer to request presence")
    assert now["target"] == "h1-ops" and now["state"] == "connected", now


def test_bang_before_any_login_leaves_no_target(notebook):
    nb = notebook(PLAIN)
    res = nb.ok("! echo from-the-kernel-machine")
    assert "from-the-kernel-machine" in res.stream
    # The notebook has not logged in anywhere: a shell cell still says how to.
    res = nb.run("echo where")
    assert res.status == "error" and res.errors[0]["ename"] == "NoTarget", res.describe()


# ---- papermill parameters before %login


def test_papermill_parameters_before_login_reach_the_host(ssh, tmp_path):  # noqa: F811
    # An sshpty notebook (language bash: papermill has no translator for SSH Kernel's "ssh";
    # `papermill --language bash` gives one to those).
    nb = notebook_with(PLAIN, [
        parameters_cell("HOST=nowhere\nGREETING='hi there'"),
        new_code_cell("%login {HOST}"),
        new_code_cell('echo "$GREETING from $(id -un) via $HOST"'),
    ])
    src, dst = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, src)
    r = run_papermill(src, dst, "-k", PLAIN, "-p", "HOST", "h1-ops",
                      "-p", "GREETING", "it's \"quoted\"", env=ssh_env(ssh))
    assert r.returncode == 0, r.stderr[-3000:]
    out = nbformat.read(dst, as_version=4)
    assert errors_of(out) == []
    assert "it's \"quoted\" from sshpty-ops via h1-ops" in outputs_by_cell(out)[-1]


def test_shell_text_before_login_is_still_an_error(notebook):
    nb = notebook(PLAIN)
    res = nb.run("A=1\necho $A")
    assert res.status == "error" and res.errors[0]["ename"] == "NoTarget", res.describe()


# ---- the administrator's switch


NO_LOCAL = "sshpty-test-no-local"


@pytest.fixture(scope="module")
def no_local_kernelspec(kernelspecs, tmp_path_factory):
    prefix = tmp_path_factory.mktemp("no-local")
    r = sshpty("install", "--prefix", str(prefix), "--name", NO_LOCAL, "--no-local", "--no-header")
    assert r.returncode == 0, r.stderr
    share = prefix / "share" / "jupyter"
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join([str(share)] + ([old] if old else []))
    yield share / "kernels" / NO_LOCAL
    restore_jupyter_path(old)


def test_no_local_refuses_what_runs_on_the_kernels_machine(notebook, no_local_kernelspec, tmp_path):
    import json

    argv = json.loads((no_local_kernelspec / "kernel.json").read_text())["argv"]
    assert "--no-local" in argv
    nb = notebook(NO_LOCAL)
    witness = tmp_path / "ran"
    refused = [
        f"! touch {witness}",
        f"!!\ntouch {witness}",
        "%login local",
        f"%sudo password-from-command 'touch {witness}'",
        f"%login -o ProxyCommand='touch {witness}' h1-ops",
        f"%login -F {tmp_path}/config h1-ops",
        f"%upload {tmp_path}/x /tmp/x",
        f"%download /etc/hostname {witness}",
    ]
    for code in refused:
        res = nb.run(code)
        assert res.status == "error" and res.errors[0]["ename"] == "NotAllowed", res.describe()
        assert "--no-local" in res.error_text
    assert not witness.exists()
    # The rest of the kernel works: its magics, and logging in to a server is not refused
    # (this one fails for want of a host, with the usual error).
    assert "sshpty magics" in nb.ok("%help").stream
    res = nb.run("%login -p 1 nobody@127.0.0.1")
    assert res.errors[0]["ename"] == "LoginFailed", res.describe()


def test_no_local_with_login_local_is_refused_at_install(tmp_path):
    r = sshpty("install", "--prefix", str(tmp_path), "--login", "local", "--no-local")
    assert r.returncode != 0 and "--no-local" in r.stderr
    assert not (tmp_path / "share").exists()


def test_secret_command_needs_no_local_and_plain_words(tmp_path):
    r = sshpty("install", "--prefix", str(tmp_path), "--secret-command", "pass show")
    assert r.returncode != 0 and "--no-local" in r.stderr, r.stderr
    r = sshpty("install", "--prefix", str(tmp_path), "--no-local", "--secret-command",
               "pass show; id")
    assert r.returncode != 0 and "shell syntax" in r.stderr, r.stderr
    assert not (tmp_path / "share").exists()
    r = sshpty("install", "--prefix", str(tmp_path), "--no-local", "--secret-command",
               "vault kv get", "--secret-command", "pass show")
    assert r.returncode == 0, r.stderr
    import json
    argv = json.loads((tmp_path / "share/jupyter/kernels/sshpty/kernel.json").read_text())["argv"]
    assert argv[-5:] == ["--no-local", "--secret-command", "vault kv get", "--secret-command",
                         "pass show"], argv


def test_local_kernel_params_are_exported(notebook):
    nb = notebook(LOCAL)
    nb.ok("%param REGION eu-west")
    assert nb.ok("printenv REGION").text.strip() == "eu-west"
    assert nb.ok("bash -c 'echo child:$REGION'").text.strip() == "child:eu-west"
