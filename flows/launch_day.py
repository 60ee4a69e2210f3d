"""The launch-day flows. Each task calls one core function; the flow only orchestrates.

    launch_day: preflight → freeze_and_tag → deploy_canary → canary_ramp → post-launch hand-off
    canary_ramp: begin → for each step: [go/no-go pause] → enter step → hold (judge every interval)
                 a failed gate → the emergency_rollback sub-flow → this flow ends Failed with the reason

Retries wrap side effects only (deployer, git, notifications); judging tasks are not retried —
the engine records everything in the store and resumes from it, so a re-run continues where the
last run stopped. Parameters are plain strings and numbers (plan path, store URL), so every
deployment and every worker builds its own plan and store.
"""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from prefect.states import Completed, Failed
from prefect.tasks import exponential_backoff

import flows  # noqa: F401  (quiet Prefect defaults before prefect is imported)
from launch_control.engine import Approval, Engine, RampResult
from launch_control.plan import Plan, load_plan
from launch_control.store import Store


def context(plan_path: str | None, store_url: str | None) -> tuple[Plan, Store]:
    plan = load_plan(plan_path)
    return plan, Store(store_url, launch_id=plan.launch_id)


def _say(line: str) -> None:
    try:
        get_run_logger().info(line)
    except Exception:
        print(line)


def _engine(plan_path: str | None, store_url: str | None, time_scale: float | None, **kw: Any) -> Engine:
    """An engine for one task; time scale and minimum interval come from the store after begin."""
    plan, store = context(plan_path, store_url)
    return Engine(plan, store, time_scale=time_scale, actor="flow:canary_ramp", out=_say, auto_rollback=False, **kw)


def _final(result: RampResult) -> dict[str, Any]:
    return {"outcome": result.outcome, "reason": result.reason, "step": result.step, "weight": result.weight}


# --- tasks: one core call each ------------------------------------------------------------------------


@task(cache_policy=NONE)
def preflight_task(plan_path: str | None, store_url: str | None, smoke_base_url: str | None = None) -> dict:
    from launch_control.preflight import run_preflight

    plan, store = context(plan_path, store_url)
    report = run_preflight(plan, store, smoke_base_url=smoke_base_url, out=_say)
    return {"ok": report.ok, "failed": [f"{r.item_id}: {r.detail}" for r in report.failed]}


@task(cache_policy=NONE, retries=2, retry_delay_seconds=exponential_backoff(backoff_factor=1))
def freeze_and_tag_task(plan_path: str | None, store_url: str | None, repo: str | None = None) -> str:
    from launch_control.release import freeze_and_tag

    plan, store = context(plan_path, store_url)
    return freeze_and_tag(plan, store, actor="flow:launch_day", repo=repo).detail


@task(cache_policy=NONE, retries=3, retry_delay_seconds=exponential_backoff(backoff_factor=1))
def deploy_canary_task(plan_path: str | None, store_url: str | None) -> str:
    from launch_control.deploy import build_deployer

    plan, store = context(plan_path, store_url)
    detail = build_deployer(plan.rollback.deployer).deploy("canary", plan.release.version)
    store.audit("flow:launch_day", "deploy.canary", version=plan.release.version, detail=detail)
    return detail


@task(cache_policy=NONE)
def begin_task(
    plan_path: str | None, store_url: str | None, time_scale: float | None, restart: bool, min_interval: float | None
) -> Any:
    engine = _engine(plan_path, store_url, time_scale, min_interval=min_interval)
    start = engine.begin(restart=restart)
    if isinstance(start, RampResult):
        return _final(start)
    return {"start": start, "resumed": engine.store.state()["current_step"] == start}


@task(cache_policy=NONE)
def enter_step_task(plan_path: str | None, store_url: str | None, time_scale: float | None, step: int) -> Any:
    result = _engine(plan_path, store_url, time_scale).enter_step(step)
    return _final(result) if result else None


@task(cache_policy=NONE)
def hold_step_task(plan_path: str | None, store_url: str | None, time_scale: float | None, step: int) -> dict:
    result = _engine(plan_path, store_url, time_scale).hold_step(step)
    return {"outcome": result.outcome, "reason": result.reason, "final": _final(result.final) if result.final else None}


@task(cache_policy=NONE)
def complete_task(plan_path: str | None, store_url: str | None, time_scale: float | None) -> dict:
    return _final(_engine(plan_path, store_url, time_scale).complete())


@task(cache_policy=NONE)
def smoke_task(plan_path: str | None, base_url: str | None) -> list[dict]:
    from launch_control.preflight import run_smoke

    plan, _store = context(plan_path, None)
    return [{"name": r.item_id, "ok": r.ok, "detail": r.detail} for r in run_smoke(plan.smoke_tests, base_url)]


# --- flows -------------------------------------------------------------------------------------------------


@flow(name="emergency-rollback", log_prints=True)
def emergency_rollback(
    plan_path: str | None = None,
    store_url: str | None = None,
    reason: str = "rollback requested",
    trigger: str = "flow",
    target_version: str | None = None,
    actor: str = "flow:emergency_rollback",
) -> dict:
    """The rollback as a flow (for the UI and sub-flows). No retries around it: it retries inside,
    bounded by the plan's TTR budget, and the same function runs without Prefect from the CLI."""
    from launch_control.rollback import emergency_rollback as rollback

    plan, store = context(plan_path, store_url)
    result = rollback(plan, store, reason=reason, actor=actor, trigger=trigger, target_version=target_version, out=_say)
    summary = {"ok": result.ok, "ttr_seconds": result.ttr_seconds, "message": result.message}
    if not result.ok:
        return Failed(message=result.message)  # type: ignore[return-value]
    return summary


class GoNoGo(RunInput):
    approved: bool
    by: str = "unknown"
    note: str = ""


def _flow_approver(engine: Engine, timeout: float):
    def approve(step: int, _canary_step: Any) -> Approval:
        waiting = (engine.store.state().get("extra") or {}).get("awaiting_approval") or {}
        engine._extra(awaiting_approval={**waiting, "flow_run_id": str(flow_run.id)})
        _say(f"paused for go/no-go on step {step + 1}: launch-control approve [--no-go]")
        answer = pause_flow_run(wait_for_input=GoNoGo, timeout=int(timeout), poll_interval=1)
        if answer is None:
            return Approval(False, "timeout", "no go/no-go answer in time")
        return Approval(answer.approved, answer.by, answer.note)

    return approve


@flow(name="canary-ramp", log_prints=True)
def canary_ramp(
    plan_path: str | None = None,
    store_url: str | None = None,
    time_scale: float | None = None,
    restart: bool = False,
    min_interval: float | None = None,
) -> Any:
    """The ramp, one task per step; a failed gate runs the rollback sub-flow and ends Failed."""
    begun = begin_task(plan_path, store_url, time_scale, restart, min_interval)
    if "outcome" in begun:
        return _ended(plan_path, store_url, begun)
    plan, _store = context(plan_path, store_url)
    start, resumed = begun["start"], begun["resumed"]
    for i in range(start, len(plan.canary.steps)):
        fresh = not (resumed and i == start)
        engine = _engine(plan_path, store_url, time_scale)
        if fresh and i > 0 and engine.needs_approval(i):
            engine._approver = _flow_approver(engine, plan.canary.go_no_go_timeout)
            answer = engine.await_approval(i)
            if not answer.approved:
                return _rollback_and_fail(
                    plan_path, store_url, f"no-go for step {i + 1} by {answer.by}: {answer.note}", "no-go"
                )
        if fresh:
            failed = enter_step_task(plan_path, store_url, time_scale, i)
            if failed:
                return _ended(plan_path, store_url, failed)
        held = hold_step_task(plan_path, store_url, time_scale, i)
        if held["final"]:
            return _ended(plan_path, store_url, held["final"])
    return Completed(message="all steps green: 100%", data=complete_task(plan_path, store_url, time_scale))


def _ended(plan_path: str | None, store_url: str | None, final: dict) -> Any:
    if final["outcome"] == "completed":
        return Completed(message=final["reason"], data=final)
    if final["outcome"] == "rollback_needed":
        return _rollback_and_fail(plan_path, store_url, final["reason"], "gate")
    return Failed(message=f"{final['outcome']}: {final['reason']}")


def _rollback_and_fail(plan_path: str | None, store_url: str | None, reason: str, trigger: str) -> Any:
    state = emergency_rollback(plan_path, store_url, reason=reason, trigger=trigger, return_state=True)
    if state.is_failed():
        return Failed(message=f"gate failed: {reason}; ROLLBACK FAILED: {state.message}")
    summary = state.result()
    return Failed(message=f"gate failed: {reason}; rolled back, TTR {summary['ttr_seconds']:.2f} s")


@flow(name="preflight", log_prints=True)
def preflight(plan_path: str | None = None, store_url: str | None = None, smoke_base_url: str | None = None) -> Any:
    result = preflight_task(plan_path, store_url, smoke_base_url)
    if not result["ok"]:
        return Failed(message="preflight failed: " + "; ".join(result["failed"]))
    return result


@flow(name="freeze-and-tag", log_prints=True)
def freeze_and_tag(plan_path: str | None = None, store_url: str | None = None, repo: str | None = None) -> str:
    return freeze_and_tag_task(plan_path, store_url, repo)


@flow(name="deploy-canary", log_prints=True)
def deploy_canary(plan_path: str | None = None, store_url: str | None = None) -> str:
    return deploy_canary_task(plan_path, store_url)


@flow(name="smoke-tests", log_prints=True)
def smoke_tests(plan_path: str | None = None, base_url: str | None = None) -> Any:
    results = smoke_task(plan_path, base_url)
    failed = [r for r in results if not r["ok"]]
    if failed:
        return Failed(message="; ".join(f"{r['name']}: {r['detail']}" for r in failed))
    return results


@task(cache_policy=NONE)
def monitoring_task(plan_path: str | None, store_url: str | None) -> dict:
    """One post-launch monitoring run (``launch_control.monitoring``): observe, classify, incidents."""
    from launch_control import monitoring

    plan, store = context(plan_path, store_url)
    return monitoring.run_once(plan, store).to_dict()


@flow(name="launch-day", log_prints=True)
def launch_day(
    plan_path: str | None = None,
    store_url: str | None = None,
    time_scale: float = 1.0,
    smoke_base_url: str | None = None,
    repo: str | None = None,
    force: bool = False,
    reason: str = "",
    monitoring_checks: int = 0,
    min_interval: float | None = None,
    restart: bool = False,
) -> Any:
    """The whole day: preflight → freeze and tag → deploy canary → ramp → post-launch hand-off.

    ``monitoring_checks``: 0 hands post-launch monitoring off to its scheduled deployments (the
    clock starts now); N > 0 also runs N monitoring runs here, ``interval`` apart (rehearsals).
    """
    plan, store = context(plan_path, store_url)
    pre = preflight_task(plan_path, store_url, smoke_base_url)
    if not pre["ok"]:
        if not force or not reason.strip():
            return Failed(message="preflight failed, canary not started: " + "; ".join(pre["failed"]))
        store.audit("flow:launch_day", "engine.forced_start", reason=reason, blockers=pre["failed"])
    freeze_and_tag_task(plan_path, store_url, repo)
    deploy_canary_task(plan_path, store_url)
    ramp = canary_ramp(plan_path, store_url, time_scale, restart=restart, min_interval=min_interval, return_state=True)
    if not ramp.is_completed():
        return Failed(message=ramp.message or "canary ramp failed")
    from launch_control import monitoring

    monitoring.begin(store)
    store.record_timeline("post-launch-monitoring", "running", detail="post-launch monitoring clock started")
    runs = []
    for i in range(monitoring_checks or 0):
        if i:
            time.sleep(max(0.5, plan.analysis.interval / time_scale))
        runs.append(monitoring_task(plan_path, store_url)["verdict"])
    return {"ramp": "completed", "monitoring": "started", "checks": runs}


FLOWS_BY_ACTION = {
    "preflight": preflight,
    "freeze_and_tag": freeze_and_tag,
    "deploy_canary": deploy_canary,
    "canary_ramp": canary_ramp,
}
