"""Emergency rollback: all traffic to stable, the deployment rolled back, health verified, TTR kept.

``emergency_rollback(plan, store, reason=..., actor=...)`` runs four stages in this order and
records each with its time since the trigger:

1. **traffic** — ``router.set_weight(0)``: from the next request on, nobody is served by the canary.
2. **deploy** — ``deployer.deploy("stable", target)``: stable points at the known-good version.
3. **verify** — the plan's ``rollback.health_checks`` (and the router reporting 0%) until healthy.
4. **notify** — the plan's ``rollback.notify`` channels through the Notifier, in the background.

TTR is trigger → verified health. Every side effect is retried with backoff, bounded so the whole
stays inside ``rollback.ttr_budget``; every stage is idempotent (running the rollback twice is
safe); a store, notifier or metric source that is down never stops the traffic switch. This
module is the emergency path: the standard library only at import (health checks through
``launch_control.web.lighthttp``; the store, router and deployer are what the caller passes or the
plan names) — never prefect, streamlit or pandas.

A rollback that did not verify (traffic, deploy or health failed) is recorded with no verified
time and no TTR: its message says "not verified after N s" and names the manual command.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TextIO

if TYPE_CHECKING:
    from launch_control.plan.model import Plan
    from launch_control.plane.deploy.base import Deployer
    from launch_control.plane.traffic.base import TrafficRouter
    from launch_control.respond.notify import Notifier
    from launch_control.store.db import Store

    NotifierArg = Notifier | Literal[False] | None  # False: send nothing; None: the plan's Notifier

log = logging.getLogger(__name__)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# Share of the TTR budget each stage may spend retrying (cumulative deadlines from the trigger).
TRAFFIC_SHARE, DEPLOY_SHARE = 0.4, 0.7
FIRST_BACKOFF, MAX_BACKOFF = 0.05, 2.0
VERIFY_POLL = 0.1
PROGRESS_EVERY = 10.0  # seconds between "still retrying" lines while a stage keeps failing


@dataclass
class Stage:
    name: str
    ok: bool
    at: dt.datetime
    elapsed: float  # seconds since the trigger
    detail: str
    attempts: int = 1


@dataclass
class RollbackResult:
    ok: bool
    message: str
    trigger: str
    reason: str
    actor: str
    target_version: str
    started_at: dt.datetime
    rollback_id: int | None = None
    ttr_seconds: float | None = None
    stages: list[Stage] = field(default_factory=list)
    joined: bool = False  # another rollback of this launch was already running; this is its result

    def stage(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Out = Callable[[str], None] | TextIO | None

# One rollback per launch at a time in this process; a second caller joins the running one
# (the engine's gate and the incident manager's SEV-1 policy may both ask at once).
_running: dict[str, tuple[threading.Event, list[RollbackResult]]] = {}
_running_lock = threading.Lock()


def _printer(out: Out) -> Callable[[str], None]:
    if out is None:
        return lambda _line: None
    if callable(out):
        return out

    def write(line: str) -> None:
        out.write(line + "\n")
        with contextlib.suppress(Exception):
            out.flush()

    return write


def _retry(
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
        last[0] = _error(exc)
        log.debug("rollback attempt %d failed: %s", attempts, _error(exc))
        if progress is not None and time.monotonic() - told[0] >= PROGRESS_EVERY:
            told[0] = time.monotonic()
            progress(attempts, _error(exc))

    def once(_left: float) -> Any:
        made[0] += 1
        return action()

    try:
        value = retrying.call(
            once, attempts=None, base_delay=FIRST_BACKOFF, max_delay=MAX_BACKOFF,
            total_timeout=deadline - time.monotonic(), on_failure=failed,
        )  # fmt: skip
    except retrying.RetryExhausted as exc:
        return False, None, exc.attempts, _error(exc.last) if exc.last is not None else ""
    return True, value, made[0], last[0]


# Built only when the caller passes none, and imported then: the emergency path loads one adapter.
def _plan_router(config: Any) -> Any:
    from launch_control.plane.traffic import build_router

    return build_router(config)


def _plan_deployer(config: Any) -> Any:
    from launch_control.plane.deploy import build_deployer

    return build_deployer(config)


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _safe(what: str, action: Callable[[], Any]) -> Any:
    """Record-keeping that must never stop a rollback (the store may be the thing that is down)."""
    try:
        return action()
    except Exception as exc:
        log.error("rollback: could not %s: %s", what, exc)
        return None


class _Banner:
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


def ttr_words(row: dict[str, Any]) -> str:
    """A recorded rollback in words: ``TTR 1.23 s`` when verified, else ``not verified after N s``."""
    if row.get("ok") and row.get("ttr_seconds") is not None:
        return f"TTR {row['ttr_seconds']:.2f} s"
    started, ended = row.get("started_at"), row.get("finished_at")
    if started is None or ended is None:
        return "not verified (still running, or stopped before it finished)"
    return f"not verified after {max(0.0, (ended - started).total_seconds()):.0f} s"


def after_s(result: RollbackResult) -> float:
    verify = result.stage("verify")
    return verify.elapsed if verify else 0.0


def _manual(plan: Plan) -> str:
    """The manual command for the plan's router (never raises: this is the failure message)."""
    try:
        from launch_control.store.lastgood import manual_steps

        router = plan.rollback.router
        return manual_steps({"type": router.type, **router.settings})
    except Exception:
        return "  see the runbook: set the router's canary weight to 0 by hand"


def _sent_summary(store: Store, since: dt.datetime) -> str:
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


def _notify(plan: Plan, store: Store, subject: str, text: str, notifier: NotifierArg) -> tuple[str, Notifier | None]:
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


def emergency_rollback(
    plan: Plan,
    store: Store,
    *,
    reason: str,
    actor: str,
    trigger: str = "manual",
    target_version: str | None = None,
    router: TrafficRouter | None = None,
    deployer: Deployer | None = None,
    out: Out = None,
    notifier: NotifierArg = None,
    budget: float | None = None,
    flush: float = 0.0,
) -> RollbackResult:
    """Roll the launch back now; returns what happened, stage by stage, with the TTR.

    ``router`` / ``deployer`` default to the plan's (``rollback.router`` / ``rollback.deployer``).
    ``out`` (a callable taking a line, or a text stream) receives each stage as it finishes.
    ``notifier=False`` sends nothing; ``flush`` > 0 waits up to that long for delivery at the
    end (after the TTR is recorded), for processes that exit right after.
    """
    with _running_lock:
        running = _running.get(store.launch_id)
        if running is None:
            mine: tuple[threading.Event, list[RollbackResult]] = (threading.Event(), [])
            _running[store.launch_id] = mine
    if running is not None:
        event, results = running
        event.wait((budget or plan.rollback.ttr_budget) + 5)
        if results:
            joined = RollbackResult(**{**asdict(results[0]), "stages": list(results[0].stages), "joined": True})
            _printer(out)(f"a rollback of {store.launch_id} was already running; its result: {joined.message}")
            return joined
        return emergency_rollback(
            plan, store, reason=reason, actor=actor, trigger=trigger, target_version=target_version,
            router=router, deployer=deployer, out=out, notifier=notifier, budget=budget, flush=flush,
        )  # fmt: skip
    try:
        result = _rollback(
            plan, store, reason, actor, trigger, target_version, router, deployer, out, notifier, budget, flush
        )
        mine[1].append(result)
        return result
    finally:
        with _running_lock:
            _running.pop(store.launch_id, None)
        mine[0].set()


def _rollback(
    plan: Plan,
    store: Store,
    reason: str,
    actor: str,
    trigger: str,
    target_version: str | None,
    router: TrafficRouter | None,
    deployer: Deployer | None,
    out: Out,
    notifier: NotifierArg,
    budget: float | None,
    flush: float,
) -> RollbackResult:
    t0 = time.monotonic()
    started_at = utcnow()
    budget = float(budget if budget is not None else plan.rollback.ttr_budget)
    target = target_version or plan.release.stable_version
    reason = reason.strip() or "no reason given"
    say = _printer(out)
    result = RollbackResult(False, "", trigger, reason, actor, target, started_at)

    def stage(name: str, ok: bool, detail: str, attempts: int = 1) -> Stage:
        entry = Stage(name, ok, utcnow(), time.monotonic() - t0, detail, attempts)
        result.stages.append(entry)
        tries = f" ({attempts} attempts)" if attempts > 1 else ""
        say(f"  {'✓' if ok else '✗'} {name:<8} +{entry.elapsed:6.2f} s  {detail}{tries}")
        return entry

    def retrying(name: str, share: float) -> Callable[[int, str], None]:
        def tell(attempts: int, error: str) -> None:
            elapsed = time.monotonic() - t0
            until = budget * share
            say(f"  … {name:<8} +{elapsed:6.2f} s  attempt {attempts} failed: {error}; retrying until +{until:.0f} s")

        return tell

    def adapter(name: str, what: str, config: Any, build: Callable[[Any], Any]) -> Any:
        """The plan's router or deployer for a stage; None (the stage recorded as failed) when it cannot be built."""
        try:
            return build(config)
        except Exception as exc:
            stage(name, False, f"cannot build the plan's {what} ({config.type}): {exc}")
            return None

    def attempt(name: str, action: Callable[[], Any], share: float) -> tuple[bool, Any, int, str]:
        """``action`` retried until ``share`` of the budget is spent: (ok, result, attempts, last error)."""
        return _retry(action, t0 + budget * share, retrying(name, share))

    say(f"EMERGENCY ROLLBACK of {plan.release.product} {plan.release.version} → {target}: {reason}")
    stage("trigger", True, f"{trigger} by {actor} at {started_at.isoformat(timespec='milliseconds')}")
    result.rollback_id = _safe(
        "record the rollback start",
        lambda: store.start_rollback(
            trigger=trigger, reason=reason, actor=actor, target_version=target, started_at=started_at
        ),
    )
    _safe("record the phase", lambda: store.update_state(phase="rolling_back"))
    banner = _Banner(store, actor)

    # 1. traffic — first, because every second here is users served by the bad version.
    traffic_ok, traffic_at = False, None
    if router is None:
        router = adapter("traffic", "router", plan.rollback.router, _plan_router)
    if router is not None:
        ok, _, attempts, error = attempt("traffic", lambda: router.set_weight(0), TRAFFIC_SHARE)
        if ok:
            traffic_ok, traffic_at = True, utcnow()
            via = getattr(router, "name", "router")
            stage("traffic", True, f"all traffic to stable via {via} (canary 0%)", attempts)
            _safe("record the weight", lambda: store.update_state(canary_weight=0.0))
        else:
            stage("traffic", False, f"router did not take weight 0: {error}", attempts)

    banner.start(reason)  # after the switch: the "rollback in progress" banner must not delay it

    # 2. deploy — stable back on the known-good version (idempotent: already there is fine).
    deploy_ok, deployed_at = False, None
    if deployer is None:
        deployer = adapter("deploy", "deployer", plan.rollback.deployer, _plan_deployer)
    if deployer is not None:
        ok, detail, attempts, error = attempt("deploy", lambda: deployer.deploy("stable", target), DEPLOY_SHARE)
        if ok:
            deploy_ok, deployed_at = True, utcnow()
            stage("deploy", True, str(detail), attempts)
        else:
            stage("deploy", False, f"stable not pointed at {target}: {error}", attempts)

    # 3. verify — health probes until healthy or the budget is spent.
    verified_at = None
    try:
        healthy, detail, rounds = verify_health(
            plan, t0 + budget, router if traffic_ok else None, retrying("verify", 1.0)
        )
    except Exception as exc:
        healthy, detail, rounds = False, f"verification could not run: {type(exc).__name__}: {exc}", 1
    checked_at = utcnow()
    if healthy and not (traffic_ok and deploy_ok):
        # Healthy probes behind a router that still sends canary traffic prove nothing: no ✓.
        healthy, detail = False, f"health checks pass, but the {'traffic' if not traffic_ok else 'deploy'} stage failed"
    stage("verify", healthy, detail, rounds)

    # Only a verified rollback (traffic, deploy and health all done) has a verified time and a TTR.
    result.ok = traffic_ok and deploy_ok and healthy
    if result.ok:
        verified_at = checked_at
        result.ttr_seconds = (verified_at - started_at).total_seconds()
        result.message = f"rolled back to {target}; verified healthy; TTR {result.ttr_seconds:.2f} s"
    else:
        failed = [s.name for s in result.stages if not s.ok]
        after = (checked_at - started_at).total_seconds()
        result.message = (
            f"rollback to {target} NOT verified after {after:.0f} s ({', '.join(failed)} failed) — act by hand now:\n"
            + _manual(plan)
        )
    finished_at = utcnow()
    rollback_id = result.rollback_id

    def record() -> None:
        if rollback_id is not None:
            store.update_rollback(
                rollback_id, traffic_switched_at=traffic_at, deployed_at=deployed_at, verified_at=verified_at,
                finished_at=finished_at, ttr_seconds=result.ttr_seconds, ok=result.ok,
                details={"stages": [asdict(s) for s in result.stages], "message": result.message},
            )  # fmt: skip

    # Recorded before notifying: a slow notifier must not delay what --status and the console show.
    _safe("record the rollback result", record)
    _safe(
        "record the final phase",
        lambda: store.update_state(phase="rolled_back" if result.ok else "rollback_failed"),
    )

    # 4. notify — after the clock stops; the Notifier delivers in the background.
    text = f"{result.message}. Reason: {reason}. Triggered by {actor} ({trigger})."
    subject = f"{plan.release.product} {plan.release.version} rolled back" if result.ok else "ROLLBACK FAILED"
    detail, used = _notify(plan, store, subject, text, notifier)
    stage("notify", True, detail)

    _safe("record the notify stage", record)
    _safe(
        "audit the rollback",
        lambda: store.audit(
            actor, "rollback.finish", rollback=rollback_id, ok=result.ok, ttr_seconds=result.ttr_seconds,
            message=result.message,
        ),
    )  # fmt: skip
    banner.finish()
    ttr = f"{result.ttr_seconds:.2f} s" if result.ok else f"none: not verified after {after_s(result):.0f} s"
    say(f"{'ROLLED BACK' if result.ok else 'ROLLBACK FAILED'} — TTR {ttr} (budget {budget:g} s)")
    if flush and used is not None and hasattr(used, "flush"):
        # A short-lived process (the CLI) waits for delivery after the clock has stopped.
        with contextlib.suppress(Exception):
            if not used.flush(flush):
                say(f"  notifications still queued after {flush:g} s")
            else:
                say(f"  notifications: {_sent_summary(store, started_at)}")
    return result
