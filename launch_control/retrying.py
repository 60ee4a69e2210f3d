"""The one retry policy of Launch Control, on top of ``tenacity``.

Every place that tries a side effect again (the emergency rollback's stages, the engine's router
change, the live-model call, notification delivery, SQLite's switch to WAL) goes through
``call`` / ``acall`` here, so they share one policy:

* **bounded attempts** — at most ``attempts`` calls (``None``: only the deadline bounds them);
* **exponential backoff with full jitter** — the wait before retry ``n`` (0-based) is uniform in
  ``[0, min(max_delay, base_delay·2^n)]`` (``backoff_delay``; the "full jitter" of the AWS
  architecture blog), so clients that failed together do not retry together; ``jitter_floor``
  keeps a share of each step (0.5 is the blog's "equal jitter", for waits that must grow);
* **a deadline** — ``total_timeout`` seconds from the first call: no wait is started that would
  end past it, and ``fn(time_left)`` is told how much time is left (``acall`` also cuts an
  attempt off when the time runs out).

When the policy gives up it raises ``RetryExhausted`` (attempts made, seconds spent, ``__cause__``
the last failure), or with ``reraise=True`` the last failure itself. An error that ``retryable``
says is not worth retrying is raised at once. ``allow()`` is asked before each attempt (a circuit
breaker that opened stops the retries); ``on_failure(attempt, error)`` hears of every failure.

``sleep``, ``clock`` and ``rng`` are there for tests. tenacity is small (a few ms at import, the
standard library otherwise), so the emergency path may import this module.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import tenacity

from launch_control.errors import LaunchControlError

T = TypeVar("T")
Failure = Callable[[int, BaseException], None]


def backoff_delay(
    attempt: int, base: float, cap: float, rng: random.Random | None = None, floor: float = 0.0
) -> float:
    """Jittered delay before retry number ``attempt`` (0-based): U(floor·d, d), d = min(cap, base·2^attempt).

    ``floor`` 0 is full jitter; a caller that promises its waits grow (notification delivery keeps
    at least half of each step, "equal jitter") passes 0.5.
    """
    ceiling = min(cap, base * (2**attempt))
    return (rng or random).uniform(floor * ceiling, ceiling)


class RetryExhausted(LaunchControlError):
    """Every attempt failed (or time ran out); ``__cause__`` is the last failure."""

    def __init__(self, attempts: int, elapsed: float, last: BaseException | None):
        self.attempts, self.elapsed, self.last = attempts, elapsed, last
        super().__init__(f"gave up after {attempts} attempt(s) in {elapsed:.2f} s: {last}")


def _policy(
    *,
    attempts: int | None,
    base_delay: float,
    max_delay: float,
    total_timeout: float,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    retryable: Callable[[BaseException], bool] = lambda _exc: True,
    allow: Callable[[], bool] = lambda: True,
    on_failure: Failure | None = None,
    reraise: bool = False,
    jitter_floor: float = 0.0,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> tuple[Callable[[], float], dict[str, Any]]:
    """The policy's clock-based "time left" and tenacity arguments (shared by ``call`` and ``acall``).

    These keyword arguments are what ``call`` and ``acall`` take; see the module docstring.
    """
    start = clock()
    if not allow():  # the breaker is open: not even a first attempt
        raise RetryExhausted(0, 0.0, None)

    def left() -> float:
        return total_timeout - (clock() - start)

    def wait(state: tenacity.RetryCallState) -> float:
        return backoff_delay(state.attempt_number - 1, base_delay, max_delay, rng, jitter_floor)

    def stop(state: tenacity.RetryCallState) -> bool:
        if attempts is not None and state.attempt_number >= attempts:
            return True
        # No wait that would end at or past the deadline; a breaker that opened stops the retries.
        return state.upcoming_sleep >= left() or not allow()

    def worth_retrying(exc: BaseException) -> bool:
        return isinstance(exc, retry_on) and retryable(exc)

    def failed(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None and state.outcome.failed else None
        if on_failure is not None and error is not None:
            on_failure(state.attempt_number, error)

    def give_up(state: tenacity.RetryCallState) -> Any:
        last = state.outcome.exception() if state.outcome is not None else None
        if reraise and last is not None:
            raise last
        raise RetryExhausted(state.attempt_number, clock() - start, last) from last

    return left, {
        "wait": wait,
        "stop": stop,
        "retry": tenacity.retry_if_exception(worth_retrying),
        "after": failed,
        "retry_error_callback": give_up,
        "reraise": True,  # an error not worth retrying is raised as itself
    }


def call(fn: Callable[[float], T], *, sleep: Callable[[float], None] = time.sleep, **policy: Any) -> T:
    """Call ``fn(time_left)`` under the policy; its value, or raise. ``policy``: ``_policy``'s
    keywords (attempts, base_delay, max_delay, total_timeout required; see the module docstring)."""
    left, options = _policy(**policy)
    return tenacity.Retrying(sleep=sleep, **options)(lambda: fn(left()))


async def acall(fn: Callable[[float], Awaitable[T]], **policy: Any) -> T:
    """``call`` for coroutines; each attempt is also cut off when the total time runs out."""
    import asyncio  # only coroutine callers need it; the sync callers (rollback, store) do not

    left, options = _policy(**policy)

    async def attempt() -> T:
        remaining = left()
        return await asyncio.wait_for(fn(remaining), timeout=remaining)

    return await tenacity.AsyncRetrying(sleep=asyncio.sleep, **options)(attempt)
