"""Process and load helpers the proxy benches share (gateway_vs_nginx.py, worker_scaling.py).

Children started with an optional core pinning, their CPU read from /proc, and the highest
sustained rate measured with ``wrk`` (1 thread, 64 connections, org ids varied so no org goes
over a per-org limit).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from launch_control.web.servers import ChildProcess  # noqa: E402

HOST = "127.0.0.1"
CANARY_PERCENT = 5
PATH = "/api/analytics"  # limited and WAF-routed in the shipped plan: the protected rows do real work
CONNECTIONS = 64
WRK_ORGS = 50_000  # wrk's org ids: enough that no org goes over the plan's per-org limits
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
PIN = {"on": True}


def nginx_config(tmp: Path, name: str, http: str) -> str:
    """A one-worker nginx config in the foreground, its pid, log and temp files under ``tmp``
    (``name`` keeps two nginx apart), with ``http`` as the body of its http block."""
    user = "user root;" if os.geteuid() == 0 else ""
    head = textwrap.dedent(
        f"""
        {user}
        worker_processes 1;
        daemon off;
        pid {tmp}/{name}.pid;
        error_log {tmp}/{name}-error.log warn;
        events {{ worker_connections 4096; }}
        http {{
            access_log off;
            client_body_temp_path {tmp}/body;
            proxy_temp_path {tmp}/proxy;
            fastcgi_temp_path {tmp}/fastcgi;
            uwsgi_temp_path {tmp}/uwsgi;
            scgi_temp_path {tmp}/scgi;
        """
    )
    return head + textwrap.indent(textwrap.dedent(http).strip("\n"), "    ") + "\n}\n"


def gateway_env(tmp: Path) -> dict[str, str]:
    """The environment a benched gateway runs in: a known admin token, its data under ``tmp``, and the
    in-memory limiter (a row that wants Redis adds LAUNCH_CONTROL_REDIS_URL itself)."""
    env = {**os.environ, "LAUNCH_CONTROL_ADMIN_TOKEN": "bench-token", "LAUNCH_CONTROL_DATA_DIR": str(tmp)}
    env.pop("LAUNCH_CONTROL_REDIS_URL", None)
    return env


def cores() -> tuple[set[int] | None, set[int] | None]:
    """(proxy core, everything else) when pinning and there are two cores to separate, else (None, None)."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2 or not PIN["on"]:
        return None, None
    return {available[0]}, set(available[1:])


def pinned(cpus: set[int] | None):  # type: ignore[no-untyped-def]
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def start(argv: list[str], name: str, cpus: set[int] | None, log: Path, env: dict[str, str] | None = None):
    out = open(log, "ab")  # noqa: SIM115 - closed with the process at exit
    return ChildProcess(argv, name=name, env=env, stdout=out, stderr=out, preexec_fn=pinned(cpus))


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (the gateway supervisor's workers, nginx's worker)."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its direct children (nginx's workers, the gateway's) so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def wrk_max(url: str, seconds: int, tmp: Path, cpus: set[int] | None) -> tuple[float, int, str]:
    """(req/s, errors, note) from wrk with 64 connections and varying org ids."""
    script = tmp / "orgs.lua"
    script.write_text(
        "local n = 0\nrequest = function()\n  n = n + 1\n"
        f'  return wrk.format("GET", nil, {{["X-Org-Id"] = string.format("org-%05d", n % {WRK_ORGS})}})\nend\n'
    )
    argv = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "-s", str(script), url]
    subprocess.run([*argv[:3], "-d1s", *argv[4:]], capture_output=True, preexec_fn=pinned(cpus), check=False)
    out = subprocess.run(argv, capture_output=True, text=True, preexec_fn=pinned(cpus), check=False).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = 0
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(match.group(1))
    if match := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(x) for x in match.groups())
    return rate, errors, "wrk"
