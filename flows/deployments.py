"""The plan's timeline as Prefect deployments with cron schedules in the plan's time zone.

``build_deployments(plan, ...)`` makes one deployment per scheduled timeline entry whose action
is preflight, freeze_and_tag, deploy_canary or canary_ramp, each with
``Cron("M H D MON *", timezone=plan.timeline.timezone)`` on the launch date (plus the entry's
``day`` offset); the post_launch_monitoring and status_check entries come from
``launch_control.flows.post_launch.post_launch_deployments`` (one deployment per monitoring phase, its schedule
bounded to the phase's window here; cron per status check); plus unscheduled ``launch-day``,
``emergency-rollback`` and ``smoke-tests`` deployments to run by hand. ``serve_deployments``
serves them from this process with ``pause_on_shutdown=False`` (stopping the server must not pause the launch's
schedule). For a team: ``deploy_to_pool`` registers the same deployments (built with
``module_entrypoints=True``) on a work pool that ``prefect worker start --pool NAME`` serves on
other machines.

Cron schedules fire only with a real ``prefect server start`` (not the ephemeral one).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from launch_control import flows  # noqa: F401
from launch_control.errors import UsageError
from launch_control.plan.model import Plan

SCHEDULED_ACTIONS = (
    "preflight",
    "freeze_and_tag",
    "deploy_canary",
    "canary_ramp",
    "post_launch_monitoring",
    "status_check",
)


@dataclass
class PlannedRun:
    entry_id: str
    action: str
    title: str
    at: dt.datetime  # in the plan's zone
    cron: str


def planned_runs(plan: Plan, launch_date: dt.date | None = None) -> list[PlannedRun]:
    """The timeline entries that become scheduled deployments, with their cron expressions."""
    date = launch_date or plan.timeline.date
    if date is None:
        raise UsageError(
            "the plan's timeline has no date; give the launch date: launch-control schedule --date YYYY-MM-DD "
            "(or set timeline.date in the plan)"
        )
    runs = []
    for entry in plan.timeline.entries:
        if not entry.scheduled or entry.action not in SCHEDULED_ACTIONS:
            continue
        at = plan.timeline.planned_at(entry, date)
        # Day of month and month pinned: the entry fires on the launch day only (yearly at most).
        cron = f"{at.minute} {at.hour} {at.day} {at.month} *"
        runs.append(PlannedRun(entry.id, entry.action, entry.title, at, cron))
    return runs


def build_deployments(
    plan: Plan,
    *,
    plan_path: str,
    store_url: str | None,
    launch_date: dt.date | None = None,
    time_scale: float = 1.0,
    module_entrypoints: bool = False,
) -> list[Any]:
    """The deployments for the plan's timeline (see the module docstring).

    ``module_entrypoints``: name each flow by module path (``launch_control.flows.launch_day.preflight``) instead
    of by file — what a work pool needs, since its workers import the installed ``flows`` package
    rather than reading this checkout's files (``prefect.deploy`` refuses file entrypoints
    without remote storage or an image).
    """
    from launch_control.flows.launch_day import FLOWS_BY_ACTION, emergency_rollback, launch_day, smoke_tests
    from launch_control.flows.post_launch import post_launch_deployments
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    entrypoint = {"entrypoint_type": EntrypointType.MODULE_PATH} if module_entrypoints else {}
    base = {"plan_path": plan_path, "store_url": store_url}
    deployments = []
    for run in planned_runs(plan, launch_date):
        if run.action not in FLOWS_BY_ACTION:
            continue  # post-launch monitoring and status checks: flows.post_launch schedules them
        flow = FLOWS_BY_ACTION[run.action]
        params = dict(base)
        if run.action == "canary_ramp":
            params["time_scale"] = time_scale
        deployments.append(
            flow.to_deployment(
                name=run.entry_id,
                schedules=[Cron(run.cron, timezone=plan.timeline.timezone)],
                parameters=params,
                description=f"{run.title} — {run.at:%Y-%m-%d %H:%M %Z}",
                tags=[plan.launch_id, "launch-day"],
                **entrypoint,
            )
        )
    # Post-launch monitoring phases and status checks (their flows read the store from
    # LAUNCH_CONTROL_DATABASE_URL, so workers must export it).
    for deployment in post_launch_deployments(plan, plan_path=plan_path, launch_date=launch_date, **entrypoint):
        phase = (deployment.parameters or {}).get("phase")
        deployments.append(_in_phase_window(plan, deployment, phase, launch_date, entrypoint) if phase else deployment)
    deployments.append(
        launch_day.to_deployment(
            name=f"{plan.launch_id}-launch-day",
            parameters={**base, "time_scale": time_scale},
            tags=[plan.launch_id],
            **entrypoint,
        )
    )
    deployments.append(
        emergency_rollback.to_deployment(
            name=f"{plan.launch_id}-rollback", parameters=base, tags=[plan.launch_id], **entrypoint
        )
    )
    deployments.append(
        smoke_tests.to_deployment(
            name=f"{plan.launch_id}-smoke", parameters={"plan_path": plan_path}, tags=[plan.launch_id], **entrypoint
        )
    )
    return deployments


def phase_window_rrule(plan: Plan, phase: str, launch_date: dt.date | None = None) -> str:
    """An RRule firing every ``phase.every`` seconds from the phase's start to just before its end.

    Prefect's ``Interval(anchor_date=...)`` also fires *before* its anchor (it extends the grid
    both ways), so an interval schedule for the first phase ran every 5 minutes from the moment
    the deployments were registered — days before the launch — and its first run started the
    post-launch clock (``monitoring.begin``) and opened a "monitoring is blind" incident. DTSTART
    and UNTIL bound the runs to the phase's window.
    """
    from launch_control.flows.post_launch import monitoring_start

    spec = next(p for p in plan.timeline.post_launch if p.name == phase)
    start = monitoring_start(plan, launch_date) + dt.timedelta(seconds=spec.start)
    until = monitoring_start(plan, launch_date) + dt.timedelta(seconds=spec.end - 1)
    every = int(spec.every)
    freq = f"FREQ=MINUTELY;INTERVAL={every // 60}" if every % 60 == 0 else f"FREQ=SECONDLY;INTERVAL={every}"
    return f"DTSTART:{start:%Y%m%dT%H%M%S}\nRRULE:{freq};UNTIL={until:%Y%m%dT%H%M%S}"


def _in_phase_window(
    plan: Plan, deployment: Any, phase: str, launch_date: dt.date | None, entrypoint: dict[str, Any]
) -> Any:
    """The same post-launch monitoring deployment, with its schedule bounded to the phase's window."""
    from launch_control.flows.post_launch import post_launch_monitoring
    from prefect.schedules import RRule

    return post_launch_monitoring.to_deployment(
        name=deployment.name,
        schedules=[RRule(phase_window_rrule(plan, phase, launch_date), timezone=plan.timeline.timezone)],
        parameters=deployment.parameters,
        tags=deployment.tags,
        description=deployment.description,
        **entrypoint,
    )


def serve_deployments(deployments: list[Any], *, limit: int | None = None) -> None:
    from prefect import serve

    serve(*deployments, pause_on_shutdown=False, limit=limit)


def deploy_to_pool(deployments: list[Any], pool: str, *, image: str | None = None) -> list[Any]:
    """Register the deployments on a work pool (``prefect worker start --pool POOL`` runs them).

    Build the deployments with ``module_entrypoints=True``: a process pool's workers import the
    flows by module path, so every worker machine needs this package installed (``pip install``
    of the same version, or an editable install of the same checkout) and the same plan file path.
    """
    from prefect import deploy

    for deployment in deployments:
        deployment.work_pool_name = pool
    try:
        return deploy(
            *deployments,
            work_pool_name=pool,
            image=image,
            build=False,
            push=False,
            print_next_steps_message=False,
            ignore_warnings=True,
        )
    except ValueError as exc:
        if "Could not find work pool" in str(exc):
            raise UsageError(
                f"there is no work pool {pool!r} on this Prefect server; create it first: "
                f"prefect work-pool create {pool} --type process"
            ) from exc
        raise
