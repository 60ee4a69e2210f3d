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

This module runs the stages in order and keeps one rollback per launch at a time; what a result
is lives in ``launch_control.ramp.rollback_result`` and the stages' side effects (retry, health
verification, banner, notifications) in ``launch_control.ramp.rollback_steps``; their names stay
importable from here.

A rollback that did not verify (traffic, deploy or health failed) is recorded with no verified
time and no TTR: its message says "not verified after N s" and names the manual command.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, TextIO

# Re-exported: callers and tests import these from launch_control.ramp.rollback.
from launch_control.ramp.rollback_result import RollbackResult, Stage, after_s, ttr_words, utcnow
from launch_control.ramp.rollback_steps import (
    DEPLOY_SHARE,
    FIRST_BACKOFF,
    MAX_BACKOFF,
    PROGRESS_EVERY,
    TRAFFIC_SHARE,
    VERIFY_POLL,
    Banner,
    manual_command,
    notify_channels,
    plan_deployer,
    plan_router,
    retry_until,
    safe,
    sent_summary,
    verify_health,
)

if TYPE_CHECKING:
    from launch_control.plan.model import Plan
    from launch_control.plane.deploy.base import Deployer
    from launch_control.plane.traffic.base import TrafficRouter
    from launch_control.ramp.rollback_steps import NotifierArg
    from launch_control.store.db import Store

__all__ = [
    "DEPLOY_SHARE", "FIRST_BACKOFF", "MAX_BACKOFF", "PROGRESS_EVERY", "TRAFFIC_SHARE", "VERIFY_POLL", "Out",
    "RollbackResult", "Stage", "after_s", "emergency_rollback", "ttr_words", "utcnow", "verify_health",
]  # fmt: skip


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
        return retry_until(action, t0 + budget * share, retrying(name, share))

    say(f"EMERGENCY ROLLBACK of {plan.release.product} {plan.release.version} → {target}: {reason}")
    stage("trigger", True, f"{trigger} by {actor} at {started_at.isoformat(timespec='milliseconds')}")
    result.rollback_id = safe(
        "record the rollback start",
        lambda: store.start_rollback(
            trigger=trigger, reason=reason, actor=actor, target_version=target, started_at=started_at
        ),
    )
    safe("record the phase", lambda: store.update_state(phase="rolling_back"))
    banner = Banner(store, actor)

    # 1. traffic — first, because every second here is users served by the bad version.
    traffic_ok, traffic_at = False, None
    if router is None:
        router = adapter("traffic", "router", plan.rollback.router, plan_router)
    if router is not None:
        ok, _, attempts, error = attempt("traffic", lambda: router.set_weight(0), TRAFFIC_SHARE)
        if ok:
            traffic_ok, traffic_at = True, utcnow()
            via = getattr(router, "name", "router")
            stage("traffic", True, f"all traffic to stable via {via} (canary 0%)", attempts)
            safe("record the weight", lambda: store.update_state(canary_weight=0.0))
        else:
            stage("traffic", False, f"router did not take weight 0: {error}", attempts)

    banner.start(reason)  # after the switch: the "rollback in progress" banner must not delay it

    # 2. deploy — stable back on the known-good version (idempotent: already there is fine).
    deploy_ok, deployed_at = False, None
    if deployer is None:
        deployer = adapter("deploy", "deployer", plan.rollback.deployer, plan_deployer)
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
            + manual_command(plan)
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
    safe("record the rollback result", record)
    safe(
        "record the final phase",
        lambda: store.update_state(phase="rolled_back" if result.ok else "rollback_failed"),
    )

    # 4. notify — after the clock stops; the Notifier delivers in the background.
    text = f"{result.message}. Reason: {reason}. Triggered by {actor} ({trigger})."
    subject = f"{plan.release.product} {plan.release.version} rolled back" if result.ok else "ROLLBACK FAILED"
    detail, used = notify_channels(plan, store, subject, text, notifier)
    stage("notify", True, detail)

    safe("record the notify stage", record)
    safe(
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
                say(f"  notifications: {sent_summary(store, started_at)}")
    return result
