"""The circuit breaker on pybreaker: its state shared between processes through Redis
(pybreaker.CircuitRedisStorage), hooks that run outside the breaker's lock, probes limited in
half-open, and the state pybreaker itself reports."""

from __future__ import annotations

import threading
import time

import pybreaker
import redis

from launch_control.protect.breaker import BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_pybreaker_holds_the_state() -> None:
    clock = Clock()
    breaker = CircuitBreaker(2, 5.0, 1, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.breaker.current_state == pybreaker.STATE_OPEN and breaker.breaker.fail_counter == 2
    clock.now += 5.0
    assert breaker.allow()
    assert breaker.breaker.current_state == pybreaker.STATE_HALF_OPEN
    breaker.record_success()
    assert breaker.breaker.current_state == pybreaker.STATE_CLOSED and breaker.breaker.fail_counter == 0


def test_half_open_lets_only_the_configured_probes_through() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, 1.0, 3, clock=clock)
    breaker.record_failure()
    assert not breaker.allow()
    clock.now += 1.0
    assert [breaker.allow() for _ in range(5)] == [True, True, True, False, False]
    breaker.record_failure()  # one probe failed: open again, for a whole reset timeout
    assert breaker.state is BreakerState.open and breaker.retry_after() == 1.0


def test_the_hook_runs_outside_the_lock() -> None:
    # A hook that reads the breaker (the limiter logs its state) would deadlock inside the lock.
    seen: list[tuple[BreakerState, BreakerState, BreakerState]] = []
    breaker = CircuitBreaker(1, 60.0, 1)
    breaker.on_change = lambda old, new: seen.append((old, new, breaker.state))
    worker = threading.Thread(target=breaker.record_failure)
    worker.start()
    worker.join(5)
    assert not worker.is_alive()
    assert seen == [(BreakerState.closed, BreakerState.open, BreakerState.open)]


def test_the_state_is_shared_through_redis(redis_url: str, redis_prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:

        def shared() -> pybreaker.CircuitRedisStorage:
            return pybreaker.CircuitRedisStorage(pybreaker.STATE_CLOSED, client, namespace=f"{redis_prefix}:model")

        changes: list[BreakerState] = []
        first = CircuitBreaker(3, 2.0, 1, name="a", storage=shared())
        second = CircuitBreaker(3, 2.0, 1, name="b", storage=shared(), on_change=lambda old, new: changes.append(new))
        first.record_failure()
        second.record_failure()  # failures from both processes count against one breaker
        first.record_failure()
        assert first.state is BreakerState.open
        assert not second.allow()  # the other process's breaker is open too, without a failure of its own
        assert changes == [BreakerState.open]  # and its owner heard about it (the status flips)
        assert 0.0 < second.retry_after() <= 2.0  # Redis stamps whole seconds: up to 1 s sooner
        time.sleep(2.1)
        assert second.allow()  # the probe
        second.record_success()
        assert first.state is BreakerState.closed and first.allow()
    finally:
        for key in client.scan_iter(match=f"{redis_prefix}:model:*"):
            client.delete(key)
        client.close()
