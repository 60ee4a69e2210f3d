"""Post-launch monitoring as Prefect flows and deployments: thin orchestration over
``launch_control.respond.monitoring``.

* ``post_launch_monitoring(phase)`` — one monitoring run (observe, record, classify, open or
  resolve incidents). One deployment per plan phase, on an interval schedule anchored at the
  phase's start (the ``post_launch_monitoring`` timeline entry + ``phase.start``): intensive every
  5 min, extended every 15 min, stabilization hourly. A run outside its phase's window skips.
* ``status_check(entry_id)`` — posts the status-check message at each ``status_check`` timeline
  entry (16:00, 18:00, 20:00, 22:00, 00:00 in the plan's zone), one cron deployment each.

``post_launch_deployments(plan)`` builds them; ``launch-control schedule`` (flows owned by the
engine) serves them beside the launch-day flows. The logic lives in plain functions
(``run_phase``, ``run_status_check``) so it is tested without Prefect's engine.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow, task
from prefect.tasks import exponential_backoff

NOTIFY_WAIT = 20.0  # seconds a run waits for its notifications before the process may exit


def _open(plan_path: str | None) -> tuple[Any, Any]:
    from launch_control.store.db import Store
    from launch_control.store.lastgood import load_plan

    plan = load_plan(plan_path)
    return plan, Store(launch_id=plan.launch_id)


def run_phase(
    plan: Any,
    store: Any,
    phase: str | None = None,
    *,
    now: dt.datetime | None = None,
    source: Any = None,
    manager: Any = None,
) -> dict[str, Any]:
    """One monitoring run for ``phase`` (None: whatever phase it is); skips outside the window."""
    from launch_control.respond import monitoring
    from launch_control.respond.incidents import production_manager
    from launch_control.store.db import utcnow

    now = now or utcnow()
    known = [p.name for p in plan.timeline.post_launch]
    if phase is not None and phase not in known:
        from launch_control.errors import UsageError

        raise UsageError(f"unknown post-launch phase {phase!r}; the plan has: {', '.join(known) or 'none'}")
    first = plan.timeline.post_launch[0].name if plan.timeline.post_launch else None
    if monitoring.started_at(store) is None and phase not in (None, first):
        return {"skipped": f"post-launch monitoring has not begun; {phase} waits for {first}"}
    if monitoring.started_at(store) is not None:
        current = monitoring.current_phase(plan, store, now)
        if monitoring.finished(plan, store, now):
            return {"skipped": "post-launch monitoring is over (all phases done)"}
        if phase is not None and (current is None or current.name != phase):
            return {"skipped": f"not in phase {phase} (now: {current.name if current else 'none'})"}
    manager = manager or production_manager(plan, store, actor="monitoring")
    run = monitoring.run_once(plan, store, source=source, manager=manager, now=now)
    if manager.notifier is not None:
        manager.notifier.flush(NOTIFY_WAIT)
    return run.to_dict()


def run_status_check(plan: Any, store: Any, entry_id: str, *, notifier: Any = None) -> dict[str, Any]:
    from launch_control.respond import monitoring
    from launch_control.respond.notify import Notifier

    if monitoring.started_at(store) is None:
        store.record_timeline(entry_id, "skipped", detail="post-launch monitoring has not begun")
        return {"skipped": "post-launch monitoring has not begun"}
    notifier = notifier or Notifier(plan, store)
    result = monitoring.post_status_check(plan, store, notifier=notifier, entry_id=entry_id)
    notifier.flush(NOTIFY_WAIT)
    return result


@task(retries=2, retry_delay_seconds=exponential_backoff(backoff_factor=5))
def monitor(plan_path: str | None, phase: str | None) -> dict[str, Any]:
    plan, store = _open(plan_path)
    return run_phase(plan, store, phase)


@task(retries=2, retry_delay_seconds=exponential_backoff(backoff_factor=5))
def post_status(plan_path: str | None, entry_id: str) -> dict[str, Any]:
    plan, store = _open(plan_path)
    return run_status_check(plan, store, entry_id)


@flow(name="post-launch-monitoring", log_prints=True)
def post_launch_monitoring(phase: str | None = None, plan_path: str | None = None) -> dict[str, Any]:
    result = monitor(plan_path, phase)
    print(result.get("skipped") or f"{result['phase']}: {result['verdict']} {result['breaches']}")
    return result


@flow(name="post-launch-status-check", log_prints=True)
def status_check(entry_id: str, plan_path: str | None = None) -> dict[str, Any]:
    result = post_status(plan_path, entry_id)
    print(result.get("skipped") or f"status check {entry_id}: {result['verdict']}")
    return result


def monitoring_start(plan: Any, launch_date: dt.date | None = None) -> dt.datetime:
    """When the plan says post-launch monitoring begins (its ``post_launch_monitoring`` entry)."""
    entries = plan.timeline.entries
    entry = next((e for e in entries if e.action == "post_launch_monitoring"), None)
    entry = entry or next((e for e in entries if e.action == "full_rollout"), entries[-1])
    return plan.timeline.planned_at(entry, launch_date)


def schedules(plan: Any, launch_date: dt.date | None = None) -> dict[str, dict[str, Any]]:
    """deployment name → {flow, schedule kind and spec, parameters}: the plan's post-launch schedule."""
    start = monitoring_start(plan, launch_date)
    zone = plan.timeline.timezone
    out: dict[str, dict[str, Any]] = {}
    for phase in plan.timeline.post_launch:
        anchor = start + dt.timedelta(seconds=phase.start)
        out[f"post-launch-{phase.name}"] = {
            "flow": "post_launch_monitoring",
            "interval": phase.every,
            "anchor": anchor,
            "timezone": zone,
            "parameters": {"phase": phase.name},
        }
    day = launch_date or plan.timeline.date
    for entry in plan.timeline.entries:
        if entry.action != "status_check" or not entry.scheduled:
            continue
        if day:  # a dated launch: fire on that day only (the cron repeats yearly, the flow checks)
            when = day + dt.timedelta(days=entry.day)
            cron = f"{entry.at.minute} {entry.at.hour} {when.day} {when.month} *"
        else:
            cron = f"{entry.at.minute} {entry.at.hour} * * *"
        out[f"status-check-{entry.id}"] = {
            "flow": "status_check",
            "cron": cron,
            "timezone": zone,
            "parameters": {"entry_id": entry.id},
        }
    return out


def post_launch_deployments(
    plan: Any, *, plan_path: str | None = None, launch_date: dt.date | None = None, **to_deployment: Any
) -> list[Any]:
    """Prefect ``RunnerDeployment``s for the phases and status checks (``serve(*these)``).

    ``to_deployment``: extra arguments for ``Flow.to_deployment`` (a work pool passes
    ``entrypoint_type``)."""
    from prefect.schedules import Cron, Interval

    flows = {"post_launch_monitoring": post_launch_monitoring, "status_check": status_check}
    deployments = []
    for name, spec in schedules(plan, launch_date).items():
        parameters = {**spec["parameters"], "plan_path": plan_path or plan.source}
        if "interval" in spec:
            schedule = Interval(spec["interval"], anchor_date=spec["anchor"], timezone=spec["timezone"])
        else:
            schedule = Cron(spec["cron"], timezone=spec["timezone"])
        deployments.append(
            flows[spec["flow"]].to_deployment(
                name=name,
                schedules=[schedule],
                parameters=parameters,
                tags=["launch-control", plan.name],
                description=f"{plan.release.product} {plan.release.version}: {name}",
                **to_deployment,
            )
        )
    return deployments


if __name__ == "__main__":  # python flows/post_launch.py: serve the post-launch schedule alone
    from prefect import serve

    from launch_control.store.lastgood import load_plan

    serve(*post_launch_deployments(load_plan()))
