"""Property tests for the GCRA arithmetic (launch_control.protect.ratelimit.gcra) and the memory backend.

The contract: no key is admitted more than b + count requests in any window of ``window``
seconds, and a client under its rate is never refused; remaining and retry-after are exact.
"""

from __future__ import annotations

import bisect
import math
import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from launch_control.protect.ratelimit.gcra import US, Limit, decide
from launch_control.protect.ratelimit.memory import MemoryBackend

limits = st.builds(
    Limit,
    name=st.just("p"),
    count=st.integers(1, 60).map(float) | st.floats(0.5, 60, allow_nan=False),
    window=st.integers(1_000, 120_000_000).map(lambda us: us / US),
    burst=st.integers(0, 20),
)


def run(limit: Limit, times: list[int]) -> list[int]:
    """Feed request times (µs, sorted) through decide(); return the admitted times."""
    tat: int | None = None
    admitted = []
    for now in times:
        ok, new, _ = decide([tat], now, [limit])
        if ok:
            tat = new[0]
            admitted.append(now)
    return admitted


def max_in_window(times: list[int], window_us: int) -> int:
    """The most times in any half-open interval [t, t + window)."""
    return max((bisect.bisect_left(times, t + window_us) - i for i, t in enumerate(times)), default=0)


@settings(max_examples=300, deadline=None)
@given(limit=limits, gaps=st.lists(st.integers(0, 3_000_000), min_size=1, max_size=300))
def test_no_window_admits_more_than_burst_plus_rate(limit: Limit, gaps: list[int]) -> None:
    times = [sum(gaps[: i + 1]) for i in range(len(gaps))]
    admitted = run(limit, times)
    window_us = round(limit.window * US)
    assert max_in_window(admitted, window_us) <= limit.burst + math.ceil(limit.count)


@settings(max_examples=200, deadline=None)
@given(limit=limits, n=st.integers(1, 200))
def test_a_hammering_client_gets_exactly_burst_plus_one_then_the_rate(limit: Limit, n: int) -> None:
    # n requests at one instant: b + 1 admitted (no more, no fewer)
    assert len(run(limit, [0] * n)) == min(n, limit.burst + 1)


@settings(max_examples=300, deadline=None)
@given(
    limit=limits,
    slack=st.lists(st.integers(0, 5_000_000), min_size=1, max_size=200),
)
def test_a_client_at_or_under_its_rate_is_never_refused(limit: Limit, slack: list[int]) -> None:
    # gaps of at least T between requests (rate ≤ the limit), whatever the burst
    t, times = 0, []
    for extra in slack:
        t += limit.emission_us + extra
        times.append(t)
    assert run(limit, times) == times


@settings(max_examples=300, deadline=None)
@given(
    limit=limits.filter(lambda lim: lim.burst >= 1),
    jitter=st.lists(st.floats(-1.0, 1.0, allow_nan=False), min_size=1, max_size=200),
)
def test_scheduling_jitter_within_the_burst_is_never_refused(limit: Limit, jitter: list[float]) -> None:
    # a client aiming at exactly the rate, each request early or late by up to b·T/2
    half = limit.tolerance_us // 2
    times = sorted(max(0, (i + 1) * limit.emission_us + round(j * half)) for i, j in enumerate(jitter))
    assert run(limit, times) == times


@settings(max_examples=300, deadline=None)
@given(limit=limits, gaps=st.lists(st.integers(0, 2_000_000), min_size=1, max_size=60))
def test_remaining_and_retry_after_are_exact(limit: Limit, gaps: list[int]) -> None:
    tat: int | None = None
    now = 0
    for gap in gaps:
        now += gap
        ok, new, states = decide([tat], now, [limit])
        state = states[0]
        if ok:
            tat = new[0]
            # exactly `remaining` more requests are admitted at this same instant
            probe, extra = tat, 0
            while True:
                ok2, new2, _ = decide([probe], now, [limit])
                if not ok2:
                    break
                probe, extra = new2[0], extra + 1
            assert extra == state.remaining
            assert state.retry_after == 0
        else:
            assert state.remaining == 0
            wait = round(state.retry_after * US)
            assert wait > 0
            assert decide([tat], now + wait, [limit])[0], "admitted after retry-after"
            assert not decide([tat], now + wait - 1, [limit])[0], "refused just before retry-after"
        assert state.reset >= 0


@settings(max_examples=200, deadline=None)
@given(
    a=limits,
    b=limits,
    gaps=st.lists(st.integers(0, 2_000_000), min_size=1, max_size=100),
)
def test_several_limits_admit_only_when_all_do_and_refusals_cost_nothing(a: Limit, b: Limit, gaps: list[int]) -> None:
    b = Limit("org-wide", b.count, b.window, b.burst)
    tats: list[int | None] = [None, None]
    now = 0
    for gap in gaps:
        now += gap
        ok, new, states = decide(tats, now, [a, b])
        alone = [decide([tats[i]], now, [lim])[0] for i, lim in enumerate((a, b))]
        assert ok == all(alone)
        assert [s.allowed for s in states] == alone
        if ok:
            tats = new
        else:
            assert new == [None, None]  # nothing stored: a refused request costs no quota


def test_phase_scaling_halves_rate_and_burst() -> None:
    limit = Limit("analytics", 120, 60, 20)
    half = limit.scaled(0.5)
    assert (half.count, half.window, half.burst) == (60, 60, 10)
    assert half.emission_us == 2 * limit.emission_us
    assert limit.scaled(1) is limit


def test_memory_backend_is_thread_safe() -> None:
    backend = MemoryBackend()
    limit = Limit("p", 50, 3600, 9)  # T = 72 s: nothing refills during the test
    admitted = []
    lock = threading.Lock()

    def hammer() -> None:
        count = sum(backend.decide("acme", [limit]).allowed for _ in range(200))
        with lock:
            admitted.append(count)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(admitted) == limit.burst + 1
    assert backend.decide("other-org", [limit]).allowed  # keys are per org


def test_memory_backend_follows_its_clock_and_prunes() -> None:
    clock = [0]
    backend = MemoryBackend(clock=lambda: clock[0], prune_above=10)
    limit = Limit("p", 1, 1, 0)
    assert backend.decide("a", [limit]).allowed
    refused = backend.decide("a", [limit])
    assert not refused.allowed and refused.retry_after == 1.0
    clock[0] = US
    assert backend.decide("a", [limit]).allowed
    clock[0] = 10 * US
    for i in range(20):
        backend.decide(f"org{i}", [limit])
    clock[0] = 20 * US
    backend.decide("late", [limit])
    assert len(backend) <= 11
