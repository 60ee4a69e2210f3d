"""The circuit breaker: closed → open → half-open, with a hook on every transition. It guards the
live-model call (launch_control.protect.degrade.GuardedModel) and the rate limiter's Redis
(launch_control.protect.ratelimit.limiter).

The state machine is ``pybreaker``'s (fail_max consecutive failures open it; after reset_timeout
one trial decides: success closes, failure re-opens), and so is where the state lives: in this
process by default, or in Redis (``pybreaker.CircuitRedisStorage``) so that every process sees one
breaker. This module keeps the project's call pattern around it — ``allow()`` before a call, then
``record_success()`` / ``record_failure()`` — because the guarded calls are async and pybreaker's
own ``call(fn)`` is sync only, plus ``half_open_max_calls`` probes and ``retry_after()``.

Not on the emergency path: pybreaker imports redis (~80 ms measured; pybreaker itself ~0.6 ms);
rollback writes its banner through launch_control.protect.status, which does not import this module.

May import: nothing of the project (both degrade and the rate limiter build on it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import pybreaker

log = logging.getLogger(__name__)


class BreakerState(enum.StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half_open"


_STATES = {
    pybreaker.STATE_CLOSED: BreakerState.closed,
    pybreaker.STATE_OPEN: BreakerState.open,
    pybreaker.STATE_HALF_OPEN: BreakerState.half_open,
}


class _Failed(Exception):
    """The caller's failure, replayed inside pybreaker's bookkeeping (never escapes this module)."""


def _succeed() -> None:
    return None


def _fail() -> None:
    raise _Failed


class _ClockedMemoryStorage(pybreaker.CircuitMemoryStorage):
    """pybreaker's in-process storage, with ``opened_at`` stamped by the breaker's clock rather than
    the wall clock, so a test's clock drives the reset timeout (the default clock is the wall clock,
    the same instant pybreaker would stamp)."""

    def __init__(self, clock: Callable[[], float]):
        super().__init__(pybreaker.STATE_CLOSED)
        self._clock = clock

    @property
    def opened_at(self) -> dt.datetime | None:
        return self._opened_at

    @opened_at.setter
    def opened_at(self, _now: dt.datetime) -> None:
        self._opened_at = dt.datetime.fromtimestamp(self._clock(), dt.UTC)


class _Transitions(pybreaker.CircuitBreakerListener):
    """Collects pybreaker's state changes, so the owner's hook runs after the locks are released."""

    def __init__(self) -> None:
        self.pending: deque[tuple[BreakerState, BreakerState]] = deque()

    def state_change(self, cb: Any, old_state: Any, new_state: Any) -> None:
        old = _STATES[old_state.name] if old_state is not None else BreakerState.closed
        new = _STATES[new_state.name]
        if old is not new:  # a failure while open re-stamps the open state: no transition
            self.pending.append((old, new))


class CircuitBreaker:
    """closed / open / half-open, thread-safe. ``allow()`` before a call, then record the outcome.

    ``on_change(old, new)`` is called (outside the lock) on every transition. ``storage``: where
    pybreaker keeps the state (``pybreaker.CircuitRedisStorage`` to share it between processes;
    its timestamps are wall-clock seconds, so keep the default ``clock`` with it).
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        half_open_max_calls: int = 1,
        *,
        name: str = "breaker",
        clock: Callable[[], float] = time.time,
        on_change: Callable[[BreakerState, BreakerState], None] | None = None,
        storage: pybreaker.CircuitBreakerStorage | None = None,
    ):
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.half_open_max_calls = half_open_max_calls
        self.name = name
        self._clock = clock
        self.on_change = on_change  # public: an owner (GuardedModel, RateLimiter) hooks in after building
        self._lock = threading.Lock()
        self._probes = 0
        self._storage = storage if storage is not None else _ClockedMemoryStorage(clock)
        self._transitions = _Transitions()
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=failure_threshold,
            reset_timeout=reset_timeout,
            state_storage=self._storage,
            listeners=[self._transitions],
            name=name,
            throw_new_error_on_trip=False,
        )

    @classmethod
    def from_plan(cls, policy: Any, **kwargs: Any) -> CircuitBreaker:
        """From the plan's ``degradation.circuit_breaker`` section."""
        return cls(policy.failure_threshold, policy.reset_timeout, policy.half_open_max_calls, **kwargs)

    def _current(self) -> BreakerState:
        # pybreaker's ``state`` re-reads the storage (another process may have moved a shared one)
        return _STATES[self.breaker.state.name]

    def _open_for(self) -> float:
        """Seconds since the breaker opened (as stamped in its storage)."""
        opened = self._storage.opened_at
        return self._clock() - opened.timestamp() if opened is not None else float("inf")

    @property
    def state(self) -> BreakerState:
        with self._lock:
            state = self._current()
            if state is BreakerState.open and self._open_for() >= self.reset_timeout:
                state = BreakerState.half_open  # a probe would go through now
        self._flush()
        return state

    def retry_after(self) -> float:
        """Seconds until an open breaker lets a probe through (0 unless open)."""
        with self._lock:
            left = self.reset_timeout - self._open_for() if self._current() is BreakerState.open else 0.0
        self._flush()
        return max(0.0, left)

    def allow(self) -> bool:
        """May a call go through now? In half-open, only ``half_open_max_calls`` probes may."""
        with self._lock:
            state = self._current()
            if state is BreakerState.open and self._open_for() >= self.reset_timeout:
                self.breaker.half_open()
                self._probes, state = 0, BreakerState.half_open
            if state is BreakerState.open:
                allowed = False
            elif state is BreakerState.half_open:
                allowed = self._probes < self.half_open_max_calls
                if allowed:
                    self._probes += 1
            else:
                allowed = True
        self._flush()
        return allowed

    def record_success(self) -> None:
        with self._lock:
            state = self._current()
            if state is BreakerState.closed and self.breaker.fail_counter == 0:
                return  # nothing to reset (the rate limiter's hot path: one success per request)
            if state is BreakerState.open:
                self.breaker.close()  # a call admitted before it opened answered: the service is back
            else:
                self.breaker.call(_succeed)  # closed: the failure count restarts; half-open: closes
        self._flush()

    def record_failure(self) -> None:
        with self._lock:
            if self._current() is BreakerState.open:
                self.breaker.open()  # a straggler failed: the reset timeout starts again
            else:
                with contextlib.suppress(_Failed, pybreaker.CircuitBreakerError):
                    self.breaker.call(_fail)  # counts; the fail_max-th (or a failed probe) opens it
        self._flush()

    def _flush(self) -> None:
        pending = self._transitions.pending
        while pending:
            try:
                change = pending.popleft()
            except IndexError:  # another thread took the last one
                return
            self._notify(*change)

    def _notify(self, old: BreakerState, new: BreakerState) -> None:
        log.warning("circuit breaker %s: %s → %s", self.name, old.value, new.value)
        if self.on_change:
            try:
                self.on_change(old, new)
            except Exception:  # a status write must never break the caller's request
                log.exception("circuit breaker %s: on_change hook failed", self.name)
