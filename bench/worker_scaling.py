"""Does a second gateway worker add a worker's worth of capacity? Max rate and CPU per request of
the gateway with 1 and 2 workers, in front of a static nginx upstream (so the upstream's CPU does
not cap the second worker).

Two ways, both printed:

- **unconfined**: the workers take what the machine gives. On a 2-core machine wrk, nginx and the
  loopback kernel work already need about one core at one worker's saturation rate, so a second
  worker has no core to run on and the rate cannot double there, however well workers scale.
- **each worker capped at a share of one core** (``--share``, default 0.25; a cgroup per worker,
  cgroup v1 ``cpu`` or v2 ``cpu.max``, needs root): the gateway is then the bottleneck with 1 and
  with 2 workers while the rest of the machine has room, which is what a machine with a free
  core per worker shows. A second worker that shared a lock, a queue or a hot cache line with
  the first would not double the rate here either.

    .venv/bin/python bench/worker_scaling.py [--seconds 5] [--share 0.25]

Target (issue 15): 2 workers >= 1.6x one worker's max rate.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from proxy_load import (  # noqa: E402
    CANARY_PERCENT,
    HOST,
    NGINX,
    PATH,
    children,
    cpu_seconds,
    gateway_env,
    nginx_config,
    start,
    wrk_max,
)

from launch_control.web.servers import free_port, wait_for_http  # noqa: E402

PERIOD_US = 20_000  # a short CFS period: a capped worker is paused for at most ~15 ms at a time

Scaling = dict[int, tuple[float, int, float]]  # workers -> (max req/s, errors, CPU µs per request)


def static_nginx_conf(tmp: Path, port: int) -> str:
    """nginx answering 200 "hello" itself: an upstream cheap enough that it never caps the gateway."""
    return nginx_config(
        tmp,
        "static",
        f"""
        server {{
            listen {HOST}:{port} reuseport;
            keepalive_requests 100000;
            keepalive_timeout 75s;
            location / {{ return 200 "hello\\n"; }}
        }}
        """,
    )


# --- per-worker CPU caps ---------------------------------------------------------------------------


def _cgroup_base() -> tuple[Path, str] | None:
    """(directory new cgroups go under, "v1" | "v2") for the cpu controller, or None when not writable."""
    if os.geteuid() != 0:
        return None
    own = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        own[controllers] = path.lstrip("/")
    v1 = Path("/sys/fs/cgroup/cpu")
    if (v1 / "cpu.cfs_quota_us").exists():
        key = next((k for k in own if "cpu" in k.split(",")), "cpu")
        return v1 / own.get(key, ""), "v1"
    for root in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
        if (root / "cgroup.controllers").exists() and "cpu" in (root / "cgroup.controllers").read_text().split():
            with contextlib.suppress(OSError):
                (root / "cgroup.subtree_control").write_text("+cpu")
            return root, "v2"
    return None


def caps_available() -> bool:
    return _cgroup_base() is not None


@contextlib.contextmanager
def every_core() -> Iterator[None]:
    """This process (so the gateway, nginx and wrk it starts) on every core, whatever pinning the caller
    chose: children inherit the affinity, and two workers pinned to one core cannot scale."""
    saved = os.sched_getaffinity(0)
    with contextlib.suppress(OSError):  # a cpuset narrower than cpu_count: keep what we may use
        os.sched_setaffinity(0, range(os.cpu_count() or 1))
    try:
        yield
    finally:
        os.sched_setaffinity(0, saved)


@contextlib.contextmanager
def capped(pids: list[int], share: float) -> Iterator[None]:
    """Each of ``pids`` in a cgroup of its own, capped at ``share`` of one core; undone on exit."""
    found = _cgroup_base()
    if found is None:
        raise RuntimeError("no writable cgroup cpu controller (needs root and cgroup v1 cpu or v2 cpu.max)")
    base, kind = found
    made: list[Path] = []
    try:
        for pid in pids:
            group = base / f"lc-bench-{pid}"
            group.mkdir(exist_ok=True)
            made.append(group)
            quota = int(PERIOD_US * share)
            if kind == "v1":
                (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (group / "cpu.cfs_quota_us").write_text(str(quota))
            else:
                (group / "cpu.max").write_text(f"{quota} {PERIOD_US}")
            (group / "cgroup.procs").write_text(str(pid))
        yield
    finally:
        for group in made:
            for pid in (group / "cgroup.procs").read_text().split() if group.exists() else []:
                with contextlib.suppress(OSError):  # gone already, or moved back by someone else
                    (base / "cgroup.procs").write_text(pid)
            with contextlib.suppress(OSError):
                group.rmdir()


# --- the measurement -------------------------------------------------------------------------------


def worker_scaling(tmp: Path, seconds: int, share: float | None = None) -> Scaling:
    """The gateway with 1 and 2 workers: max rate, errors, CPU per request; each worker capped at
    ``share`` of a core when given."""
    if not (NGINX and shutil.which("wrk")):
        return {}
    with every_core():
        return _scaling(tmp, seconds, share)


def _scaling(tmp: Path, seconds: int, share: float | None) -> Scaling:
    port = free_port()
    (tmp / "static.conf").write_text(static_nginx_conf(tmp, port))
    upstream = start([NGINX, "-p", str(tmp), "-c", str(tmp / "static.conf")], "static", None, tmp / "static.log")
    env = gateway_env(tmp)
    out: Scaling = {}
    try:
        for workers in (1, 2):
            gport = free_port()
            argv = [sys.executable, "-m", "launch_control.plane.gateway", "--stable", "stable", "--canary", "canary"]
            argv += ["--upstream", f"stable=http://{HOST}:{port}", "--upstream", f"canary=http://{HOST}:{port}"]
            argv += ["--canary-weight", str(CANARY_PERCENT), "--port", str(gport), "--workers", str(workers)]
            log = tmp / f"gateway-{workers}w.log"
            gateway = start(argv, f"gateway-{workers}w", None, log, env=env)
            try:
                url = f"http://{HOST}:{gport}{PATH}"
                if not wait_for_http(url.replace(PATH, "/health"), timeout=30, expect=200):
                    raise SystemExit(f"gateway with {workers} workers did not start; see {log}")
                deadline = time.monotonic() + 30
                while workers > 1 and len(children(gateway.pid)) < workers and time.monotonic() < deadline:
                    time.sleep(0.1)
                time.sleep(1.0)  # every worker listening (a started process is not yet a bound one)
                # one worker is the gateway process itself; several are the supervisor's children
                serving = children(gateway.pid) if workers > 1 else [gateway.pid]
                caps = capped(serving, share) if share else contextlib.nullcontext()
                with caps:
                    before = cpu_seconds(gateway.pid)
                    rate, errors, _ = wrk_max(url, seconds, tmp, None)
                    served = rate * (seconds + 1)  # the 1 s warm-up ran at about that rate too
                    out[workers] = (rate, errors, (cpu_seconds(gateway.pid) - before) / served * 1e6)
            finally:
                gateway.stop()
    finally:
        upstream.stop()
    return out


def report(scaling: Scaling, title: str) -> tuple[str, bool] | None:
    """Print one scaling table; the verdict line for 2 vs 1 worker, if both were measured."""
    print(title)
    for workers, (rate, errors, micros) in scaling.items():
        print(f"  gateway × {workers}  {rate:>10,.0f} req/s  errors {errors}  CPU {micros:5.0f} µs per request")
    if not (1 in scaling and 2 in scaling and scaling[1][0]):
        return None
    ratio = scaling[2][0] / scaling[1][0]
    cpu = f"CPU per request {scaling[1][2]:.0f} → {scaling[2][2]:.0f} µs"
    print(f"  2 workers / 1 worker: {ratio:.2f}× the rate; {cpu}")
    return f"2 workers sustain {ratio:.2f}× one worker's max rate (>= 1.6)", ratio >= 1.6


def both(tmp: Path, seconds: int, share: float) -> list[tuple[str, bool]]:
    """Unconfined, then capped (when cgroups allow); the verdicts."""
    verdicts = []
    free = worker_scaling(tmp, seconds)
    if verdict := report(free, "workers, unconfined (they share the machine's cores with wrk and nginx):"):
        verdicts.append((verdict[0] + ", unconfined", verdict[1]))
    if not caps_available():
        print(f"workers capped at {share:g} core each: skipped (needs root and a writable cgroup cpu controller)")
        return verdicts
    capped_run = worker_scaling(tmp, seconds, share)
    title = f"workers, each capped at {share:g} of a core (the rest of the machine has room for wrk and nginx):"
    if verdict := report(capped_run, title):
        verdicts.append((verdict[0] + f", each capped at {share:g} core", verdict[1]))
    return verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="wrk run per measurement (after a 1 s warm-up)")
    parser.add_argument("--share", type=float, default=0.25, help="each worker's cap, in cores (0 < share <= 1)")
    args = parser.parse_args()
    if not 0 < args.share <= 1:
        parser.error(f"--share {args.share}: expected a share of one core, 0 < share <= 1")
    if not (NGINX and shutil.which("wrk")):
        print("needs nginx and wrk (apt-get install nginx wrk)", file=sys.stderr)
        return 2
    print(f"worker scaling: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory(prefix="lc-scaling-") as tmp:
        verdicts = both(Path(tmp), args.seconds, args.share)
    print()
    for text, ok in verdicts:
        print(f"  [{'PASS' if ok else 'MISS'}] {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
