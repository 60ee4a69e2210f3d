"""The circuit breaker: closed → open → half-open, with a hook on every transition. It guards the
live-model call (launch_control.protect.degrade.GuardedModel) and the rate limiter's Redis
(launch_control.protect.ratelimit.limiter).

May import: nothing of the project (both degrade and the rate limiter build on it).
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class BreakerState(enum.StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half_open"


class CircuitBreaker:
    """closed / open / half-open, thread-safe. ``allow()`` before a call, then record the outcome.

    ``on_change(old, new)`` is called (outside the lock) on every transition.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        half_open_max_calls: int = 1,
        *,
        name: str = "breaker",
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState, BreakerState], None] | None = None,
    ):
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.half_open_max_calls = half_open_max_calls
        self.name = name
        self._clock = clock
        self.on_change = on_change  # public: an owner (GuardedModel, RateLimiter) hooks in after building
        self._lock = threading.Lock()
        self._state = BreakerState.closed
        self._failures = 0
        self._opened_at = 0.0
        self._probes = 0

    @classmethod
    def from_plan(cls, policy: Any, **kwargs: Any) -> CircuitBreaker:
        """From the plan's ``degradation.circuit_breaker`` section."""
        return cls(policy.failure_threshold, policy.reset_timeout, policy.half_open_max_calls, **kwargs)

    @property
    def state(self) -> BreakerState:
        with self._lock:
            if self._state is BreakerState.open and self._clock() - self._opened_at >= self.reset_timeout:
                return BreakerState.half_open
            return self._state

    def retry_after(self) -> float:
        """Seconds until an open breaker lets a probe through (0 unless open)."""
        with self._lock:
            if self._state is not BreakerState.open:
                return 0.0
            return max(0.0, self.reset_timeout - (self._clock() - self._opened_at))

    def allow(self) -> bool:
        """May a call go through now? In half-open, only ``half_open_max_calls`` probes may."""
        change = None
        with self._lock:
            if self._state is BreakerState.open:
                if self._clock() - self._opened_at < self.reset_timeout:
                    return False
                change = (self._state, BreakerState.half_open)
                self._state, self._probes = BreakerState.half_open, 0
            if self._state is BreakerState.half_open:
                if self._probes >= self.half_open_max_calls:
                    allowed = False
                else:
                    self._probes += 1
                    allowed = True
            else:
                allowed = True
        if change:
            self._notify(*change)
        return allowed

    def record_success(self) -> None:
        change = None
        with self._lock:
            self._failures = 0
            if self._state is not BreakerState.closed:
                change = (self._state, BreakerState.closed)
                self._state = BreakerState.closed
        if change:
            self._notify(*change)

    def record_failure(self) -> None:
        change = None
        with self._lock:
            self._failures += 1
            if self._state is BreakerState.half_open or (
                self._state is BreakerState.closed and self._failures >= self.failure_threshold
            ):
                change = (self._state, BreakerState.open)
                self._state, self._opened_at = BreakerState.open, self._clock()
            elif self._state is BreakerState.open:
                self._opened_at = self._clock()
        if change:
            self._notify(*change)

    def _notify(self, old: BreakerState, new: BreakerState) -> None:
        log.warning("circuit breaker %s: %s → %s", self.name, old.value, new.value)
        if self.on_change:
            try:
                self.on_change(old, new)
            except Exception:  # a status write must never break the caller's request
                log.exception("circuit breaker %s: on_change hook failed", self.name)
