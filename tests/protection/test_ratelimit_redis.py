"""The Redis backend against the machine's real Redis: the contract under concurrency, at a window
edge, for a client under its rate; the Lua port agrees with the Python reference; NOSCRIPT,
hash tags, pipelines and the asyncio client."""

from __future__ import annotations

import asyncio
import bisect
import multiprocessing
import time

import pytest
import redis

from launch_control.protect.ratelimit.gcra import US, Limit
from launch_control.protect.ratelimit.memory import MemoryBackend
from launch_control.protect.ratelimit.redis_backend import SCRIPT_SHA, RedisBackend, server_time


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max((bisect.bisect_left(times, t + window) - i for i, t in enumerate(times)), default=0)


def _hammer(url: str, prefix: str, ready, go, duration: float, out) -> None:
    backend = RedisBackend(url, prefix=prefix, timeout=1.0)
    limit = Limit("burst-test", 20, 1.0, 5)
    backend.client.ping()
    ready.put(True)
    go.wait(60)
    admitted, calls = [], 0
    end = time.monotonic() + duration
    while time.monotonic() < end:
        reply = backend.raw("acme", [limit])
        calls += 1
        if reply[0]:
            admitted.append(server_time(reply))
    out.put((admitted, calls))


@pytest.mark.timeout(90)
def test_eight_processes_on_one_key_never_exceed_burst_plus_rate(redis_url: str, redis_prefix: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    out, ready, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    duration = 2.5
    procs = [ctx.Process(target=_hammer, args=(redis_url, redis_prefix, ready, go, duration, out)) for _ in range(8)]
    for proc in procs:
        proc.start()
    for _ in procs:  # every process imported and connected: start together
        ready.get(timeout=60)
    go.set()
    results = [out.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(10)
    admitted = sorted(t for times, _ in results for t in times)
    calls = sum(c for _, c in results)
    assert calls > 2 * len(admitted), f"the processes hardly hammered ({calls} calls)"
    # contract: at most b + r·W = 5 + 20 in any 1 s window (server clock from each reply)
    assert max_in_window(admitted, 1.0) <= 25
    # and the limiter admits at its rate rather than refusing everything: b + 1 + r·2.5 s ≈ 56
    assert len(admitted) >= 40, len(admitted)


def test_window_edge_burst_then_hammer(redis_url: str, redis_prefix: str) -> None:
    """The fixed-window exploit: a burst just before a (wall-clock) window boundary, then hammering
    right after it. A fixed window admits up to 2r here; GCRA never more than b + r in any window."""
    backend = RedisBackend(redis_url, prefix=redis_prefix, timeout=1.0)
    limit = Limit("edge", 10, 1.0, 3)
    now = time.time()
    time.sleep((1 - now % 1) + 0.9)  # 100 ms before a whole second
    admitted = []
    for _ in range(40):
        reply = backend.raw("acme", [limit])
        if reply[0]:
            admitted.append(server_time(reply))
    time.sleep(max(0.0, 1 - time.time() % 1) + 0.005)  # just past the boundary
    deadline = time.time() + 1.2
    while time.time() < deadline:
        reply = backend.raw("acme", [limit])
        if reply[0]:
            admitted.append(server_time(reply))
    assert max_in_window(admitted, 1.0) <= limit.burst + 10
    assert len(admitted) >= 10  # it did admit: the burst and then the rate


def test_lua_and_python_agree(redis_url: str, redis_prefix: str) -> None:
    """Windows of an hour: the microseconds between calls do not matter, answers must be identical."""
    backend = RedisBackend(redis_url, prefix=redis_prefix, timeout=1.0)
    memory = MemoryBackend()
    route = Limit("gpt-test", 10, 3600, 3)
    org_wide = Limit("org-wide", 6, 3600, 1)
    for _ in range(8):
        for limits in ([route, org_wide], [route], [org_wide]):
            r, m = backend.decide("acme", limits), memory.decide("acme", limits)
            assert r.allowed == m.allowed
            assert [(s.allowed, s.remaining) for s in r.states] == [(s.allowed, s.remaining) for s in m.states]
            for rs, ms in zip(r.states, m.states, strict=True):
                assert rs.retry_after == pytest.approx(ms.retry_after, abs=0.05)
                assert rs.reset == pytest.approx(ms.reset, abs=0.05)


def test_one_round_trip_decides_every_limit_atomically(redis_url: str, redis_prefix: str) -> None:
    backend = RedisBackend(redis_url, prefix=redis_prefix, timeout=1.0)
    route = Limit("analytics", 100, 3600, 10)
    org_wide = Limit("org-wide", 3, 3600, 0)  # refuses after one request
    first = backend.decide("acme", [route, org_wide])
    assert first.allowed and [s.remaining for s in first.states] == [10, 0]
    second = backend.decide("acme", [route, org_wide])
    assert not second.allowed
    assert [s.allowed for s in second.states] == [True, False]
    assert second.states[0].remaining == 10  # the refused request cost the route nothing
    assert second.retry_after == pytest.approx(1200, abs=1)
    # keys carry the prefix and the {org} hash tag: same cluster slot for one request's keys
    client = redis.Redis.from_url(redis_url)
    keys = sorted(k.decode() for k in client.scan_iter(match=f"{redis_prefix}*"))
    assert keys == [f"{redis_prefix}:{{acme}}:analytics", f"{redis_prefix}:{{acme}}:org-wide"]
    slots = {client.execute_command("CLUSTER KEYSLOT", k) for k in keys} if _has_cluster_keyslot(client) else {0}
    assert len(slots) == 1
    # keys expire when the bucket would be full again
    ttl = client.pttl(keys[1])
    assert 0 < ttl <= 1200 * 1000
    client.close()


def _has_cluster_keyslot(client: redis.Redis) -> bool:
    try:
        client.execute_command("CLUSTER KEYSLOT", "x")
    except redis.ResponseError:
        return False
    return True


def test_noscript_reloads_the_script(private_redis) -> None:
    # SCRIPT FLUSH on a private server: the machine's Redis is shared with other work
    backend = RedisBackend(private_redis.url, prefix="lc-test", timeout=1.0)
    client = redis.Redis.from_url(private_redis.url)
    client.script_flush()
    assert client.script_exists(SCRIPT_SHA) == [False]
    assert backend.decide("acme", [Limit("p", 5, 60, 0)]).allowed
    assert client.script_exists(SCRIPT_SHA) == [True]
    client.script_flush()
    decisions = backend.decide_many([("acme", [Limit("p", 5, 60, 0)]), ("beta", [Limit("p", 5, 60, 0)])])
    assert [d.allowed for d in decisions] == [False, True]
    client.close()


def test_pipelined_decisions_match_single_ones(redis_url: str, redis_prefix: str) -> None:
    backend = RedisBackend(redis_url, prefix=redis_prefix, timeout=1.0)
    limit = Limit("p", 4, 3600, 1)
    decisions = backend.decide_many([("acme", [limit])] * 5 + [("beta", [limit])])
    assert [d.allowed for d in decisions] == [True, True, False, False, False, True]
    assert [d.states[0].remaining for d in decisions[:2]] == [1, 0]


def test_async_client_and_batching(redis_url: str, redis_prefix: str) -> None:
    limit = Limit("p", 10, 3600, 4)

    async def main() -> tuple[list[bool], list[bool]]:
        plain = RedisBackend(redis_url, prefix=redis_prefix + ":plain", timeout=1.0)
        batched = RedisBackend(redis_url, prefix=redis_prefix + ":batch", timeout=1.0, batch=True)
        a = await asyncio.gather(*(plain.adecide("acme", [limit]) for _ in range(20)))
        b = await asyncio.gather(*(batched.adecide("acme", [limit]) for _ in range(20)))
        await plain.aclose()
        await batched.aclose()
        return [d.allowed for d in a], [d.allowed for d in b]

    plain, batched = asyncio.run(main())
    assert sum(plain) == 5 and sum(batched) == 5


def test_server_clock_is_used(redis_url: str, redis_prefix: str) -> None:
    backend = RedisBackend(redis_url, prefix=redis_prefix, timeout=1.0)
    reply = backend.raw("acme", [Limit("p", 5, 60, 0)])
    client = redis.Redis.from_url(redis_url)
    seconds, micros = client.time()
    client.close()
    assert abs(server_time(reply) - (seconds + micros / US)) < 1.0
