"""A real JupyterHub for the many-users tests (issue 17): `jupyterhub` from PyPI with
`configurable-http-proxy` from npm, the default PAM authenticator and local process spawner,
and two system users, alice and bob, made here.

    with Hub(workdir, venv, chp) as hub:           # jupyterhub as root on 127.0.0.1
        alice = hub.users["alice"]                 # a system user with a fresh home
        server = hub.start_server("alice")         # her single-user server, as her
        kernel = server.start_kernel("sshpty-hub") # through the hub's proxy
        kernel.run("%login ops")

The single-user environment is the package venv (package_venv.py: `pip install <repo>
jupyterlab notebook jupyterhub`, world-readable), where the hub's kernelspec is installed with
`sshpty install --sys-prefix --no-local --secret-command 'pass show'`, as an administrator
would; the hub runs from the same venv. Servers use the `ipc` transport
(`--KernelManager.transport=ipc`). The users are made anew for each hub (their homes, keys,
stores and runtime files gone with them), each with a random password for the PAM login.

Every wait has a deadline. `stop()` (also on `with` exit and at interpreter exit) stops the
servers, the hub and its proxy, kills whatever the users still run, and removes the users and
the kernelspec.
"""

from __future__ import annotations

import atexit
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from harness import Deadline
from server_harness import ServerError, ServerKernel, free_port

HUB_USERS = ("alice", "bob")
KERNEL_NAME = "sshpty-hub"
# The store command the hub's kernelspec allows under --no-local.
SECRET_COMMAND = "pass show"

_RUNNING: list["Hub"] = []


def run(argv: list[str], *, input: str | None = None, timeout: float = 60, check: bool = True,
        env: dict | None = None) -> subprocess.CompletedProcess:
    r = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout,
                       env=env, stdin=None if input is not None else subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise ServerError(f"{argv[0]} exited {r.returncode}: {r.stdout}{r.stderr}")
    return r


@dataclass
class HubUser:
    name: str
    password: str  # the system password the hub's PAM login checks
    home: Path
    uid: int
    gid: int

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a login shell of this user (no terminal)."""
        env = {"HOME": str(self.home), "USER": self.name, "LOGNAME": self.name,
               "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
        env.update(extra)
        return env

    def run(self, argv: list[str], *, input: str | None = None, timeout: float = 60,
            check: bool = True, **extra_env: str) -> subprocess.CompletedProcess:
        """ARGV as this user: setpriv drops to the uid and gid, with no other groups."""
        cmd = ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups", "--",
               *argv]
        r = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout,
                           env=self.env(**extra_env), cwd=str(self.home),
                           stdin=None if input is not None else subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise ServerError(f"as {self.name}: {' '.join(argv)} exited {r.returncode}:\n"
                              f"{r.stdout}{r.stderr}")
        return r

    def write(self, relpath: str, text: str, mode: int = 0o600) -> Path:
        """A file of the user's own in their home (directories made 0700)."""
        path = self.home / relpath
        for d in reversed([p for p in path.parents if self.home in p.parents]):
            if not d.exists():
                d.mkdir(mode=0o700)
                os.chown(d, self.uid, self.gid)
        path.write_text(text)
        path.chmod(mode)
        os.chown(path, self.uid, self.gid)
        return path

    def processes(self) -> list[tuple[int, str]]:
        """This user's live processes (zombies aside): (pid, command line)."""
        out = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if entry.stat().st_uid != self.uid:
                    continue
                if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                    errors="replace").strip()
            except OSError:
                continue
            out.append((int(entry.name), cmdline))
        return out


def _kill_user(name: str) -> None:
    for _ in range(20):
        r = subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)
        if r.returncode == 1:  # nothing matched
            return
        time.sleep(0.1)


def make_user(name: str) -> HubUser:
    """NAME as a fresh system user: whatever an earlier run left is removed first."""
    try:
        pwd.getpwnam(name)
        _kill_user(name)
        run(["userdel", "-r", name], check=False)
    except KeyError:
        pass
    run(["useradd", "--create-home", "--shell", "/bin/bash", name])
    password = "hub-" + secrets.token_urlsafe(12)
    run(["chpasswd"], input=f"{name}:{password}\n")
    pw = pwd.getpwnam(name)
    home = Path(pw.pw_dir)
    home.chmod(0o700)
    return HubUser(name, password, home, pw.pw_uid, pw.pw_gid)


def remove_user(user: HubUser) -> None:
    _kill_user(user.name)
    run(["userdel", "-r", user.name], check=False)


class HubUserServer:
    """A user's single-user server, reached through the hub's proxy with a token; what
    ServerKernel needs of a server (port, base_path, token, api, log_tail, kernels)."""

    def __init__(self, hub: "Hub", user: str, token: str):
        self.hub = hub
        self.user = user
        self.port = hub.port
        self.base_path = f"/user/{user}"
        self.token = token
        self.kernels: list[ServerKernel] = []

    @property
    def url(self) -> str:
        return f"{self.hub.url}{self.base_path}"

    def api(self, method: str, path: str, body: dict | None = None, timeout: float = 30):
        return self.hub.request(method, self.base_path + path, body, token=self.token,
                                timeout=timeout)

    def log_tail(self, chars: int = 4000) -> str:
        return self.hub.log_tail(chars)

    def start_kernel(self, kernel_name: str = KERNEL_NAME, ready_timeout: float = 60
                     ) -> ServerKernel:
        k = ServerKernel(self, kernel_name)
        self.kernels.append(k)
        k.connect(ready_timeout)
        return k


class Hub:
    """jupyterhub on 127.0.0.1 (run as root, as the local process spawner needs), its proxy
    from CHP, the users of HUB_USERS, and an API token of a service allowed to start their
    servers and reach them."""

    def __init__(self, workdir: Path, venv: Path, chp: Path):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.venv = Path(venv)
        self.chp = Path(chp).resolve()
        self.port = free_port()
        self.hub_port = free_port()
        self.proxy_api_port = free_port()
        self.service_token = secrets.token_hex(24)
        self.log_path = self.workdir / "jupyterhub.log"
        self.proc: subprocess.Popen | None = None
        self.users: dict[str, HubUser] = {}
        self.servers: dict[str, HubUserServer] = {}
        self._log = None
        self._stopped = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def kernelspec_dir(self) -> Path:
        return self.venv / "share" / "jupyter" / "kernels" / KERNEL_NAME

    def config_text(self) -> str:
        cfg = {
            "ip": "127.0.0.1", "port": self.port, "hub_ip": "127.0.0.1",
            "hub_port": self.hub_port, "proxy_api": f"http://127.0.0.1:{self.proxy_api_port}",
            "chp": [str(self.chp)], "db": f"sqlite:///{self.workdir / 'jupyterhub.sqlite'}",
            "cookie": str(self.workdir / "cookie_secret"), "pid": str(self.workdir / "hub.pid"),
            "singleuser": str(self.venv / "bin" / "jupyterhub-singleuser"),
            "users": sorted(HUB_USERS), "token": self.service_token,
        }
        return f"""# written by tests/integration/hub_harness.py
cfg = {json.dumps(cfg, indent=1)}
c.JupyterHub.ip = cfg["ip"]
c.JupyterHub.port = cfg["port"]
c.JupyterHub.hub_ip = cfg["hub_ip"]
c.JupyterHub.hub_port = cfg["hub_port"]
c.JupyterHub.db_url = cfg["db"]
c.JupyterHub.cookie_secret_file = cfg["cookie"]
c.JupyterHub.pid_file = cfg["pid"]
c.ConfigurableHTTPProxy.api_url = cfg["proxy_api"]
c.ConfigurableHTTPProxy.command = cfg["chp"]
c.ConfigurableHTTPProxy.should_start = True
# The defaults: PAM (the users' system passwords), the local process spawner (each server
# runs as its user, set up by the hub running as root).
c.JupyterHub.authenticator_class = "pam"
c.JupyterHub.spawner_class = "localprocess"
c.Authenticator.allowed_users = set(cfg["users"])
# An agent for each server (`ssh-agent COMMAND`: SSH_AUTH_SOCK in the server's environment,
# the agent gone with the server); the user adds keys to it from a terminal of theirs.
c.Spawner.cmd = ["/usr/bin/ssh-agent", cfg["singleuser"]]
c.Spawner.default_url = "/lab"
# Kernels on Unix sockets in the user's own runtime directory, not on 127.0.0.1 ports any
# local user could reach (README, "Under JupyterHub").
c.Spawner.args = ["--KernelManager.transport=ipc"]
c.Spawner.http_timeout = 120
c.Spawner.start_timeout = 120
c.JupyterHub.services = [{{"name": "sshpty-test", "api_token": cfg["token"]}}]
c.JupyterHub.load_roles = [{{
    "name": "sshpty-test",
    "scopes": ["admin:users", "admin:servers", "access:servers", "tokens"],
    "services": ["sshpty-test"],
}}]
"""

    # ---- lifecycle
    def start(self, timeout: float = 90) -> "Hub":
        for name in HUB_USERS:
            self.users[name] = make_user(name)
        self._install_kernelspec()
        config = self.workdir / "jupyterhub_config.py"
        config.write_text(self.config_text())
        env = {
            "PATH": f"{self.venv / 'bin'}:{Path(shutil.which('node') or '/usr/bin/node').parent}"
                    ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8", "HOME": str(self.workdir), "PYTHONUNBUFFERED": "1",
            "CONFIGPROXY_AUTH_TOKEN": secrets.token_hex(24),
        }
        self._log = open(self.log_path, "wb")
        # Its own process group: the proxy and the users' servers (their own sessions aside)
        # can be found and stopped with it.
        self.proc = subprocess.Popen([str(self.venv / "bin" / "jupyterhub"), "-f", str(config)],
                                     cwd=self.workdir, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        _RUNNING.append(self)
        d = Deadline(timeout, f"jupyterhub answering on {self.url}")
        while True:
            if self.proc.poll() is not None:
                raise ServerError(f"jupyterhub exited {self.proc.returncode} at start:\n"
                                  f"{self.log_tail()}")
            try:
                if "version" in self.request("GET", "/hub/api/", timeout=2):
                    return self
            except (OSError, urllib.error.URLError, json.JSONDecodeError):
                pass
            d.check(self.log_tail)
            time.sleep(0.3)

    def _install_kernelspec(self) -> None:
        env = {"PATH": f"{self.venv / 'bin'}:/usr/bin:/bin", "HOME": str(self.workdir)}
        run([str(self.venv / "bin" / "sshpty"), "install", "--sys-prefix", "--name", KERNEL_NAME,
             "--display-name", "SSH (hub)", "--no-local", "--secret-command", SECRET_COMMAND],
            env=env)

    def stop(self) -> list[str]:
        """Stop servers, hub and proxy; return the users' processes that were still left
        (and killed) once the hub had stopped their servers."""
        if self._stopped:
            return []
        self._stopped = True
        left: list[str] = []
        try:
            for server in self.servers.values():
                for k in server.kernels:
                    k.close()
            for name in list(self.servers):
                try:
                    self.request("DELETE", f"/hub/api/users/{name}/server", timeout=30)
                except (OSError, urllib.error.URLError):
                    pass
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    pass
            # gpg's agent outlives whatever started it, by design; the rest must not. The
            # ssh-agent a server ran under notices within 10 s that the server is gone.
            end = time.monotonic() + 15
            while True:
                left = [f"{user.name}: {pid} {cmd!r}" for user in self.users.values()
                        for pid, cmd in user.processes() if "gpg-agent" not in cmd]
                if not left or time.monotonic() > end:
                    break
                time.sleep(0.3)
            if self.proc is not None:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                self.proc.wait(timeout=10)
            return left
        finally:
            for user in self.users.values():
                remove_user(user)
            shutil.rmtree(self.kernelspec_dir, ignore_errors=True)
            if self._log:
                self._log.close()
            if self in _RUNNING:
                _RUNNING.remove(self)

    def __enter__(self) -> "Hub":
        return self.start()

    def __exit__(self, *exc) -> None:
        left = self.stop()
        assert exc[0] is not None or not left, f"left behind after the hub stopped: {left}"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, chars: int = 4000) -> str:
        return f"--- {self.log_path} (tail)\n" + self.log_text()[-chars:]

    # ---- REST API
    def request(self, method: str, path: str, body: dict | None = None, *,
                token: str | None = None, timeout: float = 30):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"token {token or self.service_token}",
            "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def user_token(self, user: str, note: str = "sshpty-test") -> str:
        """A token of USER's own (what the user's browser session holds: their scopes only)."""
        return self.request("POST", f"/hub/api/users/{user}/tokens", {"note": note})["token"]

    def start_server(self, user: str, timeout: float = 120) -> HubUserServer:
        """USER's server, started by the hub as USER, reached through the proxy with USER's
        own token."""
        try:
            self.request("POST", f"/hub/api/users/{user}/server", {}, timeout=timeout)
        except urllib.error.HTTPError as e:
            if e.code != 400:  # 400: already running
                raise
        d = Deadline(timeout, f"{user}'s server ready")
        while True:
            model = self.request("GET", f"/hub/api/users/{user}", timeout=10)
            server = (model.get("servers") or {}).get("")
            if server and server.get("ready"):
                break
            d.check(self.log_tail)
            time.sleep(0.5)
        s = HubUserServer(self, user, self.user_token(user))
        self.servers[user] = s
        return s


@atexit.register
def _stop_all() -> None:
    for h in list(_RUNNING):
        try:
            h.stop()
        except Exception:
            pass
