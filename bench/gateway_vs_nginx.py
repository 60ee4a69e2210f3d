"""Latency the built-in gateway adds over calling the upstream directly, beside nginx ``split_clients``
and haproxy (the haproxy router's map split, bench/haproxy_bench.py).

Same two upstreams for both proxies: a trivial raw-ASGI "hello" server under uvicorn (uvloop,
httptools), one process per version, so the upstream is not the bottleneck. Both proxies split
5% to the canary by ``X-Org-Id`` (2,000 orgs), keep upstream connections alive, and run one
worker pinned to core 0; upstreams and the load client share core 1 (when there are 2+ cores).

Latency: paced open-loop asyncio load (aiohttp, 64 keep-alive connections) at 200 and 1,000
req/s; after a warm-up, 3 rounds × 10 s per target, rounds interleaved (direct, gateway, nginx)
so drift on a shared machine hits all three alike; figures are medians of the 3 runs.
"Added" = proxy minus direct. Highest sustained rate: ``wrk`` (1 thread, 64 connections, 5 s)
when installed, else a closed-loop asyncio client (then the client may be the limit).

    .venv/bin/python bench/gateway_vs_nginx.py            # full run, ~4 min
    .venv/bin/python bench/gateway_vs_nginx.py --quick    # 1 round × 3 s, for a smoke check

Gateway rows: bare (one worker), with the shipped plan's WAF + per-org rate limits (memory
limiter, and the Redis limiter when Redis answers at LAUNCH_CONTROL_REDIS_URL or 127.0.0.1:6379),
and two workers. Every target is asked for ``/api/analytics`` (GET), a route the plan's WAF and
rate limits cover; the wrk load spreads over 50,000 orgs so none is over its limit (every answer
must be a 200). Worker scaling (bench/worker_scaling.py): the gateway with 1 and 2 workers in front
of a static nginx upstream, unconfined and with each worker capped at --share of a core, max rate
and CPU per request.

Targets (issue 15): bare gateway CPU per request <= 100 µs, <= 140 µs with WAF + memory limiter;
added p50 <= 0.5 ms and p99 <= 3 ms at 1,000 req/s with one worker; two workers >= 1.6x one
worker's max rate; 0 errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(Path(__file__).resolve().parent))

from proxy_load import (  # noqa: E402
    CANARY_PERCENT,
    CONNECTIONS,
    HOST,
    NGINX,
    PATH,
    PIN,
    WRK_ORGS,
    cores,
    cpu_seconds,
    gateway_env,
    nginx_config,
    start,
    wrk_max,
)
from worker_scaling import both  # noqa: E402

from launch_control.web.servers import ChildProcess, free_port, wait_for_http  # noqa: E402

ORGS = [f"org-{i:04d}" for i in range(2000)]
TARGETS = ("direct", "gateway", "gateway+waf", "gateway+waf/redis", "nginx", "haproxy")
PLAN = ROOT / "checklist" / "promptforge-v3.yaml"


# --- the trivial upstream (run as a child: this file with --serve-hello PORT) ----------------------


async def hello(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"6")],
        }
    )
    await send({"type": "http.response.body", "body": b"hello\n"})


def serve_hello(port: int) -> None:
    import uvicorn

    uvicorn.run(
        hello,
        host=HOST,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        timeout_keep_alive=75,
    )


def nginx_conf(tmp: Path, port: int, stable: int, canary: int) -> str:
    return nginx_config(
        tmp,
        "nginx",
        f"""
        split_clients "${{http_x_org_id}}" $launch_upstream {{
            {CANARY_PERCENT}% canary;
            * stable;
        }}
        upstream stable {{ server {HOST}:{stable}; keepalive {CONNECTIONS}; }}
        upstream canary {{ server {HOST}:{canary}; keepalive {CONNECTIONS}; }}
        server {{
            listen {HOST}:{port} reuseport;
            keepalive_requests 100000;
            location / {{
                proxy_pass http://$launch_upstream;
                proxy_http_version 1.1;
                proxy_set_header Connection "";
                add_header X-Served-By $launch_upstream always;
            }}
        }}
        """,
    )


@contextlib.contextmanager
def plane(tmp: Path) -> Iterator[tuple[dict[str, str], dict[str, int]]]:
    proxy_cpus, other_cpus = cores()
    ports = {name: free_port() for name in ("stable", "canary", "gateway", "nginx")}
    processes: list[ChildProcess] = []
    try:
        for role in ("stable", "canary"):
            argv = [sys.executable, __file__, "--serve-hello", str(ports[role])]
            processes.append(start(argv, role, other_cpus, tmp / f"{role}.log"))
        env = gateway_env(tmp)
        gateway = [sys.executable, "-m", "launch_control.plane.gateway", "--stable", "stable", "--canary", "canary"]
        gateway += ["--upstream", f"stable=http://{HOST}:{ports['stable']}"]
        gateway += ["--upstream", f"canary=http://{HOST}:{ports['canary']}"]
        gateway += ["--canary-weight", str(CANARY_PERCENT)]
        variants = {"gateway": ([], env), "gateway+waf": (["--plan", str(PLAN)], env)}
        if redis_url := redis_available():
            variants["gateway+waf/redis"] = (["--plan", str(PLAN)], {**env, "LAUNCH_CONTROL_REDIS_URL": redis_url})
        urls = {"direct": f"http://{HOST}:{ports['stable']}{PATH}"}
        for name, (extra, variant_env) in variants.items():
            ports[name] = free_port()
            argv = [*gateway, "--port", str(ports[name]), *extra]
            processes.append(start(argv, name, proxy_cpus, tmp / f"{name.replace('/', '-')}.log", env=variant_env))
            urls[name] = f"http://{HOST}:{ports[name]}{PATH}"
        if NGINX:
            conf = tmp / "nginx.conf"
            conf.write_text(nginx_conf(tmp, ports["nginx"], ports["stable"], ports["canary"]))
            processes.append(start([NGINX, "-p", str(tmp), "-c", str(conf)], "nginx", proxy_cpus, tmp / "nginx.log"))
            urls["nginx"] = f"http://{HOST}:{ports['nginx']}{PATH}"
        # haproxy, the third column: bench/haproxy_bench.py (split set through the haproxy router)
        from haproxy_bench import start_haproxy

        ports["haproxy"] = free_port()
        haproxy = start_haproxy(
            tmp, ports["haproxy"], ports["stable"], ports["canary"], CANARY_PERCENT, start, proxy_cpus
        )
        if haproxy:
            processes.append(haproxy)
            urls["haproxy"] = f"http://{HOST}:{ports['haproxy']}{PATH}"
        for role in ("stable", "canary"):
            if not wait_for_http(f"http://{HOST}:{ports[role]}/", timeout=20, expect=200):
                raise SystemExit(f"{role} upstream did not start; see {tmp}/{role}.log")
        for name, url in urls.items():  # /health: the protected gateways refuse PATH without an org (400)
            if not wait_for_http(url.replace(PATH, "/health"), timeout=30, expect=200):
                log = (tmp / f"{name.replace('/', '-')}.log").read_text(errors="replace")[-2000:]
                raise SystemExit(f"{name} did not start:\n{log}")
        pids = {process.name: process.pid for process in processes}
        yield urls, {name: pids.get("stable" if name == "direct" else name, 0) for name in urls}
    finally:
        for process in reversed(processes):
            process.stop()


def redis_available() -> str | None:
    """The Redis URL for the Redis-limiter row when a Redis answers there, else None."""
    url = os.environ.get("LAUNCH_CONTROL_REDIS_URL") or f"redis://{HOST}:6379/0"
    try:
        import redis

        redis.Redis.from_url(url, socket_timeout=0.5).ping()
    except Exception:  # no Redis: the row is skipped, and the output says so
        return None
    return url


# --- load ------------------------------------------------------------------------------------------


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    sent: int = 0
    seconds: float = 0.0
    cpu: float = 0.0  # CPU seconds the target used during the run

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))] * 1000

    @property
    def achieved(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


async def paced(session, url: str, rate: float, seconds: float, offset: int = 0) -> Run:  # type: ignore[no-untyped-def]
    run = Run()
    loop = asyncio.get_running_loop()
    total = int(rate * seconds)
    tasks = []

    async def one(i: int) -> None:
        headers = {"X-Org-Id": ORGS[(i * 7919) % len(ORGS)]}
        started = time.perf_counter()
        try:
            async with session.get(url, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    run.errors += 1
        except Exception:  # any failure is an error of this run, not a crash of the bench
            run.errors += 1
        run.latencies.append(time.perf_counter() - started)

    begin = loop.time() + 0.005
    for i in range(total):
        delay = begin + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(offset + i)))
    await asyncio.gather(*tasks)
    run.sent = total
    run.seconds = loop.time() - begin
    return run


async def closed_loop(session, url: str, seconds: float) -> float:  # type: ignore[no-untyped-def]
    done = 0
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(w: int) -> None:
        nonlocal done, errors
        i = w
        while time.perf_counter() < deadline:
            try:
                async with session.get(url, headers={"X-Org-Id": ORGS[i % len(ORGS)]}) as response:
                    await response.read()
                    errors += response.status != 200
            except Exception:
                errors += 1
            done += 1
            i += CONNECTIONS

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(CONNECTIONS)))
    return done / (time.perf_counter() - started) if not errors else -1.0


# --- the run ---------------------------------------------------------------------------------------


async def measure(urls: dict[str, str], pids: dict[str, int], rates: list[float], rounds: int, seconds: float) -> dict:
    import aiohttp

    results: dict[tuple[str, float], list[Run]] = {}
    connector = aiohttp.TCPConnector(limit=CONNECTIONS, keepalive_timeout=60)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as session:
        for rate in rates:
            for url in urls.values():  # warm-up: connections open, caches hot
                await paced(session, url, rate, min(2.0, seconds))
            for r in range(rounds):
                for name, url in urls.items():
                    before = cpu_seconds(pids[name]) if pids.get(name) else 0.0
                    run = await paced(session, url, rate, seconds, offset=r * 100_000)
                    run.cpu = cpu_seconds(pids[name]) - before if pids.get(name) else 0.0
                    results.setdefault((name, rate), []).append(run)
                    print(
                        f"  {rate:>6.0f} req/s  round {r + 1}/{rounds}  {name:<8} p50 {run.quantile(0.5):6.2f} ms"
                        f"  p99 {run.quantile(0.99):6.2f} ms  errors {run.errors}  ({run.achieved:.0f} req/s,"
                        f" {run.cpu / max(1, run.sent) * 1e6:.0f} µs CPU per request)",
                        flush=True,
                    )
    return results


async def python_max(urls: dict[str, str], seconds: float) -> dict[str, float]:
    import aiohttp

    out = {}
    for name, url in urls.items():
        connector = aiohttp.TCPConnector(limit=CONNECTIONS, keepalive_timeout=60)
        async with aiohttp.ClientSession(connector=connector) as session:
            await closed_loop(session, url, 1.0)
            out[name] = await closed_loop(session, url, seconds)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve-hello", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="1 round × 3 s (smoke check, not figures)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rates", default="200,1000")
    parser.add_argument("--max-seconds", type=int, default=5)
    parser.add_argument("--no-scaling", action="store_true", help="skip the 1-vs-2 workers measurement")
    parser.add_argument("--share", type=float, default=0.25, help="each worker's CPU cap in the capped scaling run")
    parser.add_argument(
        "--pin",
        choices=["auto", "yes", "no"],
        default="auto",
        help="pin the proxy to one core and the rest to the other (auto: only when the machine is not busy, "
        "since a pinned process cannot escape a core other work is crowding)",
    )
    args = parser.parse_args()
    busy = os.getloadavg()[0] >= (os.cpu_count() or 1)
    PIN["on"] = args.pin == "yes" or (args.pin == "auto" and not busy)
    if args.serve_hello:
        serve_hello(args.serve_hello)
        return 0
    if args.quick:
        args.rounds, args.seconds, args.max_seconds = 1, 3.0, 2
    rates = [float(r) for r in args.rates.split(",")]
    proxy_cpus, other_cpus = cores()
    if other_cpus:
        os.sched_setaffinity(0, other_cpus)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(
        f"gateway vs nginx: {os.cpu_count()} cores (proxy pinned to {proxy_cpus or 'any'}, "
        f"upstreams + client to {other_cpus or 'any'}), load average {os.getloadavg()[0]:.2f} at start"
        + (" — the machine is busy: expect noisy figures" if busy else "")
    )
    if not NGINX:
        print("nginx not installed: measuring direct and gateway only (install nginx for the comparison)")
    with tempfile.TemporaryDirectory(prefix="lc-bench-") as tmp_name, plane(Path(tmp_name)) as (urls, pids):
        tmp = Path(tmp_name)
        started = time.monotonic()
        results = asyncio.run(measure(urls, pids, rates, args.rounds, args.seconds))
        print("highest sustained rate ...", flush=True)
        cpu_per_request: dict[str, float] = {}
        if shutil.which("wrk"):
            maxima = {}
            for name, url in urls.items():
                before = cpu_seconds(pids[name])
                maxima[name] = wrk_max(url, args.max_seconds, tmp, other_cpus)
                served = maxima[name][0] * (args.max_seconds + 1)  # the 1 s warm-up ran at about that rate too
                cpu_per_request[name] = (cpu_seconds(pids[name]) - before) / served * 1e6 if served else 0.0
        else:
            rates_py = asyncio.run(python_max(urls, args.max_seconds))
            maxima = {name: (rate, 0 if rate >= 0 else 1, "asyncio client") for name, rate in rates_py.items()}
        print(flush=True)
        scaling = [] if args.no_scaling else both(tmp, args.max_seconds, args.share)
        elapsed = time.monotonic() - started
    print()
    print(
        f"Medians of {args.rounds} run(s) × {args.seconds:g} s, paced, {CONNECTIONS} keep-alive connections, "
        f"{len(ORGS)} orgs, {CANARY_PERCENT}% canary, GET {PATH}; load average {os.getloadavg()[0]:.2f} at end"
    )
    width = max(len(name) for name in urls)
    header = f"{'target':<{width}} {'rate':>6} {'p50 ms':>8} {'p99 ms':>8} {'added p50':>10} {'added p99':>10}"
    header += f" {'errors':>7} {'CPU µs/req':>10}"
    print(header)
    print("-" * len(header))
    verdicts = []
    for rate in rates:
        base = results[("direct", rate)]
        base50 = statistics.median(r.quantile(0.5) for r in base)
        base99 = statistics.median(r.quantile(0.99) for r in base)
        for name in urls:
            runs = results[(name, rate)]
            p50 = statistics.median(r.quantile(0.5) for r in runs)
            p99 = statistics.median(r.quantile(0.99) for r in runs)
            errors = sum(r.errors for r in runs)
            added50 = f"{p50 - base50:+.2f}" if name != "direct" else ""
            added99 = f"{p99 - base99:+.2f}" if name != "direct" else ""
            cpu = statistics.median(r.cpu / max(1, r.sent) * 1e6 for r in runs)
            row = f"{name:<{width}} {rate:>6.0f} {p50:>8.2f} {p99:>8.2f} {added50:>10} {added99:>10}"
            print(f"{row} {errors:>7} {cpu:>10.0f}")
            if name == "gateway" and rate == 1000:
                verdicts.append((f"added p50 {p50 - base50:+.2f} ms <= 0.5 at {rate:.0f}/s", p50 - base50 <= 0.5))
                verdicts.append((f"added p99 {p99 - base99:+.2f} ms <= 3 at {rate:.0f}/s", p99 - base99 <= 3.0))
            if name.startswith("gateway"):
                verdicts.append((f"{name}: 0 errors at {rate:.0f}/s ({errors})", errors == 0))
    print()
    print(f"highest sustained rate ({CONNECTIONS} connections, {WRK_ORGS:,} orgs):")
    for name, (rate, errors, tool) in maxima.items():
        shown = f"{rate:,.0f} req/s" if rate >= 0 else "errors"
        print(f"  {name:<{width}} {shown:>14}  errors {errors}  ({tool})")
    if cpu_per_request:
        upstream = cpu_per_request.get("direct") or 0.0
        print("CPU per request at saturation (robust to a busy machine; 1e6 / µs = req/s one free core could do;")
        print(
            "× upstream = the same figure divided by the trivial upstream's own, which a busy machine inflates alike):"
        )
        for name, micros in cpu_per_request.items():
            role = "upstream (direct)" if name == "direct" else name
            ratio = f"  {micros / upstream:4.2f}× upstream" if upstream and name != "direct" else ""
            shown = f"{micros:6.0f} µs  → ~{1e6 / micros:,.0f} req/s per core{ratio}" if micros else "-"
            print(f"  {role:<18} {shown}")
        for name, limit in (("gateway", 100.0), ("gateway+waf", 140.0)):
            if micros := cpu_per_request.get(name):
                verdicts.append((f"{name} CPU per request {micros:.0f} µs <= {limit:.0f}", micros <= limit))
    for name in [n for n in maxima if n.startswith("gateway")]:
        if maxima[name][1]:
            verdicts.append((f"{name}: wrk saw {maxima[name][1]} errors / non-2xx answers", False))
    verdicts += scaling
    print()
    for text, ok in verdicts:
        print(f"  [{'PASS' if ok else 'MISS'}] {text}")
    print(f"\n(measured in {elapsed:.0f} s on a shared machine: treat single figures as noisy; compare medians)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
