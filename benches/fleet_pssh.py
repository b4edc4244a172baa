"""parallel-ssh (PyPI, native libssh2 client) running `uptime` on a fleet, twice, for
benches/fleet.py. A process of its own so gevent's monkey-patching stays out of the harness.

    python fleet_pssh.py HOSTS.json POOL TIMEOUT [COMMAND [pty]]

HOSTS.json: [[name, port, user, key], ...] (all on 127.0.0.1). Prints one JSON object:
{"first": RUN, "second": RUN}, RUN = {"wall_s", "cpu_s" (this process's CPU during the run),
"ok": [names], "failed": {name: why}}. COMMAND (default `uptime`; when it runs `uptime`, its
output is checked) is what runs; `true` is the floor's. `pty` asks each host for a terminal
(`use_pty`), as sshpty does. The first
run makes the connections (one ParallelSSHClient, pool POOL); the second reuses them, as the
library does for a client's later commands. parallel-ssh checks no host key (it has no
known_hosts check).
"""

import json
import sys
import time

from pssh.clients.native import ParallelSSHClient
from pssh.config import HostConfig


def run(client, command: str, timeout: float, pty: bool) -> dict:
    t0, c0 = time.perf_counter(), time.process_time()
    output = client.run_command(command, stop_on_errors=False, read_timeout=timeout,
                                use_pty=pty)
    ok, failed = [], {}
    try:
        client.join(output, timeout=timeout)
    except Exception:
        # join stops at the first host whose channel fails (SocketSendError on close was seen
        # at 1000 hosts): join the others one by one, the failing ones count as failed.
        for ho in output:
            try:
                client.join([ho], timeout=timeout)
            except Exception as e:
                failed[ho.alias] = repr(e)[:200]
    for ho in output:
        if ho.alias in failed:
            continue
        if ho.exception is not None:
            failed[ho.alias] = repr(ho.exception)[:200]
            continue
        try:
            lines = list(ho.stdout or ())
        except Exception as e:
            failed[ho.alias] = repr(e)[:200]
            continue
        if ho.exit_code == 0 and ("uptime" not in command or any("load average" in line
                                                                 for line in lines)):
            ok.append(ho.alias)
        else:
            failed[ho.alias] = f"exit {ho.exit_code}: {lines[:2]}"
    return {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0, "ok": ok,
            "failed": failed}


def main() -> int:
    hosts_file, pool, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    command = sys.argv[4] if len(sys.argv) > 4 else "uptime"
    pty = len(sys.argv) > 5 and sys.argv[5] == "pty"
    with open(hosts_file) as f:
        hosts = json.load(f)
    config = [HostConfig(port=port, user=user, private_key=key, alias=name,
                         allow_agent=False, identity_auth=False, num_retries=1, timeout=timeout)
              for name, port, user, key in hosts]
    client = ParallelSSHClient(["127.0.0.1"] * len(hosts), host_config=config, pool_size=pool,
                               allow_agent=False, identity_auth=False, num_retries=1,
                               timeout=timeout)
    result = {"first": run(client, command, timeout, pty),
              "second": run(client, command, timeout, pty)}
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
