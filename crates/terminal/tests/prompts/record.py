#!/usr/bin/env python3
"""Record real programs through a PTY for the prompt-detection corpora (tests/prompts.rs).

Two corpora, each a directory of NAME.bin (the bytes the program wrote) and NAME.chunks (one
line per read from the PTY: the end offset of the bytes read so far and the quiet time in
milliseconds that followed, the pause points the replay inserts idle time at):

* ordinary/: output that must never be taken for a prompt (apt, pip, curl, wget, rsync, dd,
  ping, a journal stream, ls): each runs to its end.
* prompts/: programs waiting for an answer. Recorded until the output has been quiet for
  QUIET seconds with the program waiting; then Ctrl-C ends it and the part after the
  prompt is not kept. Nothing is ever answered, so no password is ever typed.
  The expected kind and text are in prompts/expected.tsv (kept by hand).

    python3 record.py              # everything
    python3 record.py wget ssh     # recipes whose name contains one of the words

Needs root (to run programs as the test user sshpty-ops, see tests/integration/
sshd_harness.py, and an sshd on 127.0.0.1), rsync and iputils-ping, and network access to
the configured apt mirror and PyPI for apt_update, apt_download and pip_download.
"""
import faulthandler
import http.server
import os
import pty
import select
import shutil
import signal
import socketserver
import struct
import subprocess
import sys
import tempfile
import termios
import fcntl
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
COLS, ROWS = 120, 30
QUIET = 1.5
WORK = tempfile.mkdtemp(prefix="sshpty-prompt-rec-")
os.chmod(WORK, 0o755)
MARKER = "m4rk3r"
OPS = "sshpty-ops"

# ---- a throttled HTTP server: a download that crawls and stalls -------------------------

BLOB = os.urandom(3 << 20)


class Slow(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(BLOB)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        step = 48 << 10
        for i in range(0, len(BLOB), step):
            try:
                self.wfile.write(BLOB[i:i + step])
                self.wfile.flush()
            except OSError:
                return
            # A stall of 2.5 s a third of the way in (a pausing download), else a crawl.
            time.sleep(2.5 if i == (len(BLOB) // 3) // step * step else 0.06)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


HTTPD = Server(("127.0.0.1", 0), Slow)
threading.Thread(target=HTTPD.serve_forever, daemon=True).start()
URL = f"http://127.0.0.1:{HTTPD.server_address[1]}/blob.bin"

# A slow producer for dd: 64 KiB every 40 ms for ~4 s, so dd's once-a-second progress shows.
SLOWGEN = f"{sys.executable} -c 'import sys,time\nfor i in range(100):\n sys.stdout.buffer.write(bytes(65536)); sys.stdout.flush(); time.sleep(0.04)'"

# A journalctl -f style stream: syslog lines arriving with pauses between them.
JOURNAL = r'''
import time, random
random.seed(7)
units = ["systemd[1]", "sshd[812]", "kernel", "cron[455]", "nginx[1021]", "dockerd[733]"]
msgs = ["Started Session 42 of User ops.", "Accepted publickey for ops from 10.0.0.5 port 52144 ssh2: ED25519 SHA256:abc",
        "pam_unix(sshd:session): session opened for user ops(uid=1001) by (uid=0)", "Reloading.",
        "(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)", "Password: changed for ops",
        "Starting Daily apt download activities...", "Finished Daily apt download activities.",
        "EXT4-fs (sda1): re-mounted. Opts: (null). Quota mode: none.", "level=info msg=\"Container started\" id=3f2a"]
for i in range(40):
    t = time.strftime("%b %d %H:%M:%S", time.gmtime(1700000000 + i * 7))
    print("%s web1 %s: %s" % (t, random.choice(units), random.choice(msgs)), flush=True)
    time.sleep(random.choice([0.01, 0.05, 0.3, 0.6]))
'''

SSH_OPTS = "-o UserKnownHostsFile={k} -o PubkeyAuthentication={pk} -o PreferredAuthentications={pa} -o BatchMode=no -p {port}"


def as_ops(cmd):
    """Run as the test user (the recorder drops to it before exec, keeping the PTY as the
    controlling terminal; `su -c` would start a new session without one)."""
    return ("@" + OPS, cmd)


def sh_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


ORDINARY = {
    "ls_color": "ls --color=always -l /etc | head -n 60",
    "apt_update": "apt-get update",
    "apt_dry_run": "apt-get install --dry-run --no-install-recommends hello cowsay",
    "apt_download": "cd {work} && apt-get download hello",
    "pip_download": "{py} -m pip download --no-deps --no-cache-dir --progress-bar on -d {work}/pip setuptools==69.5.1",
    "curl_progress": "curl -o /dev/null " + URL,
    "curl_hash_bar": "curl -# -o /dev/null " + URL,
    "wget_progress": "wget -O /dev/null " + URL,
    "wget_dot": "wget --progress=dot:mega -O /dev/null " + URL,
    "rsync_progress": "{py} -c 'import sys; sys.stdout.buffer.write(bytes(40 << 20))' > {work}/big && "
                      "rsync --progress --bwlimit=8000 {work}/big {work}/big.copy",
    "dd_progress": SLOWGEN + " | dd of=/dev/null bs=64k iflag=fullblock status=progress",
    "ping": "ping -c 5 -i 0.5 127.0.0.1",
    "journal_stream": "{py} -c " + sh_quote(JOURNAL),
}

PROMPTS = {
    "read_p": "read -p 'name? ' n",
    "read_p_password": "read -p 'Password: ' p",
    "read_s_password": "read -s -p 'Password: ' p",
    "python_input": "{py} -c \"input('q? ')\"",
    "su": as_ops("su - root -c true"),
    "passwd": as_ops("passwd"),
    "sudo_classic": as_ops(f"sudo -k; sudo -p '[sshpty:{MARKER}] password for %p: ' true"),
    "sudo_classic_env": as_ops(f"sudo -k; SUDO_PROMPT='[sshpty:{MARKER}] password for %p: ' sudo true"),
    "sudo_plain": as_ops("sudo -k; sudo true"),
    "ssh_host_key": "ssh " + SSH_OPTS.format(k="{work}/kh_empty", pk="no", pa="password", port="{port}") + f" {OPS}@127.0.0.1 true",
    "ssh_password": "ssh " + SSH_OPTS.format(k="{work}/kh", pk="no", pa="password", port="{port}") + f" {OPS}@127.0.0.1 true",
    "ssh_passphrase": "ssh " + SSH_OPTS.format(k="{work}/kh", pk="yes", pa="publickey", port="{port}") + " -i {work}/id_pass -o IdentitiesOnly=yes " + f"{OPS}@127.0.0.1 true",
    "ssh_keygen_file": "ssh-keygen -t ed25519",
    "ssh_keygen_passphrase": "ssh-keygen -t ed25519 -f {work}/newkey",
    "apt_install_yn": "apt-get install --no-install-recommends cowsay",
    "more": "more /etc/services",
    "cp_overwrite": "touch {work}/a {work}/b && cp -i {work}/a {work}/b",
    "rm_interactive": "touch {work}/c && rm -i {work}/c",
    "press_enter": "read -p 'Press ENTER to continue' x",
    "less_end": "seq 1 100 | LESS= less -X +G",
}


def start_sshd():
    """An sshd on 127.0.0.1 that takes passwords and keys, for the ssh prompts."""
    d = os.path.join(WORK, "sshd")
    os.makedirs(d)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{d}/host"], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "a passphrase", "-C", "demo",
                    "-f", f"{WORK}/id_pass"], check=True)
    # The server accepts the key, so ssh must decrypt it to sign: the passphrase prompt.
    shutil.copy(f"{WORK}/id_pass.pub", f"{d}/authorized_keys")
    os.chmod(f"{d}/authorized_keys", 0o644)
    os.makedirs("/run/sshd", exist_ok=True)
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    conf = f"{d}/sshd_config"
    with open(conf, "w") as f:
        f.write(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host\nPidFile none\n"
                "PasswordAuthentication yes\nKbdInteractiveAuthentication no\nUsePAM yes\nStrictModes no\n"
                f"PubkeyAuthentication yes\nAuthorizedKeysFile {d}/authorized_keys\n")
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", conf],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    # A known_hosts that already trusts the key, for the password and passphrase prompts.
    with open(f"{d}/host.pub") as f:
        key = f.read().split()
    with open(f"{WORK}/kh", "w") as f:
        f.write(f"[127.0.0.1]:{port} {key[0]} {key[1]}\n")
    open(f"{WORK}/kh_empty", "w").close()
    return proc, port


def record(kind, name, cmd, until_quiet):
    user = None
    if isinstance(cmd, tuple):
        user, cmd = cmd[0][1:], cmd[1]
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(WORK)
        if user:
            import pwd
            pw = pwd.getpwnam(user)
            os.initgroups(user, pw.pw_gid)
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": WORK,
            "TERM": "xterm-256color",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
        }
        os.execve("/bin/bash", ["bash", "-c", cmd], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    os.kill(pid, signal.SIGWINCH)
    out = bytearray()
    reads = []  # (end offset, time of the read)
    deadline = time.time() + 120
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            out += data
            reads.append((len(out), time.time()))
        elif until_quiet and reads and time.time() - reads[-1][1] >= QUIET:
            os.write(fd, b"\x03")
            break
    end = time.time()
    # Closing the master hangs up the terminal; a program that ignores that (passwd) is
    # killed after a moment.
    os.close(fd)
    for sig in (signal.SIGHUP, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        t0 = time.time()
        while time.time() - t0 < 2 and os.waitpid(pid, os.WNOHANG) == (0, 0):
            time.sleep(0.05)
        else:
            if time.time() - t0 < 2:
                break
    base = os.path.join(HERE, kind, name)
    with open(base + ".bin", "wb") as f:
        f.write(out)
    with open(base + ".chunks", "w") as f:
        for i, (off, t) in enumerate(reads):
            nxt = reads[i + 1][1] if i + 1 < len(reads) else end
            f.write(f"{off} {int((nxt - t) * 1000)}\n")
    print(f"{kind}/{name}: {len(out)} bytes, {len(reads)} reads")


def main():
    faulthandler.dump_traceback_later(int(os.environ.get("REC_TRACE", "0")) or 10**6)
    words = sys.argv[1:]
    pick = lambda n: not words or any(w in n for w in words)
    os.makedirs(os.path.join(HERE, "ordinary"), exist_ok=True)
    os.makedirs(os.path.join(HERE, "prompts"), exist_ok=True)
    sshd, port = start_sshd()
    fmt = {"work": WORK, "py": sys.executable, "port": port}
    try:
        for name, cmd in ORDINARY.items():
            if pick(name):
                record("ordinary", name, cmd.format(**fmt), until_quiet=False)
        for name, cmd in PROMPTS.items():
            if pick(name):
                if isinstance(cmd, tuple):
                    cmd = (cmd[0], cmd[1].format(**fmt))
                else:
                    cmd = cmd.format(**fmt)
                record("prompts", name, cmd, until_quiet=True)
    finally:
        sshd.terminate()
        HTTPD.shutdown()
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
