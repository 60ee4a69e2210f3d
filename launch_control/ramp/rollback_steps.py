"""The side effects an emergency rollback's stages are made of: the bounded retry, the plan's
router and deployer built on demand, the health verification, the "rollback in progress" banner,
the notification hand-off and the manual command for a rollback that did not verify.

Standard library only at import, like launch_control.ramp.rollback which runs these stages in
order: everything else (tenacity, the adapters, the status board, the Notifier) is imported
when a stage needs it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from launch_control.plan.model import Plan
    from launch_control.plane.traffic.base import TrafficRouter
    from launch_control.respond.notify import Notifier
    from launch_control.store.db import Store

    NotifierArg = Notifier | Literal[False] | None  # False: send nothing; None: the plan's Notifier

log = logging.getLogger("launch_control.ramp.rollback")  # one logger for the whole rollback, as before the split

# Share of the TTR budget each stage may spend retrying (cumulative deadlines from the trigger).
TRAFFIC_SHARE, DEPLOY_SHARE = 0.4, 0.7
FIRST_BACKOFF, MAX_BACKOFF = 0.05, 2.0
VERIFY_POLL = 0.1
PROGRESS_EVERY = 10.0  # seconds between "still retrying" lines while a stage keeps failing


def retry_until(
    action: Callable[[], Any], deadline: float, progress: Callable[[int, str], None] | None = None
) -> tuple[bool, Any, int, str]:
    """Call ``action`` until it succeeds or the next try would pass ``deadline``.

    Returns (ok, value, attempts, last error). Any exception counts as a failed attempt: an
    adapter bug must not stop the rollback from trying again. ``progress(attempts, error)`` hears
    of the first failure and then at most every PROGRESS_EVERY seconds, so a person watching a
    rollback that keeps failing sees it is still trying (and why) instead of silence. The policy
    is launch_control.retrying's (full-jitter backoff, FIRST_BACKOFF doubling to MAX_BACKOFF),
    bounded by the deadline only.
    """
    from launch_control import retrying  # tenacity: a few ms, paid only when a rollback runs

    told = [-PROGRESS_EVERY]
    made = [0]
    last = [""]  # the last failure, returned on success too (as before)

    def failed(attempts: int, exc: BaseException) -> None:
        last[0] = error_text(exc)
        log.debug("rollback attempt %d failed: %s", attempts, error_text(exc))
        if progress is not None and time.monotonic() - told[0] >= PROGRESS_EVERY:
            told[0] = time.monotonic()
            progress(attempts, error_text(exc))

    def once(_left: float) -> Any:
        made[0] += 1
        return action()

    try:
        value = retrying.call(
            once, attempts=None, base_delay=FIRST_BACKOFF, max_delay=MAX_BACKOFF,
            total_timeout=deadline - time.monotonic(), on_failure=failed,
        )  # fmt: skip
    except retrying.RetryExhausted as exc:
        return False, None, exc.attempts, error_text(exc.last) if exc.last is not None else ""
    return True, value, made[0], last[0]


# Built only when the caller passes none, and imported then: the emergency path loads one adapter.
def plan_router(config: Any) -> Any:
    from launch_control.plane.traffic import build_router

    return build_router(config)


def plan_deployer(config: Any) -> Any:
    from launch_control.plane.deploy import build_deployer

    return build_deployer(config)


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def safe(what: str, action: Callable[[], Any]) -> Any:
    """Record-keeping that must never stop a rollback (the store may be the thing that is down)."""
    try:
        return action()
    except Exception as exc:
        log.error("rollback: could not %s: %s", what, exc)
        return None


class Banner:
    """'Rollback in progress' on the shared degradation status (launch_control.protect.degrade), off the
    clock: the writes run on one background thread, in order; the final one is waited for briefly
    (after the TTR is taken) so a short-lived CLI process does not leave the banner up."""

    def __init__(self, store: Store, actor: str):
        self.store, self.actor = store, actor
        self._thread: threading.Thread | None = None

    def _run(self, job: Callable[[], Any], wait: float = 0.0) -> None:
        previous = self._thread

        def work() -> None:
            if previous is not None:
                previous.join(5)
            with contextlib.suppress(Exception):
                job()

        self._thread = threading.Thread(target=work, name="rollback-banner", daemon=True)
        self._thread.start()
        if wait:
            self._thread.join(wait)

    def start(self, reason: str) -> None:
        # Imported on the banner's own thread, so the status board's imports never stand between
        # the trigger and the traffic switch; from protect.status, not protect.degrade, which
        # brings the circuit breaker (pybreaker, redis) the emergency path must not load.
        def job() -> None:
            from launch_control.protect.boards import default_board
            from launch_control.protect.status import rollback_started

            rollback_started(reason, default_board(self.store), actor=self.actor)

        self._run(job)

    def finish(self) -> None:
        from launch_control.protect.boards import default_board
        from launch_control.protect.status import rollback_finished

        self._run(lambda: rollback_finished(default_board(self.store)), wait=2.0)


def verify_health(
    plan: Plan, deadline: float, router: TrafficRouter | None = None, progress: Callable[[int, str], None] | None = None
) -> tuple[bool, str, int]:
    """Poll the plan's health checks (and the router's weight) until all pass or ``deadline``;
    ``progress(rounds, problems)`` hears of failing rounds at most every PROGRESS_EVERY seconds."""
    from launch_control.web.lighthttp import http_check

    checks = list(plan.rollback.health_checks)
    rounds, last = 0, "no health checks configured"
    told = time.monotonic()  # the first report comes after PROGRESS_EVERY: a short blip is normal
    if True:  # (one block, as when this held an HTTP client)
        while True:
            rounds += 1
            problems: list[str] = []
            passed: list[str] = []
            for check in checks:
                remaining = max(0.2, min(check.timeout, deadline - time.monotonic()))
                ok, detail = http_check(
                    check.url,
                    expect_status=check.expect_status,
                    expect_json=check.expect_json,
                    timeout=remaining,
                )
                (passed if ok else problems).append(f"{check.name}: {detail}")
            if router is not None:
                try:
                    weight = float(router.get_weight())
                    if weight > 0:
                        problems.append(f"router still sends {weight:g}% to the canary")
                    else:
                        passed.append("router: canary 0%")
                except Exception as exc:
                    problems.append(f"router weight unreadable: {exc}")
            if not problems and checks:
                return True, "; ".join(passed), rounds
            last = "; ".join(problems)
            if progress is not None and time.monotonic() - told >= PROGRESS_EVERY:
                told = time.monotonic()
                progress(rounds, last)
            if time.monotonic() + VERIFY_POLL > deadline:
                return False, last, rounds
            time.sleep(VERIFY_POLL)


def manual_command(plan: Plan) -> str:
    """The manual command for the plan's router (never raises: this is the failure message)."""
    try:
        from launch_control.store.lastgood import manual_steps

        router = plan.rollback.router
        return manual_steps({"type": router.type, **router.settings})
    except Exception:
        return "  see the runbook: set the router's canary weight to 0 by hand"


def sent_summary(store: Store, since: dt.datetime) -> str:
    """What became of this rollback's messages, per channel, from the store's notification log."""
    rows = [n for n in store.notifications() if n["kind"] == "rollback" and n["at"] >= since]
    if not rows:
        return "none recorded"

    def outcome(row: dict[str, Any]) -> str:
        if row["ok"]:
            return "delivered"
        if str(row["error"]).startswith("skipped"):
            return "skipped (channel not configured)"
        return f"failed ({row['error']})"

    return "; ".join(f"{row['channel']} {outcome(row)}" for row in rows)


def notify_channels(
    plan: Plan, store: Store, subject: str, text: str, notifier: NotifierArg
) -> tuple[str, Notifier | None]:
    """Hand the message to the Notifier (returns at once); say what happened, never raise."""
    if notifier is False:
        return "notifications off for this rollback", None
    try:
        if notifier is None:
            from launch_control.respond.notify import Notifier

            notifier = Notifier(plan, store)
        notifier.send("rollback", subject, text, channels=list(plan.rollback.notify) or None)
    except ImportError:
        return "notifier not available in this installation; nothing sent", None
    except Exception as exc:
        return f"notifier failed ({type(exc).__name__}: {exc}); the rollback is not affected", None
    channels = ", ".join(plan.rollback.notify) or "the plan's default channels"
    return f"queued to {channels} (delivered in the background)", notifier
