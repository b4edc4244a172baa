"""sshpty under a real JupyterHub (issue 17): `jupyterhub` with `configurable-http-proxy`, PAM
logins and the local process spawner (hub_harness.py), two system users, alice and bob, each
with their own SSH key, ssh_config, known_hosts and `pass` store, and one test sshd
(`hub`) where alice's key may log in as sshpty-ops and bob's only as sshpty-tcsh.

The kernelspec is the administrator's: installed once into the package venv with
`--sys-prefix --no-local --secret-command 'pass show'`; the servers use the `ipc` transport.
The tests run in file order on one hub; the last one scans everything the hub, the proxy,
the servers and the kernels wrote (and process lists taken while secrets were in use) for
every secret the tests used.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import threading
import time
import urllib.error
from pathlib import Path

import pytest

from hub_harness import KERNEL_NAME, Hub, HubUser
from lab_driver import ARTIFACTS, BROWSER_DIR, ensure_browser_tools, run_driver, write_notebook
from package_venv import PACKAGE_TIMEOUT, package_venv, package_venv_build  # noqa: F401
from sshd_harness import ssh_lab  # noqa: F401  (fixture, used by name)

pytestmark = pytest.mark.timeout(PACKAGE_TIMEOUT)

CHP = BROWSER_DIR / "node_modules" / ".bin" / "configurable-http-proxy"
STORE_ENTRY = "sshpty/ops-sudo"


class Secrets:
    """Every secret the tests use, and the process lists taken while one was in use."""

    def __init__(self):
        self.values: dict[str, str] = {}
        self.process_lists: list[str] = []

    def add(self, what: str, value: str) -> str:
        self.values[what] = value
        return value


def _ssh_setup(user: HubUser, sshd, hosts: dict[str, str]) -> str:
    """USER's own key (made as USER), ~/.ssh/config with HOSTS (alias -> remote user) and
    known_hosts with the sshd's key; returns the public key."""
    user.run(["mkdir", "-p", "-m", "700", ".ssh"])
    # Not a default name: the `-agent` aliases log in by the agent's keys alone.
    key = user.home / ".ssh" / f"{user.name}_key"
    user.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{user.name}@hub",
              "-f", str(key)])
    blocks = []
    for alias, remote in hosts.items():
        head = f"    HostName 127.0.0.1\n    Port {sshd.port}\n    User {remote}\n"
        blocks.append(f"Host {alias}\n{head}    IdentityFile {key}\n    IdentitiesOnly yes\n")
        blocks.append(f"Host {alias}-agent\n{head}")
    user.write(".ssh/config", "\n".join(blocks))
    user.write(".ssh/known_hosts", sshd.known_hosts_line() + "\n")
    # JupyterLab's news toast would cover the bottom of the screenshots.
    user.write(".jupyter/lab/user-settings/@jupyterlab/apputils-extension/"
               "notification.jupyterlab-settings",
               json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    return Path(f"{key}.pub").read_text().strip()


def _pass_store(user: HubUser, entry: str, value: str, passphrase: str | None) -> None:
    """A gpg key (with PASSPHRASE, or none) and a `pass` store holding ENTRY = VALUE, made as
    USER; secrets go through stdin only. gpg's agent is stopped afterwards, so nothing it
    remembered from the set-up unlocks the store later."""
    gen = ["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase-fd", "0",
           "--quick-gen-key", f"{user.name} <{user.name}@hub.test>", "future-default", "default",
           "never"]
    user.run(gen, input=(passphrase or "") + "\n")
    listing = user.run(["gpg", "--batch", "--list-keys", "--with-colons"]).stdout
    fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
    user.run(["pass", "init", fpr])
    user.run(["pass", "insert", "--multiline", entry], input=value + "\n")
    user.run(["gpgconf", "--kill", "gpg-agent"], check=False)


@pytest.fixture(scope="module")
def hub(package_venv, ssh_lab, tmp_path_factory):  # noqa: F811
    if not (package_venv / "bin" / "jupyterhub-singleuser").is_file():
        pytest.fail(f"{package_venv} has no jupyterhub: package_venv.py installs it (`pip install "
                    "<repo> jupyterlab notebook jupyterhub`)", pytrace=False)
    ensure_browser_tools()
    if not CHP.exists():
        pytest.fail(f"{CHP} is missing: `npm ci` in {BROWSER_DIR}", pytrace=False)
    keys_dir = ssh_lab.run_dir / "hub-authorized-keys"
    keys_dir.mkdir(mode=0o755)
    # Keys only: a key that is not authorised is refused, not answered with a password box.
    sshd = ssh_lab.start_sshd(name="hub", AuthorizedKeysFile=keys_dir / "%u",
                              PasswordAuthentication="no", KbdInteractiveAuthentication="no")
    found = Secrets()
    found.add("sshpty-ops's sudo password", ssh_lab.password)
    h = Hub(tmp_path_factory.mktemp("hub"), package_venv, CHP)
    try:
        h.start()
        alice, bob = h.users["alice"], h.users["bob"]
        found.add("alice's hub password", alice.password)
        found.add("bob's hub password", bob.password)
        (keys_dir / "sshpty-ops").write_text(
            _ssh_setup(alice, sshd, {"ops": "sshpty-ops"}) + "\n")
        (keys_dir / "sshpty-tcsh").write_text(
            _ssh_setup(bob, sshd, {"ops": "sshpty-ops", "mine": "sshpty-tcsh"}) + "\n")
        _pass_store(alice, STORE_ENTRY, ssh_lab.password, None)
        _pass_store(bob, STORE_ENTRY, found.add("bob's store value", "bob-" + secrets.token_hex(8)),
                    found.add("bob's gpg passphrase", "gpg-" + secrets.token_hex(8)))
        h.sshd = sshd
        h.found = found
        h.servers_of = {name: h.start_server(name) for name in ("alice", "bob")}
        yield h
    finally:
        left = h.stop()
        sshd.stop()
    assert not left, f"left running after the hub stopped: {left}"


def kernel_of(hub, user: str):
    """USER's kernel of the hub's kernelspec (one per user for the module)."""
    cache = hub.__dict__.setdefault("kernels_of", {})
    if user not in cache:
        cache[user] = hub.servers_of[user].start_kernel(KERNEL_NAME)
    return cache[user]


def kernel_pid(user: HubUser) -> int:
    pids = [pid for pid, cmd in user.processes() if " kernel --connection-file " in cmd
            and "sshpty" in cmd]
    assert len(pids) == 1, f"{user.name}'s sshpty kernels: {user.processes()}"
    return pids[0]


def runtime_files(user: HubUser) -> tuple[Path, list[Path]]:
    """USER's connection file and the socket files beside it."""
    runtime = user.home / ".local" / "share" / "jupyter" / "runtime"
    conns = sorted(runtime.glob("kernel-*.json"))
    assert len(conns) == 1, f"{user.name}'s runtime dir: {sorted(runtime.iterdir())}"
    socks = sorted(p for p in runtime.iterdir() if p.is_socket())
    return conns[0], socks


def test_each_users_kernel_runs_as_that_user_with_their_own_keys(hub):
    alice, bob = hub.users["alice"], hub.users["bob"]
    ka = kernel_of(hub, "alice")
    res = ka.run("%login ops")
    assert res.status == "ok", res.describe()
    assert "sshpty-ops" in ka.run("id -un").text

    kb = kernel_of(hub, "bob")
    res = kb.run("%login ops")
    assert res.status == "error" and res.errors[0]["ename"] == "LoginFailed", res.describe()
    assert re.search(r"(?i)publickey|key", res.error_text), res.error_text
    res = kb.run("%login mine")
    assert res.status == "ok", res.describe()
    assert "sshpty-tcsh" in kb.run("id -un").text

    for user in (alice, bob):
        pid = kernel_pid(user)
        status = Path(f"/proc/{pid}/status").read_text()
        uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
        assert set(map(int, uids)) == {user.uid}, f"{user.name}'s kernel runs as {uids}"
        conn, socks = runtime_files(user)
        info = json.loads(conn.read_text())
        assert info["transport"] == "ipc", info
        assert len(socks) == 5, socks
        for p in [conn, *socks]:
            st = p.stat()
            assert st.st_uid == user.uid and st.st_mode & 0o777 == 0o600, (p, oct(st.st_mode))
        assert (conn.parent.stat().st_mode & 0o077) == 0, oct(conn.parent.stat().st_mode)
        # No TCP port of the kernel's: its sockets are all Unix ones.
        inodes = set()
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            m = re.fullmatch(r"socket:\[(\d+)\]", os.readlink(fd))
            if m:
                inodes.add(m.group(1))
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                # state 0A: LISTEN
                assert not (fields[3] == "0A" and fields[9] in inodes), \
                    f"{user.name}'s kernel listens on TCP: {line}"


ALICE_PROBE = r"""
import json, os, socket, sys
paths = json.loads(sys.argv[1])
out = {}
for what, path in paths.items():
    try:
        if what.startswith("socket"):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(3)
            s.connect(path)
            try:
                got = s.recv(64)
            except OSError as e:
                got = e
            out[what] = f"connected, read {got!r}"
        elif what.startswith("dir"):
            out[what] = f"listed {os.listdir(path)}"
        else:
            with open(path, "rb") as f:
                out[what] = f"read {len(f.read())} bytes"
    except OSError as e:
        out[what] = f"refused: {type(e).__name__}"
print(json.dumps(out))
"""


def test_an_agent_started_for_the_users_server_logs_in(hub):
    """The hub starts each server under `ssh-agent`: the kernel finds it in SSH_AUTH_SOCK, a
    socket only its user can reach, and logs in with what the user added to it."""
    alice, bob = hub.users["alice"], hub.users["bob"]
    env = Path(f"/proc/{kernel_pid(alice)}/environ").read_bytes().split(b"\0")
    sock = next(v.split(b"=", 1)[1].decode() for v in env if v.startswith(b"SSH_AUTH_SOCK="))
    assert Path(sock).stat().st_uid == alice.uid
    assert Path(sock).parent.stat().st_mode & 0o077 == 0, oct(Path(sock).parent.stat().st_mode)
    ka = kernel_of(hub, "alice")
    res = ka.run("%login ops-agent")
    assert res.status == "error" and res.errors[0]["ename"] == "LoginFailed", res.describe()
    # What a user does in a terminal of their server.
    alice.run(["ssh-add", "-q", str(alice.home / ".ssh" / "alice_key")], SSH_AUTH_SOCK=sock)
    res = ka.run("%login ops-agent")
    assert res.status == "ok", res.describe()
    assert "sshpty-ops" in ka.run("id -un").text
    # Bob cannot use it, nor add to it.
    r = bob.run(["ssh-add", "-l"], SSH_AUTH_SOCK=sock, check=False)
    assert r.returncode != 0 and "alice" not in r.stdout, r


def test_alice_reaches_nothing_of_bobs(hub):
    alice, bob = hub.users["alice"], hub.users["bob"]
    kb = kernel_of(hub, "bob")
    # A saved output of Bob's: a cell beyond its output limit.
    res = kb.run("%output-limit 2k\nseq 1 3000")
    assert res.status == "ok", res.describe()
    saved = sorted((bob.home / ".local" / "share" / "sshpty" / "outputs").glob("*.txt"))
    assert saved, "bob's cell saved no output file"
    for p in saved:
        assert p.stat().st_mode & 0o777 == 0o600 and p.stat().st_uid == bob.uid, p
    conn, socks = runtime_files(bob)
    pid = kernel_pid(bob)
    targets = {"connection file": str(conn), "dir runtime": str(conn.parent),
               "saved output": str(saved[0]), "dir outputs": str(saved[0].parent),
               "kernel environ": f"/proc/{pid}/environ", "kernel memory": f"/proc/{pid}/mem",
               "ssh key": str(bob.home / ".ssh" / "bob_key"),
               "store": str(next((bob.home / ".password-store").rglob("*.gpg"))),
               "hub log": str(hub.log_path)}
    for i, s in enumerate(socks):
        targets[f"socket {i}"] = str(s)
    r = alice.run(["/usr/bin/python3", "-c", ALICE_PROBE, json.dumps(targets)], timeout=60)
    seen = json.loads(r.stdout)
    assert set(seen) == set(targets)
    assert all(v.startswith("refused") for v in seen.values()), seen

    # Through the hub: alice's own token opens her server and not bob's.
    alice_token = hub.user_token("alice")
    assert hub.request("GET", "/user/alice/api/kernels", token=alice_token) is not None
    with pytest.raises(urllib.error.HTTPError) as e:
        hub.request("GET", "/user/bob/api/kernels", token=alice_token)
    assert e.value.code in (403, 404), e.value
    # Bob's kernel still works after all that.
    assert "sshpty-tcsh" in kb.run("%output-limit 2MB\nid -un").text


def test_the_administrators_switch_holds_in_the_hubs_kernelspec(hub):
    argv = json.loads((hub.kernelspec_dir / "kernel.json").read_text())["argv"]
    assert argv[-3:] == ["--no-local", "--secret-command", "pass show"], argv
    ka = kernel_of(hub, "alice")
    witness = f"/tmp/sshpty-hub-witness-{secrets.token_hex(4)}"
    for code in [f"!touch {witness}", f"!!\ntouch {witness}", "%login local",
                 f"%upload /etc/hostname {witness}", f"%download /etc/hostname {witness}",
                 f"%login -o ProxyCommand='touch {witness}' ops",
                 f"%sudo password-from-command touch {witness}",
                 f"%sudo password-from-command pass show x; touch {witness}",
                 f"%sudo password-from-command pass show $(touch {witness})"]:
        res = ka.run(code)
        assert res.status == "error" and res.errors[0]["ename"] == "NotAllowed", (code,
                                                                                  res.describe())
    assert not Path(witness).exists()
    # Nothing in the kernel's reach turns it off: the argv is the administrator's, and the
    # kernel still refuses after a restart of its target.
    assert ka.run("%login ops").status == "ok"
    assert ka.run(f"!touch {witness}").errors[0]["ename"] == "NotAllowed"


class ProcessWatch:
    """Process lists (every process's argv and environment names: `ps -eo args`) taken
    every 20 ms while a cell runs."""

    def __init__(self):
        self.lists: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            r = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True)
            self.lists.append(r.stdout)
            time.sleep(0.02)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)


def test_alices_sudo_password_comes_from_her_pass_store(hub):
    ka = kernel_of(hub, "alice")
    assert ka.run("%login ops").status == "ok"
    with ProcessWatch() as watch:
        res = ka.run(f"%sudo password-from-command pass show {STORE_ENTRY}")
        assert res.status == "ok", res.describe()
        res = ka.run("sudo -k; sudo id -u")
    assert res.status == "ok", res.describe()
    assert res.text.strip().splitlines()[-1] == "0", res.text
    assert not res.asked, f"an input box was opened: {res.asked}"
    hub.found.process_lists += watch.lists
    assert watch.lists, "no process list was taken while the password was in use"
    assert not any(hub.found.values["sshpty-ops's sudo password"] in p for p in watch.lists)


def test_a_store_wanting_a_passphrase_fails_at_once_saying_why(hub):
    kb = kernel_of(hub, "bob")
    assert kb.run("%login mine").status == "ok"
    t0 = time.monotonic()
    res = kb.run(f"%sudo password-from-command pass show {STORE_ENTRY}", timeout=60)
    took = time.monotonic() - t0
    assert res.status == "error" and res.errors[0]["ename"] == "SudoPassword", res.describe()
    assert "no terminal" in res.error_text and "pinentry" in res.error_text, res.error_text
    (ARTIFACTS / "hub-store-passphrase.txt").write_text(f"{took:.1f} s\n{res.error_text}\n")
    # The stated bound is 30 s (the command's process group is then killed); gpg without a
    # terminal gives up long before.
    assert took < 35, took
    assert "sshpty-tcsh" in kb.run("id -un").text


def test_in_chromium_through_the_hubs_proxy(hub):
    alice, bob = hub.users["alice"], hub.users["bob"]
    typed = f"/tmp/sshpty-hub-typed-{secrets.token_hex(4)}.txt"
    secret = hub.found.add("a password box's answer", "box-" + secrets.token_hex(8))
    nb = alice.home / "hub.ipynb"
    write_notebook(nb, KERNEL_NAME, [
        "%login ops",
        "seq 1 5000",
        "read -rsp 'Password: ' s; echo; echo \"${#s} characters\"",
        "read -rp 'name? ' n; echo \"hello $n\"",
        f"vim -u NONE -i NONE -N {typed}",
        f"cat {typed}; rm -f {typed}",
    ])
    os.chown(nb, alice.uid, alice.gid)
    bob_nb = bob.home / "bob.ipynb"
    write_notebook(bob_nb, KERNEL_NAME, ["%login ops", "%login mine", "id -un"])
    os.chown(bob_nb, bob.uid, bob.gid)
    url = f"{hub.url}/user/alice/lab/tree/hub.ipynb"
    probe = ("fetch('/user/alice/api/kernels').then(async (r) => "
             "({status: r.status, url: r.url, body: (await r.text()).slice(0, 300)}))")
    steps = [
        {"open": url, "page": "a",
         "login": {"url": f"{hub.url}/hub/login", "user": "alice", "env": "HUB_LOGIN"}},
        {"start": 0}, {"done": 0, "timeout": 60000},
        {"host": {"where": "statusbar", "state": "connected", "label": "ops"}},
        {"start": 1}, {"done": 1, "timeout": 60000},
        {"start": 2}, {"box": 2, "password": "HUB_SECRET"}, {"done": 2},
        {"start": 3}, {"box": 3, "text": "bars"}, {"done": 3},
        {"start": 4}, {"terminal": 4, "typing": True, "timeout": 30000},
        {"click": 4}, {"type": "ihello through the hub"},
        {"screen": 4, "contains": "hello through the hub"},
        {"shot": "vi"},
        {"press": "Escape"}, {"type": ":wq"}, {"press": "Enter"}, {"done": 4},
        {"start": 5}, {"done": 5},
        {"save": True},
        # Bob, in a browser session of his own: his key is refused where it is not authorised
        # and works where it is; alice's server is not his to reach.
        {"open": f"{hub.url}/user/bob/lab/tree/bob.ipynb", "page": "b",
         "login": {"url": f"{hub.url}/hub/login", "user": "bob", "env": "HUB_LOGIN_BOB"}},
        {"start": 0}, {"done": 0, "timeout": 60000},
        {"start": 1}, {"done": 1, "timeout": 60000},
        {"start": 2}, {"done": 2},
        {"eval": probe},
    ]
    work = hub.workdir / "driver"
    work.mkdir(exist_ok=True)
    env = dict(os.environ, HUB_LOGIN=alice.password, HUB_LOGIN_BOB=bob.password,
               HUB_SECRET=secret)
    result = run_driver("terminal.js", {"artifacts": str(ARTIFACTS / "lab"), "name": "hub",
                                        "steps": steps}, work, env, 300, hub)
    rec = result["steps"]
    assert not result["error"] and len(rec) == len(steps) and all(s["ok"] for s in rec), \
        f"{result['error']}\nlast step: {rec[-1] if rec else None}\n{hub.log_tail(3000)}"
    done, page = {}, None
    for s in rec:
        page = s["step"].get("page", page)
        if "done" in s["step"] and page == "a":
            done[s["step"]["done"]] = s["output"]
        elif "done" in s["step"]:
            done[("b", s["step"]["done"])] = s["output"]
    host = next(s for s in rec if "host" in s["step"])
    assert "ops" in host["seen"]["label"], host
    numbers = [line for line in done[1]["text"].splitlines() if line.isdigit()]
    assert numbers == [str(i) for i in range(1, 5001)], (len(numbers), numbers[-3:])
    assert f"{len(secret)} characters" in done[2]["text"], done[2]
    assert secret not in done[2]["text"]
    boxes = [s for s in rec if "box" in s["step"]]
    assert [b["password"] for b in boxes] == [True, False], boxes
    assert "hello bars" in done[3]["text"], done[3]
    assert "hello through the hub" in done[5]["text"], done[5]
    saved = json.loads(nb.read_text())
    assert saved["cells"][5]["outputs"], "the notebook was not saved with its outputs"
    assert "LoginFailed" in done[("b", 0)]["text"], done[("b", 0)]
    assert "sshpty-tcsh" in done[("b", 2)]["text"], done[("b", 2)]
    reach = rec[-1]["value"]
    assert not (reach["status"] == 200 and reach["body"].lstrip().startswith("[")), reach


def _files_under(root: Path) -> list[Path]:
    out = []
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            if p.is_file() and not p.is_symlink():
                out.append(p)
    return out


def test_no_secret_in_any_log_process_list_or_notebook(hub):
    """Last: everything the hub, its proxy, the servers and kernels wrote (the hub's log has
    them all: the local spawner's servers and their kernels write to its stderr), the users'
    homes (notebooks, saved outputs, Jupyter's runtime and data files, shell history), the
    test sshd's log, and the process lists taken while the sudo password was in use."""
    found = hub.found
    assert found.process_lists, "no process lists were taken (the sudo test did not run)"
    places: dict[str, bytes] = {"hub log": hub.log_path.read_bytes(),
                                "sshd log": hub.sshd.log_path.read_bytes()}
    for root in [hub.workdir, *(u.home for u in hub.users.values())]:
        for p in _files_under(root):
            if p.stat().st_size < 50_000_000:
                places[str(p)] = p.read_bytes()
    for i, listing in enumerate(found.process_lists):
        places[f"process list {i}"] = listing.encode()
    assert any("hub.ipynb" in k for k in places), sorted(places)[:20]
    assert b"sshpty kernel" in places["hub log"] or b"Kernel started" in places["hub log"]
    leaks = [(what, where) for what, value in found.values.items()
             for where, data in places.items() if value.encode() in data]
    assert not leaks, f"secrets found: {leaks}"
    (ARTIFACTS / "hub-secret-scan.txt").write_text(
        f"{len(found.values)} secrets ({', '.join(found.values)}) searched in "
        f"{len(places)} places: the hub's log, the sshd's log, "
        f"{sum(1 for k in places if k.startswith('/'))} files under the hub's directory and "
        f"the users' homes, {len(found.process_lists)} process lists\n")
