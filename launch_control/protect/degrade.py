"""Graceful degradation: retry with backoff and full jitter, a circuit breaker, simulated answers
(the degradation status they flip lives in launch_control.protect.status).

* ``retry_call`` / ``aretry_call``: bounded attempts *and* bounded total time with full-jitter
  backoff — the project's one retry policy, ``launch_control.retrying`` (tenacity underneath).
* ``CircuitBreaker`` (launch_control.protect.breaker, re-exported here): closed → open →
  half-open; also guards the rate limiter's Redis.
* ``GuardedModel``: the live-model call under retry + breaker. It never raises: when the model is
  down, slow or the breaker is open it returns a clearly marked simulated answer, and it flips the
  shared degradation status when its breaker opens and closes.
* The degradation status itself (``DegradationStatus``, ``set_degraded`` / ``clear_degraded``,
  ``read_status``, ``StatusView``, the rollback banner) lives in launch_control.protect.status,
  one entry per source on a board (launch_control.protect.boards); it is re-exported here for the
  callers that have always imported it from this module.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import random
from collections.abc import Callable
from typing import Any, TypeVar

from launch_control import retrying
from launch_control.protect.boards import (
    MemoryBoard,
    RedisBoard,
    SharedBoard,
    StatusBoard,
    StoreBoard,
    default_board,
)
from launch_control.protect.breaker import BreakerState, CircuitBreaker
from launch_control.protect.status import (
    STATUS_KEY,
    DegradationStatus,
    StatusView,
    clear_degraded,
    read_status,
    rollback_finished,
    rollback_started,
    set_degraded,
)
from launch_control.retrying import RetryExhausted, backoff_delay

__all__ = [  # the status and breaker names are re-exported: callers import them from here
    "STATUS_KEY",
    "BreakerState",
    "CircuitBreaker",
    "DegradationStatus",
    "MemoryBoard",
    "RetryExhausted",
    "RedisBoard",
    "SharedBoard",
    "StatusBoard",
    "StatusView",
    "StoreBoard",
    "backoff_delay",
    "clear_degraded",
    "default_board",
    "read_status",
    "rollback_finished",
    "rollback_started",
    "set_degraded",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


# --- retry ------------------------------------------------------------------------------------


# The policy (bounded attempts, full-jitter backoff, a deadline) is launch_control.retrying's; these
# are its names here, for the model call and its tests: ``retry_call(fn, attempts=, base_delay=,
# max_delay=, total_timeout=, retry_on=, allow=, sleep=, clock=, rng=)`` calls ``fn(time_left)``
# until it succeeds; ``aretry_call`` is the same for coroutines (each attempt also cut off when the
# total time runs out). ``allow()`` is asked before each attempt (an open breaker stops retries).
retry_call = retrying.call
aretry_call = retrying.acall


# --- the guarded live-model call ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ModelAnswer:
    text: str
    mode: str  # live | simulated | unavailable (simulated_mode off in the plan)
    reason: str = ""  # why not live: breaker_open | model_unavailable | model_error
    attempts: int = 0
    retry_after: float | None = None


def _metrics() -> Any:
    from launch_control.protect.ratelimit import metrics

    return metrics


class GuardedModel:
    """The live-model call under retry + circuit breaker, answering in simulated mode when needed.

    ``call(prompt, *, url, timeout)`` may be sync (run in a worker thread) or async. Any exception
    it raises counts as a failure (a crash inside the client must not become a 5xx either).
    """

    def __init__(
        self,
        call: Callable[..., Any],
        degradation: Any,
        *,
        url: str | None = None,
        board: StatusBoard | None = None,
        service: str = "api",
        simulate: Callable[[str], str] | None = None,
        rng: random.Random | None = None,
    ):
        self.call = call
        self.policy = degradation
        self.url = url if url is not None else degradation.live_model_url
        self.board = board
        self.service = service
        self.source = f"breaker:{service}"
        self.simulate = simulate or self._default_simulation
        self.rng = rng
        self.breaker = CircuitBreaker.from_plan(
            degradation.circuit_breaker, name=f"live-model:{service}", on_change=self._breaker_changed
        )
        self._is_async = inspect.iscoroutinefunction(call)

    def _default_simulation(self, prompt: str) -> str:
        return f"{self.policy.simulated_message} (prompt of {len(prompt)} characters received)"

    async def complete(self, prompt: str) -> ModelAnswer:
        """A live answer, or a simulated one (never an exception) when the model cannot answer."""
        retry = self.policy.retry
        attempts = 0

        async def attempt(left: float) -> str:
            nonlocal attempts
            attempts += 1
            timeout = min(self.policy.live_model_timeout, left)
            try:
                if self._is_async:
                    result = await self.call(prompt, url=self.url, timeout=timeout)
                else:
                    result = await asyncio.to_thread(self.call, prompt, url=self.url, timeout=timeout)
            except BaseException as exc:
                if isinstance(exc, Exception | asyncio.CancelledError):
                    self.breaker.record_failure()
                raise
            self.breaker.record_success()
            return str(result)

        if not self.breaker.allow():
            return self._simulated(prompt, "breaker_open", 0)
        first = True

        def allow() -> bool:
            nonlocal first
            if first:  # the first attempt was admitted above
                first = False
                return True
            return self.breaker.allow()

        try:
            text = await aretry_call(
                attempt,
                attempts=retry.attempts,
                base_delay=retry.base_delay,
                max_delay=retry.max_delay,
                total_timeout=retry.total_timeout,
                retry_on=(Exception,),
                allow=allow,
                rng=self.rng,
            )
        except RetryExhausted:
            reason = "breaker_open" if self.breaker.state is BreakerState.open else "model_unavailable"
            return self._simulated(prompt, reason, attempts)
        except Exception:  # noqa: BLE001 — never a 5xx for a model failure
            log.exception("live model call failed unexpectedly")
            return self._simulated(prompt, "model_error", attempts)
        _metrics().MODEL_CALLS.labels(outcome="live").inc()
        return ModelAnswer(text, "live", attempts=attempts)

    def _simulated(self, prompt: str, reason: str, attempts: int) -> ModelAnswer:
        retry_after = round(self.breaker.retry_after() or self.policy.retry.base_delay, 3)
        if not self.policy.simulated_mode:  # the plan wants no stand-in answers: say it is unavailable
            _metrics().MODEL_CALLS.labels(outcome=f"unavailable_{reason}").inc()
            return ModelAnswer("", "unavailable", reason, attempts, retry_after)
        _metrics().MODEL_CALLS.labels(outcome=f"simulated_{reason}").inc()
        return ModelAnswer(self.simulate(prompt), "simulated", reason, attempts, retry_after)

    def _breaker_changed(self, old: BreakerState, new: BreakerState) -> None:
        _metrics().BREAKER_TRANSITIONS.labels(to=new.value).inc()
        if self.board is None or new is BreakerState.half_open:
            return
        board = self.board
        if new is BreakerState.open:
            job: Callable[[], Any] = lambda: set_degraded(  # noqa: E731
                board,
                "live model unavailable; answering in simulated mode",
                source=self.source,
                retry_after=self.policy.circuit_breaker.reset_timeout,
            )
        else:
            job = lambda: clear_degraded(board, self.source)  # noqa: E731
        _background(job)


async def guarded_answer(guard: GuardedModel, prompt: str, unavailable: type[Exception]) -> str:
    """For handlers written as "the model call raises ``unavailable`` when it cannot answer":
    the live text, or ``unavailable`` raised with ``.reason`` and ``.retry_after`` set (breaker_open,
    model_unavailable, model_error), so the handler's own simulated branch answers."""
    answer = await guard.complete(prompt)
    if answer.mode == "live":
        return answer.text
    exc = unavailable(f"live model unavailable ({answer.reason})")
    # `unavailable` is the handler's own class: these two attributes are this function's contract with it
    exc.reason = answer.reason  # type: ignore[attr-defined]  # set here, read by the handler
    exc.retry_after = answer.retry_after  # type: ignore[attr-defined]  # set here, read by the handler
    raise exc


def _background(job: Callable[[], Any]) -> None:
    """Run a status write off the event loop (it may touch SQL or Redis); log, never raise."""

    def run() -> None:
        try:
            job()
        except Exception:
            log.exception("could not write the degradation status")

    try:
        asyncio.get_running_loop().run_in_executor(None, run)
    except RuntimeError:  # no loop: we are already on a plain thread
        run()
