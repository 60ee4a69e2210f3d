"""The rate limiter a service uses: Redis when configured, the in-memory backend otherwise, and a
failure policy for when Redis does not answer.

* No Redis configured: the in-memory backend decides (embedded default, one process).
* Redis configured and answering: Redis decides (shared by every instance).
* Redis down or slower than ``redis_timeout``: a circuit breaker stops calling it (one probe per
  ``retry_after`` seconds decides when it is back) and the failure policy applies:
  - ``open`` (default; what Stripe and Envoy do): a local limiter per instance, each with
    ``limit / N`` of every limit (rate and burst), so N instances together still admit about the
    limit — not N times it. N is the number of instances *really seen*: while Redis answers, each
    limiter heartbeats into ``<prefix>:instances`` (a sorted set, every ``heartbeat_every`` s,
    entries older than ``heartbeat_ttl`` dropped) and keeps the last count it read, so a single
    gateway keeps its whole limit and never refuses a client under its rate. Before any count was
    read (Redis down since start-up) N is the plan's ``expected_instances`` (default 1);
  - ``closed``: refuse with ``unavailable=True`` (the middleware answers 503 with the reason).
  Each switch is logged once and counted; the client never sees a 500.
* A refusal from Redis is remembered locally until its retry-after: a key over its limit is
  refused again without a round trip. This is exact, not a guess: a GCRA key's TAT never moves
  backwards, so nothing another instance does can make it admissible sooner.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Sequence
from typing import Any

from launch_control.config import REDIS_URL_ENV
from launch_control.protect.breaker import BreakerState, CircuitBreaker
from launch_control.protect.ratelimit.gcra import US, Decision, Limit, LimitState
from launch_control.protect.ratelimit.memory import MemoryBackend, monotonic_us
from launch_control.protect.ratelimit.metrics import BACKEND_TRANSITIONS
from launch_control.protect.ratelimit.redis_backend import DEFAULT_PREFIX, BackendUnavailable, RedisBackend
from launch_control.protect.ratelimit.storage import RateLimitStorage

log = logging.getLogger(__name__)


class RateLimiter:
    """Decides requests; never raises for a backend failure."""

    def __init__(
        self,
        redis: RateLimitStorage | None = None,
        *,
        failure_mode: str = "open",
        expected_instances: int = 1,
        breaker: CircuitBreaker | None = None,
        remember_refusals: bool = True,
        max_remembered: int = 100_000,
        heartbeat_every: float = 2.0,
        heartbeat_ttl: float = 10.0,
    ):
        if failure_mode not in ("open", "closed"):
            raise ValueError(f"failure_mode must be 'open' or 'closed', not {failure_mode!r}")
        self.redis = redis  # the shared store (Redis); reached only through RateLimitStorage
        self.failure_mode = failure_mode
        self.expected_instances = max(1, expected_instances)
        self.instances_seen: int | None = None  # last count read from the heartbeats
        self.heartbeat_every = heartbeat_every
        self.heartbeat_ttl = heartbeat_ttl
        self.instance_id = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._heartbeat: threading.Thread | None = None
        self._stopped = threading.Event()
        self.local: RateLimitStorage = MemoryBackend()  # the embedded default when there is no Redis
        self.fallback: RateLimitStorage = MemoryBackend(name="fallback")  # this instance's share while Redis is away
        self.breaker = breaker or CircuitBreaker(3, 1.0, 1, name="ratelimit-redis")
        self.breaker.on_change = self._breaker_changed
        self.remember_refusals = remember_refusals
        self.max_remembered = max_remembered
        self._refused: dict[tuple[str, tuple[Limit, ...]], tuple[int, Decision]] = {}
        self._lock = threading.Lock()
        self.mode = "redis" if redis else "memory"
        self.last_error = ""

    @classmethod
    def from_plan(
        cls,
        rate_limits: Any,
        *,
        redis_url: str | None = None,
        prefix: str = DEFAULT_PREFIX,
        batch: bool = False,
        **kwargs: Any,
    ) -> RateLimiter:
        """From the plan's ``rate_limits``; Redis from ``redis_url`` or LAUNCH_CONTROL_REDIS_URL."""
        url = redis_url if redis_url is not None else os.environ.get(REDIS_URL_ENV)
        backend = RedisBackend(url, prefix=prefix, timeout=rate_limits.redis_timeout, batch=batch) if url else None
        return cls(
            backend,
            failure_mode=rate_limits.failure_mode,
            expected_instances=rate_limits.expected_instances,
            **kwargs,
        )

    # --- how many instances share the limits ----------------------------------------------------

    @property
    def share(self) -> float:
        """This instance's share of every limit while Redis is away: 1 / instances seen."""
        return 1.0 / max(1, self.instances_seen or self.expected_instances)

    def _start_heartbeat(self) -> None:
        if self._heartbeat is None and self.redis is not None and self.heartbeat_every > 0:
            with self._lock:
                if self._heartbeat is None:
                    self._heartbeat = threading.Thread(target=self._beat, name="ratelimit-heartbeat", daemon=True)
                    self._heartbeat.start()

    def heartbeat(self) -> int | None:
        """Say this instance is alive and read how many are (None if the shared store does not answer)."""
        assert self.redis is not None
        try:
            count = self.redis.heartbeat(self.instance_id, self.heartbeat_ttl)
        except Exception:  # Redis away: keep the last count (that is the point of it)
            return None
        self.instances_seen = max(1, count)
        return self.instances_seen

    def _beat(self) -> None:
        while not self._stopped.is_set():
            self.heartbeat()
            self._stopped.wait(self.heartbeat_every)

    # --- deciding -------------------------------------------------------------------------------

    def decide(self, org: str, limits: Sequence[Limit]) -> Decision:
        limits = tuple(limits)
        if isinstance(answer := self._before_round_trip(org, limits), Decision):
            return answer
        try:
            decision = answer.decide(org, limits)
        except Exception as exc:  # any failure of the shared store falls back; never a 500
            return self._failed(org, limits, exc)
        return self._succeeded(org, limits, decision)

    async def adecide(self, org: str, limits: Sequence[Limit]) -> Decision:
        limits = tuple(limits)
        if isinstance(answer := self._before_round_trip(org, limits), Decision):
            return answer
        try:
            decision = await answer.adecide(org, limits)
        except Exception as exc:  # any failure of the shared store falls back; never a 500
            return self._failed(org, limits, exc)
        return self._succeeded(org, limits, decision)

    def _before_round_trip(self, org: str, limits: tuple[Limit, ...]) -> Decision | RateLimitStorage:
        """The decision when no round trip is needed (a remembered refusal, no shared store, the
        breaker open), else the shared store to ask (its heartbeat started on first use)."""
        if (cached := self._recall(org, limits)) is not None:
            return cached
        if self.redis is None:
            return self.local.decide(org, limits)
        if self._heartbeat is None:
            self._start_heartbeat()
        if not self.breaker.allow():
            return self._without_redis(org, limits)
        return self.redis

    def _without_redis(self, org: str, limits: tuple[Limit, ...]) -> Decision:
        if self.failure_mode == "closed":
            wait = max(1.0, self.breaker.retry_after())
            states = tuple(LimitState(limit, False, 0, wait, wait) for limit in limits)
            return Decision(False, states, "closed", unavailable=True, reason="rate limiter store unavailable")
        return self.fallback.decide(org, [limit.scaled(self.share) for limit in limits])

    # --- failure bookkeeping ----------------------------------------------------------------------

    def _failed(self, org: str, limits: tuple[Limit, ...], exc: Exception) -> Decision:
        """Redis did not answer (called while ``exc`` is being handled, so the log has its
        traceback): count it against the breaker and decide without Redis."""
        if not isinstance(exc, BackendUnavailable):
            log.exception("rate limiter: unexpected error from Redis")
        self.last_error = str(exc)
        self.breaker.record_failure()
        return self._without_redis(org, limits)

    def _succeeded(self, org: str, limits: tuple[Limit, ...], decision: Decision) -> Decision:
        """Redis answered: close the breaker's books and cache the decision."""
        self.breaker.record_success()
        if self.mode != "redis":
            self._switch("redis")
        self._remember(org, limits, decision)
        return decision

    def _breaker_changed(self, old: BreakerState, new: BreakerState) -> None:
        if new is BreakerState.open:
            self._switch("fallback")

    def _switch(self, mode: str) -> None:
        with self._lock:
            if self.mode == mode:
                return
            self.mode = mode
        BACKEND_TRANSITIONS.labels(to=mode).inc()
        where = self.redis.describe() if self.redis else "?"
        if mode == "fallback":
            seen = f"{self.instances_seen} instance(s) seen" if self.instances_seen else "no heartbeat read yet"
            policy = (
                f"fail-open: this instance enforces {self.share:.3g} of every limit locally ({seen})"
                if self.failure_mode == "open"
                else "fail-closed: limited routes answer 503"
            )
            log.warning("rate limiter: Redis at %s unavailable (%s); %s", where, self.last_error, policy)
            with self._lock:
                self._refused.clear()
        else:
            log.warning("rate limiter: Redis at %s answers again; decisions are shared again", where)
            self.fallback.reset()

    # --- the over-limit cache -----------------------------------------------------------------------

    def _remember(self, org: str, limits: tuple[Limit, ...], decision: Decision) -> None:
        if decision.allowed or not self.remember_refusals:
            return
        now = monotonic_us()
        until = now + int(decision.retry_after * US)
        with self._lock:
            if len(self._refused) >= self.max_remembered:
                for key in [k for k, (t, _) in self._refused.items() if t <= now]:
                    del self._refused[key]
                if len(self._refused) >= self.max_remembered:
                    self._refused.clear()
            self._refused[(org, limits)] = (until, decision)

    def _recall(self, org: str, limits: tuple[Limit, ...]) -> Decision | None:
        if not self._refused:
            return None
        entry = self._refused.get((org, limits))
        if entry is None:
            return None
        until, decision = entry
        now = monotonic_us()
        if now >= until:
            with self._lock:
                self._refused.pop((org, limits), None)
            return None
        left = (until - now) / US
        elapsed = decision.retry_after - left
        states = tuple(
            s._replace(
                retry_after=max(0.0, s.retry_after - elapsed) if not s.allowed else 0.0,
                reset=max(0.0, s.reset - elapsed),
            )
            for s in decision.states
        )
        return Decision(False, states, "cache")

    def close(self) -> None:
        self._stopped.set()
        if self.redis:
            self.redis.close()
