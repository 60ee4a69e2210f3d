"""The launch-day flows. Each task calls one core function; the flow only orchestrates.

    launch_day: preflight → freeze_and_tag → deploy_canary → canary_ramp → post-launch hand-off
    canary_ramp: the engine's ramp (``Engine.run``), its go/no-go as a Prefect pause;
                 a failed gate → the emergency_rollback sub-flow → this flow ends Failed with the reason;
                 someone else's rollback / abort → the engine stops within one interval → Failed, saying who

Every stage and action goes through ``launch_control.ramp.stages`` / ``launch_control.control.operations``, the
same functions the CLI and the console call (one audit name each, the timeline recorded as it
happens). Retries wrap side effects only (deployer, git); the ramp is not retried — the engine
records everything (with the step's evidence) and resumes from it, so a re-run continues where
the last run stopped. Parameters are plain strings and numbers (plan path, store URL), so every
deployment and every worker builds its own plan and store.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from prefect.states import Completed, Failed
from prefect.tasks import exponential_backoff

from launch_control import flows  # noqa: F401  (quiet Prefect defaults before prefect is imported)
from launch_control.control import operations as ops
from launch_control.control.timeline import record_stage
from launch_control.errors import UsageError
from launch_control.plan.model import Plan
from launch_control.ramp import stages
from launch_control.ramp.engine import Approval, Engine, RampResult
from launch_control.store.db import Store
from launch_control.store.lastgood import load_plan

FLOW = ops.Actor("flow:launch_day", "flow")


def context(plan_path: str | None, store_url: str | None) -> tuple[Plan, Store]:
    plan = load_plan(plan_path)
    return plan, Store(store_url, launch_id=plan.launch_id)


def control(plan_path: str | None, store_url: str | None) -> ops.Control:
    return ops.Control(*context(plan_path, store_url))


def _say(line: str) -> None:
    try:
        get_run_logger().info(line)
    except Exception:
        print(line)


def _final(result: RampResult) -> dict[str, Any]:
    return {"outcome": result.outcome, "reason": result.reason, "step": result.step, "weight": result.weight,
            "trigger": result.trigger}  # fmt: skip


# --- tasks: one core call each ------------------------------------------------------------------------


@task(cache_policy=NONE)
def preflight_task(plan_path: str | None, store_url: str | None, smoke_base_url: str | None = None) -> dict:
    report = stages.preflight(control(plan_path, store_url), FLOW, smoke_base_url=smoke_base_url, out=_say)
    return {"ok": report.ok, "failed": [f"{r.item_id}: {r.detail}" for r in report.failed]}


@task(cache_policy=NONE, retries=2, retry_delay_seconds=exponential_backoff(backoff_factor=1))
def freeze_and_tag_task(plan_path: str | None, store_url: str | None, repo: str | None = None) -> str:
    return stages.freeze(control(plan_path, store_url), FLOW, repo=repo).detail


@task(cache_policy=NONE, retries=3, retry_delay_seconds=exponential_backoff(backoff_factor=1))
def deploy_canary_task(plan_path: str | None, store_url: str | None) -> str:
    return stages.deploy_canary(control(plan_path, store_url), FLOW)


@task(cache_policy=NONE)
def smoke_task(plan_path: str | None, base_url: str | None) -> list[dict]:
    from launch_control.ramp.preflight import run_smoke

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
    from launch_control.ramp.rollback import emergency_rollback as rollback

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
    """Go/no-go as a Prefect pause: the run shows Paused, ``launch-control approve`` (through
    ``operations.approve``) resumes it with the answer as its input."""

    def approve(step: int, _canary_step: Any) -> Approval:
        run_id = str(flow_run.id)
        engine.note_waiting(flow_run_id=run_id)
        _say(f"paused for go/no-go on step {step + 1}: launch-control approve [--no-go]")
        stop = threading.Event()
        watcher = threading.Thread(target=_keep_lease, args=(engine, run_id, stop), daemon=True)
        watcher.start()
        try:
            answer = pause_flow_run(wait_for_input=GoNoGo, timeout=int(timeout), poll_interval=1)
        finally:
            stop.set()
        if answer is None:
            return Approval(False, "timeout", "no go/no-go answer in time")
        return Approval(answer.approved, answer.by, answer.note)

    return approve


def _keep_lease(engine: Engine, run_id: str, stop: threading.Event) -> None:
    """While the run is paused for go/no-go: keep the engine's heartbeat (so --status shows it
    alive and no second engine starts), and if someone rolls back or aborts meanwhile, resume the
    run with a no-go so it ends saying who, instead of waiting out its timeout."""
    from launch_control.ramp.engine_parts import ended_by_other

    while not stop.wait(max(1.0, min(engine.interval, 10.0))):
        try:
            state = engine.store.launch_state()
            if ended_by_other(state) is not None:
                resume_flow_run(run_id, {"approved": False, "by": state.ended_by or "someone",
                                         "note": "the ramp was ended while waiting"})  # fmt: skip
                return
            engine.heartbeat()
        except Exception as exc:  # a lost lease or a store hiccup: say it, keep waiting for the answer
            _say(f"go/no-go wait: {exc}")


@flow(name="canary-ramp", log_prints=True)
def canary_ramp(
    plan_path: str | None = None,
    store_url: str | None = None,
    time_scale: float | None = None,
    restart: bool = False,
    min_interval: float | None = None,
) -> Any:
    """The engine's ramp. A failed gate runs the rollback sub-flow and ends Failed; a rollback,
    abort or promotion by someone else ends the run within one interval, saying who and why."""
    plan, store = context(plan_path, store_url)
    engine = Engine(plan, store, time_scale=time_scale, actor="flow:canary_ramp", out=_say, auto_rollback=False,
                    min_interval=min_interval)  # fmt: skip
    engine.approver = _flow_approver(engine, plan.canary.go_no_go_timeout)
    return _ended(plan_path, store_url, _final(engine.run(restart=restart)))


def _ended(plan_path: str | None, store_url: str | None, final: dict) -> Any:
    if final["outcome"] == "completed":
        return Completed(message=final["reason"], data=final)
    if final["outcome"] == "rollback_needed":
        return _rollback_and_fail(plan_path, store_url, final["reason"], final.get("trigger") or "gate")
    return Failed(message=f"{final['outcome']}: {final['reason']}")


def _rollback_and_fail(plan_path: str | None, store_url: str | None, reason: str, trigger: str) -> Any:
    state = emergency_rollback(plan_path, store_url, reason=reason, trigger=trigger, return_state=True)
    what = "no-go" if trigger == "no-go" else "gate failed"
    if state.is_failed():
        return Failed(message=f"{what}: {reason}; ROLLBACK FAILED: {state.message}")
    summary = state.result()
    return Failed(message=f"{what}: {reason}; rolled back, TTR {summary['ttr_seconds']:.2f} s")


def run_canary_ramp(**parameters: Any) -> tuple[bool, str]:
    """The seam the CLI reaches the ramp flow through (``launch_control.control.seams``)."""
    state = canary_ramp(**parameters, return_state=True)
    return state.is_completed(), state.message or ""


def resume_flow_run(flow_run_id: str, run_input: dict[str, Any]) -> None:
    """The seam ``operations.approve`` resumes a paused go/no-go through."""
    from prefect.flow_runs import resume_flow_run as resume

    resume(flow_run_id, run_input=run_input)


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
    """One post-launch monitoring run (``launch_control.respond.monitoring``): observe, classify, incidents."""
    from launch_control.respond import monitoring

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
    try:  # the one "may the canary start?" (forced with a reason, audited)
        ops.start_ramp(ops.Control(plan, store), FLOW, force=force, reason=reason)
    except ops.OperationRefused as exc:
        return Failed(message=f"canary not started: {exc}")
    except UsageError as exc:
        return Failed(message=f"canary not started: {exc}; preflight: " + "; ".join(pre["failed"]))
    freeze_and_tag_task(plan_path, store_url, repo)
    deploy_canary_task(plan_path, store_url)
    ramp = canary_ramp(plan_path, store_url, time_scale, restart=restart, min_interval=min_interval, return_state=True)
    if not ramp.is_completed():
        return Failed(message=ramp.message or "canary ramp failed")
    from launch_control.respond import monitoring

    monitoring.begin(store)
    record_stage(plan, store, "post_launch_monitoring", "running", "post-launch monitoring clock started (flow)")
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
