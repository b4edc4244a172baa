"""One cell on many hosts at once (issue 15, next step after test_fleet.py): `%on [--forks N]
[--batch N] [--max-fail N|P%] PATTERN` on fleets of 5 to 50 inventory hosts, checked on real
sshds of the test lab.

What is checked:
- identical outputs fold into one dshbak-style block naming the hosts (`w[01-20]`), different
  outputs into one block each; each host keeps its own connection (no new one in a later
  cell, never more than one per host) and its own context (cd, variables) across cells;
- a host that fails and one that cannot be reached: the others finish, the cell is a
  `FleetFailed` error naming both, the folded headers, the table and its metadata
  (`sshpty.fleet`: statuses, exit codes, `not_started`, `halted`) and the progress line say so;
- `--batch N` rolls (no host of a batch starts before the whole last batch ended; the hosts of
  one batch run together), `--forks N` caps how many run at once, `--max-fail N` and `P%`
  (rounded down) start no new host once more than that failed, and the running ones finish;
- sudo: one password box for the whole fleet, its answer given to every host's own sudo
  prompt; a host where sudo refuses it fails alone with a note; the password is never shown;
  headless, `%on PATTERN` + `%sudo password-from-command` names a source per host
  (SSHPTY_HOST), and without one every host's sudo fails;
- any other question (`read`) or a full-screen program ends that host's run only, with a
  note and no box per host (a note that does not blame a client that can answer);
- an interrupt of a cell running on 50 hosts stops every host, leaves nothing running on the
  server, and the kernel (and every connection) answers the next cell; one while hosts wait
  for a fork starts none of them (`not_started`, `halted: interrupt`).

The fleet: inventory names w01, w02, ... pointing at two sshds of the lab started for this
module ("fleet-a", "fleet-b"), with MaxStartups raised: each name is its own connection, and
sshd's default (10:30:100) drops most of 50 logins that start at once, which a real fleet
(one sshd per host) never sees. Each name also has a `Host` block in the client's ssh_config
with `SetEnv LC_FLEET_HOST=<name>` (sshd accepts LC_*), so a host knows its inventory name
and a cell can make one host differ. All hosts are this machine: files in /tmp are shared, and
this test process (root) reads what the hosts wrote there.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import CellResult, plain_text
from ssh_kernel import (  # noqa: F401  (fixtures are used by name)
    all_iopub_text,
    answering,
    finish,
    shared_lab,
    sleeping,
    ssh,
    ssh_servers,
    wait_until,
)
from sshd_harness import SSHD, _established_inodes

FIXTURES = (ssh, ssh_servers)  # imported for pytest, which finds fixtures by name

RULE = "-" * 16
OPS = "sshpty-ops"
FLEET_SSHD_OPTIONS = {"MaxStartups": "200:30:400"}
# Each host's block in the client's ssh_config: generous bounds, 50 logins share 2 cores.
HOST_OPTIONS = {"ConnectTimeout": 20, "ServerAliveInterval": 2, "ServerAliveCountMax": 10}


# ---------------------------------------------------------------------------------------------
# Reading a fleet cell's outputs


def fleet_facts(res: CellResult) -> dict:
    """The run's facts in the summary table's metadata (the last one, as updated)."""
    found = None
    for msg in res.displays:
        meta = msg["content"].get("metadata", {}).get("sshpty", {})
        if "fleet" in meta:
            found = meta["fleet"]
    if found is None:
        raise AssertionError(f"no fleet table in the cell's outputs:\n{res.describe()}")
    return found


def display_texts(res: CellResult) -> dict[str, list[str]]:
    """Every display's text/plain, in order of its versions (display_data, then each
    update_display_data), by display id (displays without one by position)."""
    out: dict[str, list[str]] = {}
    for i, msg in enumerate(res.displays):
        c = msg["content"]
        did = (c.get("transient") or {}).get("display_id") or f"#{i}"
        out.setdefault(did, []).append(plain_text(c.get("data", {}).get("text/plain", "")))
    return out


def folded_text(res: CellResult) -> str:
    """The final text of the folded-outputs display (the one in dshbak -c style)."""
    found = [v[-1] for v in display_texts(res).values() if v[-1].startswith(RULE + "\n")]
    assert len(found) == 1, f"want one folded-outputs display, found {len(found)}:\n" \
                            f"{res.describe()}"
    return found[0]


def progress_texts(res: CellResult) -> list[str]:
    """Every version of the progress line, in order."""
    found = [v for v in display_texts(res).values() if re.match(r"\d+ done, \d+ failed", v[0])]
    assert len(found) == 1, f"want one progress display, found {len(found)}:\n{res.describe()}"
    return found[0]


def summary_text(res: CellResult) -> str:
    for msg in reversed(res.displays):
        c = msg["content"]
        if "fleet" in c.get("metadata", {}).get("sshpty", {}):
            return plain_text(c["data"].get("text/plain", ""))
    raise AssertionError(f"no fleet table in the cell's outputs:\n{res.describe()}")


def expand(folded: str) -> list[str]:
    """`w[01-03,07],db1` -> w01 w02 w03 w07 db1 (ClusterShell's folding, as the kernel's)."""
    pieces, depth, cur = [], 0, ""
    for ch in folded:
        if ch == "," and depth == 0:
            pieces.append(cur)
            cur = ""
            continue
        depth += {"[": 1, "]": -1}.get(ch, 0)
        cur += ch
    pieces.append(cur)
    names = []
    for piece in pieces:
        m = re.fullmatch(r"([^\[]*)\[([^\]]*)\](.*)", piece)
        if not m:
            names.append(piece)
            continue
        prefix, inner, suffix = m.groups()
        for part in inner.split(","):
            if "-" in part:
                lo, hi = part.split("-")
                width = len(lo) if lo.startswith("0") and len(lo) > 1 else 0
                names += [f"{prefix}{str(v).zfill(width)}{suffix}"
                          for v in range(int(lo), int(hi) + 1)]
            else:
                names.append(prefix + part + suffix)
    return names


@dataclass
class Block:
    header: str  # as shown: `w[01-03] (exit 2)`
    hosts: list[str]
    how: str | None  # None (ok), "exit N", "unreachable: ..."
    body: str


def blocks(res: CellResult) -> list[Block]:
    """The folded outputs, parsed: RULE, header, RULE, then the output up to the next block."""
    lines = folded_text(res).split("\n")
    starts = [i for i in range(len(lines) - 2)
              if lines[i] == RULE and lines[i + 2] == RULE and lines[i + 1] != RULE]
    # A header's closing rule is no block's start.
    heads = []
    for i in starts:
        if not heads or i > heads[-1] + 2:
            heads.append(i)
    assert heads and heads[0] == 0, f"not dshbak's layout:\n{folded_text(res)}"
    out = []
    for k, i in enumerate(heads):
        end = heads[k + 1] if k + 1 < len(heads) else len(lines)
        header = lines[i + 1]
        m = re.fullmatch(r"(\S+)(?: \((exit -?\d+|unreachable: .*)\))?", header)
        assert m, f"a block header not as expected: {header!r}\n{folded_text(res)}"
        out.append(Block(header, expand(m.group(1)), m.group(2),
                         "\n".join(lines[i + 3:end]).strip("\n")))
    return out


def block_of(res: CellResult, host: str) -> Block:
    found = [b for b in blocks(res) if host in b.hosts]
    assert len(found) == 1, f"{host} is in {len(found)} blocks:\n{folded_text(res)}"
    return found[0]


def shown(res: CellResult) -> list[tuple[list[str], str | None, str]]:
    """(hosts, how, body) of each block, sorted by first host: to compare whole."""
    return sorted(((b.hosts, b.how, b.body) for b in blocks(res)), key=lambda t: t[0])


def fails_with(res: CellResult, ename: str) -> None:
    assert res.status == "error" and res.errors and res.errors[0]["ename"] == ename, \
        res.describe()


def peak(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one instant (an end before a start at the same time)."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    most = now = 0
    for _, d in events:
        now += d
        most = max(most, now)
    return most


def running_counts(res: CellResult) -> list[int]:
    return [int(m.group(1)) for t in progress_texts(res)
            if (m := re.search(r"(\d+) running", t))]


# ---------------------------------------------------------------------------------------------
# The fleet


@dataclass
class Member:
    name: str
    port: int
    user: str = OPS


def names(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i:02d}" for i in range(1, n + 1)]


def fleet_sshd(name: str) -> SSHD:
    """This module's sshd NAME on the shared lab, started at first use."""
    lab = shared_lab()
    for s in lab.sshds:
        if s.name == name:
            assert s.running, f"{s} is not running any more"
            return s
    return lab.start_sshd(name=name, **FLEET_SSHD_OPTIONS)


class Fleet:
    def __init__(self, ssh, tmp_path: Path):
        self.ssh = ssh
        self.tmp = tmp_path
        self.a = fleet_sshd("fleet-a")
        self.b = fleet_sshd("fleet-b")
        # Aliases for the tests' own view (ps on the host) and known_hosts lines for both.
        ssh.add_host("fa-ops", self.a)
        ssh.add_host("fb-ops", self.b)
        self.shared = Path(f"/tmp/sshpty-fleet-{secrets.token_hex(6)}")
        self.shared.mkdir(mode=0o1777)
        self.shared.chmod(0o1777)  # the hosts' users write here

    def write(self, members: list[Member]) -> Path:
        """The inventory (INI, one group `fleet`) and a ssh_config Host block per name."""
        lines = ["# test_fleet_many.py", "[fleet]"]
        for m in members:
            lines.append(f"{m.name} ansible_host=127.0.0.1 ansible_port={m.port} "
                         f"ansible_user={m.user} "
                         f"ansible_ssh_private_key_file={self.ssh.cfg.identity}")
            self.ssh.cfg.add_host(m.name, None, None, "custom", write=False,
                                  SetEnv=f"LC_FLEET_HOST={m.name}", **HOST_OPTIONS)
        self.ssh.cfg.write()
        inv = self.tmp / f"fleet-{len(members)}.ini"
        inv.write_text("\n".join(lines) + "\n")
        return inv

    def kernel(self, members: list[Member]):
        nb = self.ssh.kernel()
        res = nb.ok(f"%inventory {self.write(members)}")
        assert f"{len(members)} hosts" in res.text, res.describe()
        return nb

    def split(self, n: int, prefix: str = "w") -> list[Member]:
        """N hosts, the first half on fleet-a, the rest on fleet-b."""
        return [Member(name, self.a.port if i < (n + 1) // 2 else self.b.port)
                for i, name in enumerate(names(prefix, n))]

    def session_lines(self) -> list[str]:
        """What fleet-a and fleet-b logged (LogLevel VERBOSE) of each terminal session they
        started: `Starting session: command on pts/N for USER from ...`."""
        return [line for s in (self.a, self.b)
                for line in s.log_path.read_text(errors="replace").splitlines()
                if "Starting session:" in line and " on pts/" in line]

    def pty_sessions(self) -> int:
        return len(self.session_lines())

    def connections(self) -> tuple[int, int]:
        """Established connections to fleet-a and fleet-b (server side: one socket each)."""
        return len(_established_inodes(self.a.port)), len(_established_inodes(self.b.port))

    def close(self) -> None:
        shutil.rmtree(self.shared, ignore_errors=True)


@pytest.fixture
def fleet(ssh, tmp_path):
    f = Fleet(ssh, tmp_path)
    yield f
    f.close()


def intervals(log: Path) -> dict[str, tuple[float, float]]:
    """`NAME START END` lines the hosts appended, by name (each name once)."""
    out: dict[str, tuple[float, float]] = {}
    for line in log.read_text().splitlines():
        name, s, e = line.split()
        assert name not in out, f"{name} ran twice:\n{log.read_text()}"
        out[name] = (float(s), float(e))
    return out


def recorder(log: Path, seconds: float) -> str:
    """Shell text: sleep SECONDS and append `NAME START END` to LOG (one short write, O_APPEND:
    lines from hosts that end together do not mix)."""
    log.touch()
    log.chmod(0o666)  # whichever user a host logs in as
    return (f's=$(date +%s.%N); sleep {seconds}; '
            f'echo "$LC_FLEET_HOST $s $(date +%s.%N)" >> {log}')


# ---------------------------------------------------------------------------------------------
# A sudoer whose password is not the lab's


def _uid_processes(uid: int) -> list[int]:
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if d.stat().st_uid == uid:
                    found.append(int(d.name))
            except OSError:
                pass
    return found


@pytest.fixture
def odd_sudoer(ssh_servers):
    """A user made for this test: bash, sudo that asks every time (as sshpty-ops has), a
    password unlike the lab's, and the lab's test key. Gone at the end (its processes ended by
    pid, the user, its home, its sudoers drop-in and its authorized_keys)."""
    lab = ssh_servers[0]
    name = f"sshpty-fl{secrets.token_hex(3)}"
    password = "odd-" + secrets.token_urlsafe(9)
    dropin = Path(f"/etc/sudoers.d/sshpty-fleet-{name.removeprefix('sshpty-')}")
    keys = lab.authorized_keys_dir / name

    def run(*argv, input=None):
        cp = subprocess.run(list(argv), input=input, capture_output=True, text=True, timeout=60)
        assert cp.returncode == 0, f"{' '.join(argv)}: {cp.stdout}{cp.stderr}"

    run("useradd", "--shell", "/bin/bash", "--create-home", "--user-group",
        "--comment", "sshpty fleet test user", name)
    try:
        run("chpasswd", input=f"{name}:{password}\n")
        tmp = dropin.with_name(".sshpty-fleet.new")  # a dot: sudo skips it while written
        tmp.write_text(f"Defaults:{name} timestamp_timeout=0, lecture=never\n"
                       f"{name} ALL=(ALL) ALL\n")
        tmp.chmod(0o440)
        run("visudo", "-cf", str(tmp))
        os.replace(tmp, dropin)
        keys.write_text(lab.keys.public(lab.keys.plain) + "\n")
        keys.chmod(0o644)
        yield name, password
    finally:
        keys.unlink(missing_ok=True)
        dropin.unlink(missing_ok=True)
        try:
            uid = pwd.getpwnam(name).pw_uid
        except KeyError:
            uid = None
        if uid is not None:
            for _ in range(3):
                pids = _uid_processes(uid)
                if not pids:
                    break
                for p in pids:
                    try:
                        os.kill(p, signal.SIGKILL)
                    except OSError:
                        pass
                time.sleep(0.3)
        subprocess.run(["userdel", "--remove", "--force", name], capture_output=True, timeout=60)


# ---------------------------------------------------------------------------------------------
# The tests


def test_twenty_hosts_fold_alike_outputs_and_each_keeps_its_connection_and_context(ssh, fleet):
    members = fleet.split(20)  # w01-w10 on fleet-a, w11-w20 on fleet-b
    every = names("w", 20)
    nb = fleet.kernel(members)
    sessions = fleet.pty_sessions()
    res = nb.run("%on all\necho same", timeout=120).ok()
    # The login's session reads the login environment and then runs the first cell: one
    # terminal session per host, where reading it apart cost two.
    wait_until(lambda: fleet.pty_sessions() - sessions >= 20, 10, "20 sessions logged")
    assert fleet.pty_sessions() - sessions == 20, fleet.session_lines()[-40:]
    assert shown(res) == [(every, None, "same")], folded_text(res)
    assert "w[01-20]" in folded_text(res)
    facts = fleet_facts(res)
    assert sorted(h["host"] for h in facts["hosts"]) == every, facts
    assert all(h["status"] == "ok" and h["exit_code"] == 0 for h in facts["hosts"]), facts
    assert facts["not_started"] == [] and facts.get("halted", "missing") is None, facts
    assert facts["pattern"] == "all" and facts["started"] and "by" in facts, facts
    final = progress_texts(res)[-1]
    assert re.match(r"20 done, 0 failed of 20\b", final) and "running" not in final, final
    # One connection per host, and the later cells open none.
    wait_until(lambda: fleet.connections() == (10, 10), 10, "one connection per host")
    before = fleet.a.connection_pids(OPS), fleet.b.connection_pids(OPS)

    res = nb.run('%on all\ncd /tmp; mark="m-${SSH_CONNECTION##* }"\n'
                 'case $LC_FLEET_HOST in w0*) echo a;; *) echo b;; esac', timeout=60).ok()
    assert shown(res) == [(names("w", 9), None, "a"), (every[9:], None, "b")], folded_text(res)
    assert "w[01-09]" in folded_text(res) and "w[10-20]" in folded_text(res)

    res = nb.run('%on all\npwd; echo "$mark"', timeout=60).ok()
    assert shown(res) == [(every[:10], None, f"/tmp\nm-{fleet.a.port}"),
                          (every[10:], None, f"/tmp\nm-{fleet.b.port}")], folded_text(res)
    assert (fleet.a.connection_pids(OPS), fleet.b.connection_pids(OPS)) == before, \
        "a later %on cell opened new connections"
    assert fleet.connections() == (10, 10)
    # Nor new sessions: each host's shell stayed after its first cell.
    assert fleet.pty_sessions() - sessions == 20, fleet.session_lines()[-40:]


def test_a_failing_and_an_unreachable_host_among_twenty(ssh, fleet):
    lab = ssh.lab
    with lab.closed_port() as dead:
        members = [Member(n, fleet.a.port) for n in names("w", 20)]
        members[6] = Member("w07", fleet.b.port)  # the one that fails
        members[12] = Member("w13", dead.port)  # nothing listens there
        nb = fleet.kernel(members)
        res = nb.run(f'%on all\necho fine; test "${{SSH_CONNECTION##* }}" != {fleet.b.port} '
                     '|| (exit 3)', timeout=120)
    fails_with(res, "FleetFailed")
    assert "2 of 20 hosts" in res.error_text and "w[07,13]" in res.error_text, res.error_text
    others = [n for n in names("w", 20) if n not in ("w07", "w13")]
    ok = block_of(res, "w01")
    assert (ok.hosts, ok.how, ok.body) == (others, None, "fine"), folded_text(res)
    w07 = block_of(res, "w07")
    assert w07.hosts == ["w07"] and w07.how == "exit 3", folded_text(res)
    assert w07.body.startswith("fine"), folded_text(res)
    w13 = block_of(res, "w13")
    assert w13.hosts == ["w13"] and w13.how.startswith("unreachable: "), folded_text(res)
    facts = fleet_facts(res)
    by = {h["host"]: h for h in facts["hosts"]}
    assert sorted(by) == names("w", 20), facts
    assert all(by[n]["status"] == "ok" and by[n]["exit_code"] == 0 for n in others), facts
    assert by["w07"]["status"] == "failed" and by["w07"]["exit_code"] == 3, facts
    assert by["w13"]["status"] == "unreachable" and by["w13"]["exit_code"] is None, facts
    assert facts["not_started"] == [] and facts.get("halted", "missing") is None, facts
    table = summary_text(res)
    assert re.search(r"^w07\s+failed\s+3\b", table, re.M), table
    assert re.search(r"^w13\s+unreachable", table, re.M), table
    assert len(re.findall(r"^w\d\d\s+ok\s+0\b", table, re.M)) == 18, table
    final = progress_texts(res)[-1]
    assert re.match(r"18 done, 2 failed of 20\b", final), final


def test_batches_roll_and_forks_cap_the_hosts_at_once(ssh, fleet):
    members = [Member(n, fleet.a.port) for n in names("w", 12)]
    nb = fleet.kernel(members)
    nb.run("%on all\ntrue", timeout=120).ok()  # every host logged in: the runs start at once

    log = fleet.shared / "batch.log"
    res = nb.run(f"%on --batch 5 all\n{recorder(log, 2)}", timeout=90).ok()
    ran = intervals(log)
    assert sorted(ran) == names("w", 12), ran
    batches = [names("w", 12)[i:i + 5] for i in (0, 5, 10)]
    for first, then in zip(batches, batches[1:]):
        last_end = max(ran[n][1] for n in first)
        next_start = min(ran[n][0] for n in then)
        assert last_end <= next_start, \
            f"batch {then} started {last_end - next_start:.2f} s before {first} ended: {ran}"
    for batch in batches:
        # Logged in already, a batch's hosts start within milliseconds; they sleep 2 s.
        together = peak([ran[n] for n in batch])
        assert together == len(batch), f"the hosts of batch {batch} did not run together: {ran}"
    assert peak(list(ran.values())) <= 5, ran
    assert len(fleet_facts(res)["hosts"]) == 12

    log = fleet.shared / "forks.log"
    res = nb.run(f"%on --forks 3 w0*\n{recorder(log, 1)}", timeout=90).ok()
    ran = intervals(log)
    assert sorted(ran) == names("w", 9), ran
    assert peak(list(ran.values())) == 3, f"not 3 hosts at once with --forks 3: {ran}"
    counts = running_counts(res)
    assert counts and max(counts) <= 3, progress_texts(res)
    assert re.match(r"9 done, 0 failed of 9\b", progress_texts(res)[-1]), progress_texts(res)


def test_max_fail_starts_no_host_once_more_failed(ssh, fleet):
    every = names("w", 10)
    nb = fleet.kernel([Member(n, fleet.a.port) for n in every])
    nb.run("%on all\ntrue", timeout=120).ok()

    res = nb.run("%on --forks 1 --max-fail 1 all\nfalse", timeout=60)
    fails_with(res, "FleetFailed")
    facts = fleet_facts(res)
    assert [h["host"] for h in facts["hosts"]] == ["w01", "w02"], facts
    assert all(h["status"] == "failed" and h["exit_code"] == 1 for h in facts["hosts"]), facts
    assert sorted(facts["not_started"]) == every[2:], facts
    assert facts.get("halted") == "max-fail", facts
    assert shown(res) == [(["w01", "w02"], "exit 1", "")], folded_text(res)

    # 25% of 10 is 2.5, rounded down: 2 failures tolerated, the third halts.
    res = nb.run("%on --forks 1 --max-fail 25% all\nfalse", timeout=60)
    fails_with(res, "FleetFailed")
    facts = fleet_facts(res)
    assert [h["host"] for h in facts["hosts"]] == every[:3], facts
    assert sorted(facts["not_started"]) == every[3:] and facts.get("halted") == "max-fail", facts

    # The hosts running when the limit is passed finish (and are counted); no other starts.
    res = nb.run("%on --forks 4 --max-fail 0 all\nsleep 1; false", timeout=60)
    fails_with(res, "FleetFailed")
    facts = fleet_facts(res)
    assert sorted(h["host"] for h in facts["hosts"]) == every[:4], facts
    assert all(h["status"] == "failed" and h["exit_code"] == 1 for h in facts["hosts"]), facts
    assert sorted(facts["not_started"]) == every[4:] and facts.get("halted") == "max-fail", facts

    # Under the limit, every host runs.
    res = nb.run('%on --max-fail 1 all\ntest "$LC_FLEET_HOST" != w05', timeout=60)
    fails_with(res, "FleetFailed")
    facts = fleet_facts(res)
    assert len(facts["hosts"]) == 10 and facts["not_started"] == [], facts
    assert facts.get("halted", "missing") is None, facts


def test_one_sudo_box_for_the_fleet_and_a_host_that_refuses_fails_alone(odd_sudoer, ssh, fleet):
    odd_user, odd_password = odd_sudoer
    members = fleet.split(20)
    members[12] = Member("w13", fleet.a.port, odd_user)  # sudo there refuses the lab's password
    nb = fleet.kernel(members)
    a = answering(nb, "%on all\nsudo -k; sudo id -u", [(r"(?i)sudo", ssh.lab.password)],
                  timeout=120)
    assert len(a.asked) == 1, f"want one box for the fleet, got {a.prompts}"
    prompt = a.asked[0].prompt
    assert re.search(r"(?i)sudo", prompt) and re.search(r"(?i)password", prompt), prompt
    assert a.asked[0].password is True, a.asked
    res = a.result
    fails_with(res, "FleetFailed")
    assert "1 of 20 hosts" in res.error_text and "w13" in res.error_text, res.error_text
    others = [n for n in names("w", 20) if n != "w13"]
    ok = block_of(res, "w01")
    assert ok.hosts == others and ok.how is None, folded_text(res)
    assert ok.body.splitlines()[-1:] == ["0"], folded_text(res)
    w13 = block_of(res, "w13")
    assert w13.hosts == ["w13"] and w13.how and w13.how.startswith("exit"), folded_text(res)
    assert "sudo refused the password on w13" in w13.body, folded_text(res)
    facts = fleet_facts(res)
    by = {h["host"]: h["status"] for h in facts["hosts"]}
    assert by.pop("w13") == "failed" and set(by.values()) == {"ok"} and len(by) == 19, facts
    everything = all_iopub_text(nb)
    assert ssh.lab.password not in everything and odd_password not in everything
    assert "[sshpty:" not in everything  # the kernel's own prompt marker never shows
    final = progress_texts(res)[-1]
    assert re.match(r"19 done, 1 failed of 20\b", final), final


def test_headless_sudo_from_a_command_per_host(ssh, fleet, tmp_path):
    every = names("w", 5)
    nb = fleet.kernel([Member(n, fleet.a.port) for n in every])
    # Headless without a password source: every host's sudo fails, and fast.
    t0 = time.monotonic()
    res = nb.run("%on all\nsudo -k; sudo id -u", timeout=60)
    fails_with(res, "FleetFailed")
    assert "5 of 5 hosts" in res.error_text, res.error_text
    facts = fleet_facts(res)
    assert len(facts["hosts"]) == 5 and {h["status"] for h in facts["hosts"]} == {"failed"}, facts
    assert all(b.how is not None and "waits for input" in b.body for b in blocks(res)), \
        folded_text(res)
    assert time.monotonic() - t0 < 45, res.describe()
    assert not ssh.wait_remote_gone("fa-ops", r"sudo -k|sudo id -u", timeout=10)

    vault = tmp_path / "vault"
    vault.mkdir(mode=0o700)
    for n in every:
        f = vault / f"pw-{n}"
        f.write_text(("not-the-password" if n == "w05" else ssh.lab.password) + "\n")
        f.chmod(0o600)
    asked = vault / "asked"
    cmd = f'echo "$SSHPTY_HOST" >> {asked}; cat {vault}/pw-$SSHPTY_HOST'
    res = nb.run(f"%on all\n%sudo password-from-command '{cmd}'", timeout=60).ok()
    assert asked.read_text().split() == ["w01"], "the command was not checked once, for w01"

    res = nb.run("%on all\nsudo -k; sudo id -u", timeout=90)
    fails_with(res, "FleetFailed")
    assert "1 of 5 hosts" in res.error_text and "w05" in res.error_text, res.error_text
    ok = block_of(res, "w01")
    assert ok.hosts == every[:4] and ok.how is None and ok.body.splitlines()[-1:] == ["0"], \
        folded_text(res)
    w05 = block_of(res, "w05")
    assert w05.hosts == ["w05"] and "sudo refused the password on w05" in w05.body, \
        folded_text(res)
    assert sorted(set(asked.read_text().split())) == every, asked.read_text()
    assert ssh.lab.password not in all_iopub_text(nb)

    # The source and shell text in one cell, for one host.
    res = nb.run(f"%on w02\n%sudo password-from-command 'cat {vault}/pw-w02'\n"
                 "sudo -k; sudo id -u", timeout=60).ok()
    assert shown(res) == [(["w02"], None, "0")], folded_text(res)
    assert ssh.lab.password not in all_iopub_text(nb)


def test_a_question_or_a_full_screen_program_ends_that_host_only(ssh, fleet):
    every = names("w", 6)
    nb = fleet.kernel([Member(n, fleet.a.port) for n in every])
    nb.run("%on all\ntrue", timeout=120).ok()
    others = [n for n in every if n != "w03"]

    # A client that can answer (allow_stdin) is still asked nothing: no box per host.
    t0 = time.monotonic()
    a = answering(nb, "%on all\nif [ \"$LC_FLEET_HOST\" = w03 ]; then read -p 'name? ' x; fi; "
                      "echo done", [], timeout=60)
    assert a.asked == []
    res = a.result
    assert time.monotonic() - t0 < 30, res.describe()
    fails_with(res, "FleetFailed")
    assert "1 of 6 hosts" in res.error_text and "w03" in res.error_text, res.error_text
    ok = block_of(res, "w01")
    assert (ok.hosts, ok.how, ok.body) == (others, None, "done"), folded_text(res)
    w03 = block_of(res, "w03")
    assert w03.hosts == ["w03"] and w03.how is not None, folded_text(res)
    assert "waits for input" in w03.body, folded_text(res)
    assert {h["host"]: h["status"] for h in fleet_facts(res)["hosts"]}["w03"] == "failed"

    t0 = time.monotonic()
    a = answering(nb, "%on all\nif [ \"$LC_FLEET_HOST\" = w03 ]; then "
                      "timeout --foreground 40 vim -u NONE -N /tmp/sshpty-fleet-never-written; fi; echo done",
                  [], timeout=60)
    assert a.asked == []
    res = a.result
    assert time.monotonic() - t0 < 30, f"vim was not stopped on w03\n{res.describe()}"
    fails_with(res, "FleetFailed")
    ok = block_of(res, "w01")
    assert (ok.hosts, ok.how, ok.body) == (others, None, "done"), folded_text(res)
    w03 = block_of(res, "w03")
    assert w03.hosts == ["w03"] and w03.how is not None and w03.body, folded_text(res)
    assert not ssh.wait_remote_gone("fa-ops", r"vim -u NONE", timeout=10)
    # The host is usable after that.
    assert shown(nb.run("%on w03\necho back", timeout=60).ok()) == [(["w03"], None, "back")]


def test_a_question_on_a_host_is_not_blamed_on_a_client_that_can_answer(ssh, fleet):
    # allow_stdin is true here: the host was stopped because a fleet asks no box per host,
    # and its note must not tell the user that their client cannot answer prompts.
    nb = fleet.kernel([Member(n, fleet.a.port) for n in names("w", 2)])
    a = answering(nb, "%on all\nread -p 'name? ' x", [], timeout=60)
    assert a.asked == []
    res = a.result
    fails_with(res, "FleetFailed")
    bl = blocks(res)
    assert sorted(h for b in bl for h in b.hosts) == ["w01", "w02"], folded_text(res)
    for b in bl:
        assert "waits for input" in b.body, folded_text(res)
        assert "allow_stdin is false" not in b.body, folded_text(res)


def test_an_interrupt_stops_fifty_hosts_and_leaves_nothing_running(ssh, fleet):
    every = names("w", 50)
    nb = fleet.kernel(fleet.split(50))
    res = nb.run("%on all\ntrue", timeout=180).ok()
    assert shown(res) == [(every, None, "")], folded_text(res)
    wait_until(lambda: fleet.connections() == (25, 25), 15, "one connection per host")

    cell = nb.submit("%on all\nsleep 1013")
    wait_until(lambda: len(ssh.remote_processes("fa-ops", sleeping(1013))) >= 50, 60,
               "sleep 1013 running on all 50 hosts at once")
    t0 = time.monotonic()
    nb.interrupt()
    res = finish(cell, 30)
    fails_with(res, "Interrupted")
    assert time.monotonic() - t0 < 30
    left = ssh.wait_remote_gone("fa-ops", sleeping(1013), timeout=30)
    assert not left, f"{len(left)} sleeps left running: {left[:5]}"
    facts = fleet_facts(res)
    assert facts.get("halted") == "interrupt" and facts["not_started"] == [], facts

    res = nb.run("%on all\necho back", timeout=120).ok()
    assert shown(res) == [(every, None, "back")], folded_text(res)
    wait_until(lambda: fleet.connections() == (25, 25), 15,
               "still one connection per host after the interrupt")

    # An interrupt while hosts wait for a fork: none of them starts.
    cell = nb.submit("%on --forks 5 all\nsleep 1013")
    wait_until(lambda: len(ssh.remote_processes("fa-ops", sleeping(1013))) >= 5, 30,
               "sleep 1013 running on 5 hosts")
    nb.interrupt()
    res = finish(cell, 30)
    fails_with(res, "Interrupted")
    assert not ssh.wait_remote_gone("fa-ops", sleeping(1013), timeout=30)
    facts = fleet_facts(res)
    assert facts.get("halted") == "interrupt", facts
    assert sorted(h["host"] for h in facts["hosts"]) == every[:5], facts
    assert sorted(facts["not_started"]) == every[5:], facts



# ---------------------------------------------------------------------------------------------
# A long session (behind the soak marker, as test_rel_soak.py: `tests/run -m soak` alone)

SOAK_CELLS = int(os.environ.get("SSHPTY_FLEET_SOAK_CELLS", "200"))
SOAK_HOSTS = 100
# From cell 50: until then the allocator's high-water mark still rises with the peaks of 100
# hosts answering at once (their captures and outputs in flight together); sampled every 20
# cells, RSS steps up by 1 to 2 MiB in the first 40 to 120 cells and then stays flat for
# the rest (with MALLOC_ARENA_MAX=1 too), where a leak keeps growing.
SOAK_MEASURE_AT = 50
SOAK_RSS_GROWTH_KIB = 4 * 1024


def _rss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _fds(pid: int) -> list[str]:
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out.append(f"{fd}->{os.readlink(f'/proc/{pid}/fd/{fd}')}")
        except OSError:
            pass
    return sorted(out)


@pytest.mark.soak
@pytest.mark.timeout(max(600, SOAK_CELLS * 3))
def test_soak_of_fleet_cells_on_a_hundred_hosts(ssh, fleet, figures):
    """SOAK_CELLS fleet cells on 100 hosts in one kernel, each host counting its cells in its
    own context: every cell folds into one block with the right count, and from cell 50 to
    the end the kernel's RSS grows by at most 4 MiB and its fds do not grow (a host's
    buffers, the fold, the tasks and the connections are all given back)."""
    members = fleet.split(SOAK_HOSTS, prefix="s")
    nb = fleet.kernel(members)
    pid = nb.pid
    t0 = time.monotonic()
    at = None
    series = []
    for i in range(1, SOAK_CELLS + 1):
        res = nb.ok('%on all\nsoak_n=$((${soak_n:-0} + 1)); echo "cell $soak_n"', timeout=120)
        got = blocks(res)
        assert len(got) == 1 and got[0].how is None and got[0].body == f"cell {i}", \
            f"cell {i}:\n{folded_text(res)}"
        assert sorted(got[0].hosts) == sorted(m.name for m in members), got[0].header
        if i == SOAK_MEASURE_AT:
            at = (_rss_kib(pid), _fds(pid))
        if i % 50 == 0:
            series.append(f"{i}:{_rss_kib(pid)}")
    took = time.monotonic() - t0
    rss_end, fds_end = _rss_kib(pid), _fds(pid)
    rss_at, fds_at = at
    assert sum(fleet.connections()) == SOAK_HOSTS, fleet.connections()
    figures(f"fleet soak: {SOAK_CELLS} cells on {SOAK_HOSTS} hosts in {took:.0f} s "
            f"({took / SOAK_CELLS:.2f} s per cell, first logins included); kernel RSS at cell "
            f"{SOAK_MEASURE_AT} {rss_at} KiB, at the end {rss_end} KiB ({rss_end - rss_at:+d} "
            f"KiB); fds {len(fds_at)} -> {len(fds_end)}; RSS KiB by cell: {' '.join(series)}")
    assert rss_end - rss_at <= SOAK_RSS_GROWTH_KIB, \
        f"RSS grew by {rss_end - rss_at} KiB between cell {SOAK_MEASURE_AT} and {SOAK_CELLS}"
    assert len(fds_end) <= len(fds_at), sorted(set(fds_end) - set(fds_at))
