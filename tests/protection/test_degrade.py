"""Degradation: full-jitter retries, the circuit breaker, the guarded live-model call against the
real stand-in model over HTTP (down, slow, flapping, recovery) and the shared degradation status."""

from __future__ import annotations

import asyncio
import json
import random
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from protection_helpers import degradation

from launch_control.protect.degrade import (
    BreakerState,
    CircuitBreaker,
    GuardedModel,
    MemoryBoard,
    RedisBoard,
    RetryExhausted,
    SharedBoard,
    StoreBoard,
    backoff_delay,
    clear_degraded,
    read_status,
    retry_call,
    rollback_finished,
    rollback_started,
    set_degraded,
)
from launch_control.web.servers import ServerThread

# --- retry -------------------------------------------------------------------------------------


@given(attempt=st.integers(0, 30), base=st.floats(0.001, 5), cap=st.floats(0.001, 60), seed=st.integers(0, 2**32))
def test_full_jitter_stays_within_its_envelope(attempt: int, base: float, cap: float, seed: int) -> None:
    delay = backoff_delay(attempt, base, cap, random.Random(seed))
    assert 0 <= delay <= min(cap, base * 2**attempt)


def test_full_jitter_spreads_retries() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(4, 0.1, 10, rng) for _ in range(2000)]
    assert min(delays) < 0.1 and max(delays) > 1.5  # U(0, 1.6): clients that failed together spread out


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_retry_is_bounded_by_attempts() -> None:
    clock = FakeClock()
    calls = []

    def fail(left: float) -> str:
        calls.append(left)
        raise ConnectionError("down")

    with pytest.raises(RetryExhausted) as info:
        retry_call(fail, attempts=4, base_delay=0.1, max_delay=1, total_timeout=100, sleep=clock.sleep, clock=clock)
    assert len(calls) == 4 and len(clock.sleeps) == 3 and info.value.attempts == 4
    assert isinstance(info.value.__cause__, ConnectionError)
    assert all(s <= min(1, 0.1 * 2**i) for i, s in enumerate(clock.sleeps))


def test_retry_is_bounded_by_total_time_and_succeeds_when_it_can() -> None:
    clock = FakeClock()
    calls = []

    def slow_fail(left: float) -> str:
        calls.append(left)
        clock.now += 1.0  # each attempt takes a second
        raise TimeoutError

    with pytest.raises(RetryExhausted):
        retry_call(
            slow_fail, attempts=50, base_delay=0.01, max_delay=0.01, total_timeout=3.5, sleep=clock.sleep, clock=clock
        )
    assert len(calls) <= 4 and clock.now <= 3.5 + 1.0
    assert calls[0] == 3.5 and calls[-1] < calls[0]  # each attempt is told how much time is left

    outcomes = iter([ValueError("x"), ValueError("y"), "ok"])

    def flaky(left: float) -> str:
        item = next(outcomes)
        if isinstance(item, Exception):
            raise item
        return item

    assert (
        retry_call(flaky, attempts=3, base_delay=0, max_delay=0, total_timeout=5, sleep=clock.sleep, clock=clock)
        == "ok"
    )


# --- circuit breaker ----------------------------------------------------------------------------


def test_breaker_closed_open_half_open_closed() -> None:
    clock = FakeClock()
    changes = []
    breaker = CircuitBreaker(3, 10.0, 1, clock=clock, on_change=lambda old, new: changes.append(new))
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is BreakerState.closed
    breaker.record_success()  # consecutive failures only
    for _ in range(3):
        breaker.allow()
        breaker.record_failure()
    assert breaker.state is BreakerState.open and not breaker.allow()
    assert breaker.retry_after() == 10.0
    clock.now = 10.0
    assert breaker.state is BreakerState.half_open
    assert breaker.allow()  # the one probe
    assert not breaker.allow()  # nobody else while it is out
    breaker.record_failure()  # probe failed: open again for a full reset_timeout
    assert breaker.state is BreakerState.open
    clock.now = 15.0
    assert not breaker.allow()
    clock.now = 20.0
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.closed and breaker.allow()
    assert changes == [
        BreakerState.open,
        BreakerState.half_open,
        BreakerState.open,
        BreakerState.half_open,
        BreakerState.closed,
    ]


# --- the guarded model over real HTTP -------------------------------------------------------------


@pytest.fixture
def model():
    from launch_control.plane.demo.model import create_app

    app = create_app(admin_token="t")
    with ServerThread(app) as server:
        yield server, app.state.faults


def run(coro):
    """asyncio.run, closing the model client's keep-alive session on the way out."""
    from launch_control.plane.demo import model_client

    async def main():
        try:
            return await coro
        finally:
            await model_client.aclose()

    return asyncio.run(main())


def guarded(url: str, board=None, **plan) -> GuardedModel:
    from launch_control.plane.demo.model_client import complete

    return GuardedModel(complete, degradation(**plan), url=url, board=board, service="api")


def test_live_answer_when_healthy(model) -> None:
    server, _ = model
    answer = run(guarded(server.url).complete("hello"))
    assert answer.mode == "live" and "hello" in answer.text and answer.attempts == 1


def test_model_down_simulated_within_one_breaker_trip_then_recovers(model) -> None:
    server, faults = model
    board = MemoryBoard()
    g = guarded(server.url, board)

    async def main():
        faults.down = True
        first = await g.complete("a")  # 3 attempts fail → simulated, breaker open (threshold 3)
        t0 = time.monotonic()
        second = await g.complete("b")  # breaker open: simulated at once, no model call
        fast = time.monotonic() - t0
        await asyncio.sleep(0.1)  # the status write runs off the event loop
        during = read_status(board)
        faults.down = False
        await asyncio.sleep(0.55)  # reset_timeout 0.5 s → half-open
        probe = await g.complete("c")
        await asyncio.sleep(0.1)
        return first, second, fast, during, probe, read_status(board)

    first, second, fast, during, probe, after = run(main())
    assert first.mode == "simulated" and first.reason == "breaker_open" and first.attempts == 3
    assert second.mode == "simulated" and second.reason == "breaker_open" and second.attempts == 0
    assert fast < 0.05
    assert "simulated" in second.text.lower() or "unavailable" in second.text.lower()
    assert during.degraded and during.source == "breaker:api" and during.retry_after == 0.5
    assert probe.mode == "live", "a successful half-open probe closes the breaker"
    assert g.breaker.state is BreakerState.closed
    assert not after.degraded


def test_slow_model_is_cut_off_and_simulated(model) -> None:
    server, faults = model
    faults.latency = 2.0  # far beyond live_model_timeout 0.3 s
    g = guarded(server.url, retry={"attempts": 2, "base_delay": 0.01, "max_delay": 0.02, "total_timeout": 0.8})
    t0 = time.monotonic()
    answer = run(g.complete("slow"))
    took = time.monotonic() - t0
    assert answer.mode == "simulated" and answer.reason == "model_unavailable"
    assert took < 1.2, f"bounded by total_timeout (0.8 s), took {took:.2f} s"


def test_flapping_model_never_raises(model) -> None:
    server, faults = model
    faults.flapping = True
    g = guarded(server.url)

    async def main():
        return [await g.complete(f"p{i}") for i in range(12)]

    answers = run(main())
    assert all(a.mode in ("live", "simulated") for a in answers)
    assert sum(a.mode == "live" for a in answers) >= 6  # retries ride over every-other-call failures
    assert g.breaker.state is BreakerState.closed  # a failure followed by a success never trips it


def test_unreachable_model_and_client_crashes_are_simulated() -> None:
    from launch_control.web.servers import free_port

    g = guarded(f"http://127.0.0.1:{free_port()}")
    assert run(g.complete("x")).mode == "simulated"

    async def broken(prompt: str, *, url: str, timeout: float) -> str:
        raise KeyError("bug in the client")

    g2 = GuardedModel(broken, degradation(), url="http://x")
    assert run(g2.complete("x")).mode == "simulated"


def test_sync_model_clients_run_off_the_loop() -> None:
    def sync_call(prompt: str, *, url: str, timeout: float) -> str:
        time.sleep(0.01)
        return prompt.upper()

    answer = run(GuardedModel(sync_call, degradation(), url="http://x").complete("abc"))
    assert (answer.mode, answer.text) == ("live", "ABC")


# --- the shared degradation status ----------------------------------------------------------------


def test_status_sources_stack_and_clear_independently() -> None:
    board = MemoryBoard()
    assert not read_status(board).degraded
    set_degraded(board, "live model outage", source="breaker:api", retry_after=30)
    rollback_started("canary error rate 12%", board)
    status = read_status(board)
    assert status.degraded and status.sources == ("breaker:api", "rollback")
    assert status.reason == "live model outage"  # the older root cause leads
    set_degraded(board, "maintenance", source="manual", emergency=True, actor="alice")
    status = read_status(board)
    assert status.emergency and status.reason == "maintenance" and status.actor == "alice"  # emergency first
    assert clear_degraded(board, "manual").reason == "live model outage"
    rollback_finished(board)
    assert read_status(board).sources == ("breaker:api",)
    assert not clear_degraded(board, None).degraded
    with pytest.raises(ValueError):
        set_degraded(board, "  ")


def test_status_in_store_and_redis_newest_wins(sqlite_store, redis_url, redis_prefix) -> None:
    store_board = StoreBoard(sqlite_store)
    redis_board = RedisBoard(redis_url, prefix=redis_prefix)
    shared = SharedBoard(store_board, redis_board)
    set_degraded(shared, "outage", source="manual")
    assert read_status(store_board).reason == "outage" and read_status(redis_board).reason == "outage"
    # written while Redis was away (store only): the newer store copy wins over Redis's stale one
    time.sleep(0.01)
    set_degraded(SharedBoard(store_board), "outage, part 2", source="manual")
    assert read_status(shared).reason == "outage, part 2"
    # another process reading the store only sees it too
    assert sqlite_store.get_status("degradation")["reason"] == "outage, part 2"
    # Redis unreachable: reads fall back to the store
    from launch_control.web.servers import free_port

    dead = SharedBoard(store_board, RedisBoard(f"redis://127.0.0.1:{free_port()}/0", timeout=0.05))
    assert read_status(dead).reason == "outage, part 2"
    set_degraded(dead, "written with Redis down", source="manual")  # best effort: the store takes it
    assert read_status(store_board).reason == "written with Redis down"


def test_cli_degrade_on_off_is_audited(cli) -> None:
    from launch_control.store.db import Store

    result = cli("degrade", "on", "--reason", "live model outage", "--retry-after", "60", "--emergency")
    assert result.returncode == 0, result.stderr
    status = json.loads(cli("degrade", "status", "--json").stdout)
    assert status["degraded"] and status["reason"] == "live model outage" and status["emergency"]
    assert status["retry_after"] == 60 and status["actor"] == "tester" and status["since"]
    missing = cli("degrade", "on")
    assert missing.returncode == 2 and "--reason" in missing.stderr
    assert cli("degrade", "off", "--reason", "model back").returncode == 0
    assert json.loads(cli("degrade", "status", "--json").stdout)["degraded"] is False
    store = Store(launch_id="promptforge-v3")
    actions = [e["action"] for e in store.events()]
    assert "degrade.on" in actions and "degrade.off" in actions
    store.close()
