#!/usr/bin/env python3
"""Record what real programs write to a terminal, for the recorded-terminal tests.

Each recipe runs in a fresh PTY of 160x24 (TERM=xterm-256color, a UTF-8 locale) and the
bytes the program writes are saved as NAME.bin. For recipes that are driven by keys, the
bytes received before the first key are also saved as NAME.open.bin (the program's screen
while it is open). Nothing answers the program's terminal queries, so what is recorded is
what the program writes on its own.

    python3 record.py            # record every recipe
    python3 record.py vi less    # record some

Then run ./tmux-reference.sh to produce the expectations from tmux.
"""
import os
import pty
import select
import signal
import struct
import sys
import tempfile
import termios
import fcntl
import time

HERE = os.path.dirname(os.path.abspath(__file__))
COLS, ROWS = 160, 24
WORK = tempfile.mkdtemp(prefix="sshpty-rec-")

with open(os.path.join(WORK, "notes.txt"), "w") as f:
    for i in range(1, 41):
        f.write(f"line {i}: the quick brown fox jumps over the lazy dog\n")

PY = sys.executable

# A stand-in for apt's "fancy" progress (apt-pkg/install-progress.cc, PackageManagerFancy):
# a scroll region of all rows but the last, the status line drawn there with save/restore
# cursor, and the region reset at the end.
APT = r'''
import sys, time, fcntl, termios, struct
rows, cols = struct.unpack("hh", fcntl.ioctl(1, termios.TIOCGWINSZ, b"\0" * 4))
w = sys.stdout.write
w("Reading package lists... Done\n")
w("\n\0337\033[0;%dr\0338\033[1A" % (rows - 1))
for i in range(1, 41):
    w("Unpacking package-%d (1.0-%d) ...\n" % (i, i))
    pct = i * 100 // 40
    bar = "#" * (pct * 60 // 100)
    w("\0337\033[%d;0f\033[42m\033[30mProgress: [%3d%%]\033[49m\033[39m [%-60s]\0338" % (rows, pct, bar))
    sys.stdout.flush()
    time.sleep(0.002)
w("\0337\033[0;%dr\0338" % rows)
w("\0337\033[%d;0f\033[J\0338" % rows)
w("Processing triggers for man-db ...\n")
'''

# docker pull style: one line per layer, redrawn with cursor up/down.
DOCKER = r'''
import sys, time
w = sys.stdout.write
layers = ["a1b2c3", "d4e5f6", "0718293", "ab12cd3"]
w("Using default tag: latest\n")
for l in layers:
    w("%s: Pulling fs layer\n" % l)
for step in range(0, 101, 10):
    for i, l in enumerate(layers):
        up = len(layers) - i
        pct = min(100, step + 10 * i)
        status = "Pull complete" if pct >= 100 else "Downloading [%-40s] %d%%" % ("=" * (pct * 40 // 100) + ">", pct)
        w("\033[%dA\033[2K\r%s: %s\r\033[%dB" % (up, l, status, up))
    sys.stdout.flush()
    time.sleep(0.002)
w("Status: Downloaded newer image\n")
'''

# pip's progress bars come from its vendored copy of rich: two tasks redrawn in place.
RICH = r'''
import time
from pip._vendor.rich.progress import Progress
with Progress() as p:
    a = p.add_task("Downloading wheel", total=50)
    b = p.add_task("Building", total=50)
    for i in range(50):
        p.update(a, advance=1)
        p.update(b, advance=0.5)
        time.sleep(0.004)
print("Successfully installed demo-1.0")
'''

PROGRESS = r'''
import sys, time
for i in range(201):
    sys.stdout.write("\rDownloading [%-50s] %3d%%" % ("#" * (i // 4), i // 2))
    sys.stdout.flush()
    time.sleep(0.0005)
sys.stdout.write("\ndone\n")
'''

WIDE = r'''
print("日本語のテキスト and ASCII")
print("emoji: 😀 👍 🎉 end")
print("combining: cafe\u0301 n\u0303 a\u0308")
print("a" + "日" * 100 + "|after wrap")
print("中文" * 50)
print("tab\tafter\t日本\tx")
'''

# Emoji whose width terminals disagree on; writing "*" at column 6 after each shows the
# width the terminal gave them.
EMOJI = r'''
for e in ["\u2764\ufe0f", "\U0001f44d\U0001f3fd", "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f1eb\U0001f1f7", "\u263a", "\u26a1", "\U0001f600"]:
    print(e + "ABCDEFGH\033[6G*")
'''

# Lines redrawn with terminfo: three status lines, then cursor up to the first to rewrite
# it, and down to the third (tput's cuu / el / cud from the xterm-256color entry).
TPUT = r"""
printf "job-a waiting\njob-b waiting\njob-c waiting\n"
sleep 0.3
tput cuu 3; tput el; printf "job-a done"
printf "\r"; tput cud 2; tput el; printf "job-c done\n"
echo all-done
"""

# The real pip (its rich progress bar while downloading a wheel of 1.2 MB).
PIP = os.environ.get("PIP_PYTHON", "/work/base/.venv-test/bin/python")

RECIPES = {
    "ls_color": {"cmd": "ls --color=always -la /usr/share/common-licenses /etc/apt; ls --color=always /usr/bin | head -c 3000 | tr -d '\\n'; echo"},
    "progress_cr": {"cmd": f"{PY} -c '{PROGRESS}'"},
    "apt_progress": {"cmd": f"{PY} -c '{APT}'"},
    "docker_pull": {"cmd": f"{PY} -c '{DOCKER}'"},
    "pip_rich": {"cmd": f"{PY} -c '{RICH}'"},
    "tput_cuu": {"cmd": f"bash -c '{TPUT}'"},
    # The real apt-get with dpkg's fancy progress (run `apt-get update` first if needed).
    # Ignore-Files-Silently: the recording machine keeps disabled source lists apt would note.
    "apt_real": {"cmd": "apt-get install --reinstall -y -o Dpkg::Progress-Fancy=1 -o Dir::Ignore-Files-Silently::=disabled-by-farm less"},
    "pip_real": {
        "cmd": f"{PIP} -m pip download --no-deps --no-cache-dir --progress-bar on -d dl setuptools==75.1.0"
    },
    "cjk_emoji": {"cmd": f"{PY} -c '{WIDE}'"},
    "emoji_widths": {"cmd": f"{PY} -c '{EMOJI}'"},
    "top_batch": {"cmd": "top -b -n1 -w 160 | head -n 30"},
    "clear": {"cmd": "echo before; seq 1 3; clear; echo after; seq 4 5"},
    "long_line": {
        "cmd": PY + " -c \"print('x' * 400 + 'END'); print('short'); print('y' * 160); print('z')\";"
        " printf 'no newline at the end'"
    },
    "tabs_backspace": {"cmd": "printf 'a\\tb\\tc\\n12345678\\tx\\nabc\\b\\bX\\nhello\\033[3D\\033[Kp!\\n'"},
    "vi": {
        "cmd": "vi notes.txt",
        "keys": [(1.0, b"5j"), (0.3, b"dd"), (0.3, b":q!\r")],
    },
    "less": {
        "cmd": "less notes.txt",
        "keys": [(1.0, b" "), (0.3, b"q")],
    },
    "whiptail": {
        "cmd": "echo 'before the dialog'; whiptail --title 'Configuring demo' --yesno 'Restart services during package upgrades without asking?' 10 60; echo \"answer: $?\"",
        "keys": [(1.0, b"\t"), (0.3, b"\r")],
    },
    # With TERM=vt100 there is no alternate screen: whiptail clears the main screen and
    # draws its box with cursor addressing and the DEC line-drawing set, as apt's debconf
    # dialogs look on terminals without smcup.
    "whiptail_vt100": {
        "cmd": "echo 'before the dialog'; whiptail --title 'Configuring demo' --yesno 'Restart services?' 10 60; echo \"answer: $?\"",
        "keys": [(1.0, b"\r")],
        "term": "vt100",
    },
    "busybox_vi": {
        "cmd": "echo 'before busybox vi'; busybox vi notes.txt; echo after",
        "keys": [(1.0, b"3j"), (0.3, b":q!\r")],
    },
}


def record(name, recipe):
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(WORK)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": WORK,
            "TERM": recipe.get("term", "xterm-256color"),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
        }
        os.execve("/bin/sh", ["sh", "-c", recipe["cmd"]], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    # The size is set after fork: tell the child again in case it already looked.
    os.kill(pid, signal.SIGWINCH)
    keys = list(recipe.get("keys", []))
    out = bytearray()
    opened = None
    deadline = time.time() + 30
    next_key = time.time() + keys[0][0] if keys else None
    while time.time() < deadline:
        timeout = 0.05 if next_key is None else max(0.0, min(0.05, next_key - time.time()))
        r, _, _ = select.select([fd], [], [], timeout)
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            out += data
        if next_key is not None and time.time() >= next_key:
            if opened is None:
                opened = bytes(out)
            os.write(fd, keys.pop(0)[1])
            next_key = time.time() + keys[0][0] if keys else None
    os.waitpid(pid, 0)
    with open(os.path.join(HERE, name + ".bin"), "wb") as f:
        f.write(out)
    if opened is not None:
        with open(os.path.join(HERE, name + ".open.bin"), "wb") as f:
            f.write(opened)
    print(f"{name}: {len(out)} bytes" + (f", open: {len(opened)}" if opened is not None else ""))


if __name__ == "__main__":
    names = sys.argv[1:] or list(RECIPES)
    for n in names:
        record(n, RECIPES[n])
