"""Rate-limit decisions per second and per-decision latency: ours (GCRA Lua) against `limits`.

Side by side in one run, on the same Redis and the same 1,000 org keys at 60/min, with 1 and 4
worker processes (each a sync redis-py client, hiredis installed):

    limits fixed window          FixedWindowRateLimiter.hit  (a bool only)
    limits fixed window+stats    hit + get_window_stats      (what it takes to fill headers)
    limits moving window         MovingWindowRateLimiter.hit
    ours EVALSHA                 one round trip: allowed, remaining, retry-after, reset
    ours EVALSHA, 2 limits       route policy + org-wide limit, still one round trip
    ours pipelined x32           32 decisions per round trip (what the async batcher does)

then the asyncio client (plain and batched, 32 concurrent callers) and the CPU the WAF and
rate-limit middleware add per request in-process.

Latency is per call as the caller sees it (for the pipeline: the batch's round trip, which is
what each of its requests waits). CPU columns are per decision and less sensitive to a busy
machine than wall-clock rates: the workers' own CPU (redis-py + our parsing) and Redis's CPU
(INFO commandstats usec; the Redis is shared, so other clients' commands leak in a little).
Targets (issue 5): ours >= 1.0x limits fixed window per single
decision, >= 2.5x pipelined. The machine is shared and noisy: each variant runs in several
interleaved rounds and the table shows the median round.

Usage: python bench/ratelimit_bench.py [--redis URL] [--duration 3] [--rounds 3] [--procs 1,4]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import time
import uuid
from typing import Any

KEYS = 1000
BATCH = 32
VARIANTS = [
    "limits fixed window",
    "limits fixed window+stats",
    "limits moving window",
    "ours EVALSHA",
    "ours EVALSHA, 2 limits",
    f"ours pipelined x{BATCH}",
]


def _make(variant: str, url: str, prefix: str) -> Any:
    """A function that takes one decision (or one batch) for an org; returns decisions taken."""
    if variant.startswith("limits"):
        from limits import parse, storage, strategies

        # moving and fixed windows keep different data types under the same key name: separate prefixes
        kind = "mw" if "moving" in variant else "fw"
        store = storage.RedisStorage(url, key_prefix=f"{prefix}-limits-{kind}")
        item = parse("60/minute")
        if "moving" in variant:
            limiter = strategies.MovingWindowRateLimiter(store)
        else:
            limiter = strategies.FixedWindowRateLimiter(store)
        if "stats" in variant:

            def one(org: str) -> int:
                limiter.hit(item, org)
                limiter.get_window_stats(item, org)
                return 1

            return one

        def hit(org: str) -> int:
            limiter.hit(item, org)
            return 1

        return hit

    from launch_control.protect.ratelimit.gcra import Limit
    from launch_control.protect.ratelimit.redis_backend import RedisBackend

    backend = RedisBackend(url, prefix=f"{prefix}-ours", timeout=1.0)
    route = Limit("gpt-test", 60, 60, 10)
    org_wide = Limit("org-wide", 300, 60, 30)
    if "pipelined" in variant:
        rng = random.Random()

        def batch(org: str) -> int:
            backend.decide_many([(f"org{rng.randrange(KEYS)}", (route,)) for _ in range(BATCH)])
            return BATCH

        return batch
    limits = (route, org_wide) if "2 limits" in variant else (route,)

    def decide(org: str) -> int:
        backend.decide(org, limits)
        return 1

    return decide


def _worker(url: str, prefix: str, commands: Any, results: Any) -> None:
    rng = random.Random()
    while True:
        command = commands.get()
        if command is None:
            return
        variant, duration, go_at = command
        fn = _make(variant, url, prefix)
        for _ in range(50):  # warm up: connect, load the script
            fn(f"org{rng.randrange(KEYS)}")
        while time.time() < go_at:
            time.sleep(0.001)
        latencies: list[int] = []
        decisions = 0
        cpu0 = time.process_time()
        end = time.perf_counter() + duration
        while True:
            org = f"org{rng.randrange(KEYS)}"
            t0 = time.perf_counter_ns()
            decisions += fn(org)
            t1 = time.perf_counter_ns()
            latencies.append(t1 - t0)
            if t1 / 1e9 >= end:
                break
        results.put((decisions, latencies, time.process_time() - cpu0))


def _cleanup(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"*{prefix}*", count=5000))
    for i in range(0, len(keys), 1000):
        client.delete(*keys[i : i + 1000])
    client.close()


def _server_usec(url: str) -> float:
    """Redis's own CPU spent in commands so far (sum of INFO commandstats usec)."""
    import redis

    client = redis.Redis.from_url(url)
    stats = client.info("commandstats")
    client.close()
    return float(sum(v.get("usec", 0) for v in stats.values() if isinstance(v, dict)))


def _pct(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1)))] / 1000  # µs


def async_rates(url: str, prefix: str, duration: float = 2.0, callers: int = 32) -> None:
    """One process, uvloop, ``callers`` concurrent coroutines: the middleware's path (redis.asyncio),
    plain (one EVALSHA each) and batched (concurrent decisions share a pipeline; the gateway)."""
    import asyncio

    import uvloop

    from launch_control.protect.ratelimit.gcra import Limit
    from launch_control.protect.ratelimit.redis_backend import RedisBackend

    limits = (Limit("gpt-test", 60, 60, 10),)

    async def run(batch: bool) -> tuple[float, float]:
        backend = RedisBackend(url, prefix=f"{prefix}-async", timeout=1.0, batch=batch)
        done = 0
        end = time.perf_counter() + duration

        async def caller(offset: int) -> None:
            nonlocal done
            i = offset
            while time.perf_counter() < end:
                await backend.adecide(f"org{i % KEYS}", limits)
                done += 1
                i += callers

        cpu = time.process_time()
        await asyncio.gather(*(caller(c) for c in range(callers)))
        cpu = time.process_time() - cpu
        await backend.aclose()
        return done / duration, cpu / done * 1e6

    print(f"\nasyncio (uvloop), 1 process, {callers} concurrent callers, {duration:g} s, best of 2:")
    for batch in (False, True):
        rate, cpu = max(uvloop.run(run(batch)) for _ in range(2))
        label = "batched (shared pipelines)" if batch else "plain EVALSHA"
        print(f"  {label:<28} {rate:>10,.0f} decisions/s  {cpu:6.1f} µs CPU/decision")


def middleware_overhead(n: int = 20000) -> None:
    """CPU per request that protect() adds in front of an app (in-process, memory backend)."""
    import asyncio

    from launch_control.protect.degrade import MemoryBoard
    from launch_control.protect.ratelimit.limiter import RateLimiter
    from launch_control.protect.ratelimit.middleware import RateLimitMiddleware
    from launch_control.protect.waf import WafMiddleware
    from launch_control.store.lastgood import load_plan

    plan = load_plan()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    limited = RateLimitMiddleware(app, plan.rate_limits, limiter=RateLimiter())
    stacks = {
        "bare app": app,
        "WAF": WafMiddleware(app, plan.waf, rate_limits=plan.rate_limits, board=MemoryBoard()),
        "rate limiter": limited,
        "WAF + rate limiter": WafMiddleware(limited, plan.waf, rate_limits=plan.rate_limits, board=MemoryBoard()),
    }
    headers = [(b"host", b"gw"), (b"x-org-id", b""), (b"user-agent", b"bench"), (b"accept", b"*/*")]

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    async def run(target: Any) -> float:
        start = time.process_time()
        for i in range(n):
            scope_headers = [*headers[:1], (b"x-org-id", f"org{i % 1000}".encode()), *headers[2:]]
            scope = {
                "type": "http",
                "method": "GET",
                "path": "/api/analytics",
                "raw_path": b"/api/analytics",
                "query_string": b"",
                "headers": scope_headers,
                "client": ("127.0.0.1", 1),
            }
            await target(scope, receive, send)
        return (time.process_time() - start) / n * 1e6

    base = None
    print(f"\nMiddleware CPU per request, in-process, memory backend, GET /api/analytics, {n} requests:")
    for name, target in stacks.items():
        cost = min(asyncio.run(run(target)) for _ in range(3))
        base = cost if base is None else base
        print(f"  {name:<20} {cost:6.1f} µs   (+{cost - base:.1f} µs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per variant per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--procs", default="1,4")
    parser.add_argument("--middleware-only", action="store_true", help="only the in-process middleware cost")
    args = parser.parse_args()
    if args.middleware_only:
        middleware_overhead()
        return
    prefix = f"lc-bench-{uuid.uuid4().hex[:6]}"
    ctx = multiprocessing.get_context("spawn")
    table: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
    started = time.time()
    try:
        for procs in [int(p) for p in args.procs.split(",")]:
            commands, results = ctx.Queue(), ctx.Queue()
            workers = [ctx.Process(target=_worker, args=(args.redis, prefix, commands, results)) for _ in range(procs)]
            for w in workers:
                w.start()
            for _ in range(args.rounds):
                for variant in VARIANTS:  # interleaved: noise hits every variant alike
                    go_at = time.time() + 0.5 + 0.1 * procs
                    for _ in workers:
                        commands.put((variant, args.duration, go_at))
                    while time.time() < go_at - 0.05:
                        time.sleep(0.01)
                    usec0 = _server_usec(args.redis)  # warm-ups are done by now (50 calls each)
                    parts = [results.get(timeout=120) for _ in workers]
                    server = _server_usec(args.redis) - usec0
                    decisions = sum(p[0] for p in parts)
                    lat = [x for p in parts for x in p[1]]
                    rate = decisions / args.duration
                    client_cpu = sum(p[2] for p in parts) * 1e6 / decisions
                    row = (rate, _pct(lat, 0.5), _pct(lat, 0.99), client_cpu, server / decisions)
                    table.setdefault((variant, procs), []).append(row)
            for _ in workers:
                commands.put(None)
            for w in workers:
                w.join(30)
        async_rates(args.redis, prefix)
    finally:
        _cleanup(args.redis, prefix)

    print(f"\nRedis {args.redis}, {KEYS} org keys at 60/min, {args.rounds} rounds x {args.duration:g} s, median round")
    print(
        f"{'variant':<28} {'procs':>5} {'decisions/s':>12} {'vs fixed':>9} {'p50 µs':>8} {'p99 µs':>8}"
        f" {'client CPU µs':>14} {'Redis CPU µs':>13}"
    )
    for procs in sorted({p for _, p in table}):
        base = statistics.median(r[0] for r in table[("limits fixed window", procs)])
        for variant in VARIANTS:
            rows = table[(variant, procs)]
            rate, p50, p99, client_cpu, server_cpu = (statistics.median(r[i] for r in rows) for i in range(5))
            print(
                f"{variant:<28} {procs:>5} {rate:>12,.0f} {rate / base:>8.2f}x {p50:>8.0f} {p99:>8.0f}"
                f" {client_cpu:>14.1f} {server_cpu:>13.1f}"
            )
    print(f"(total {time.time() - started:.0f} s; pipelined latency is the whole batch's round trip)")
    middleware_overhead()
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average at the end: {load} on {os.cpu_count()} cores (the machine is shared: figures are noisy)")


if __name__ == "__main__":
    main()
