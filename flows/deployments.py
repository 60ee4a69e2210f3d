"""The plan's timeline as Prefect deployments with cron schedules in the plan's time zone.

``build_deployments(plan, ...)`` makes one deployment per scheduled timeline entry whose action
is preflight, freeze_and_tag, deploy_canary or canary_ramp, each with
``Cron("M H D MON *", timezone=plan.timeline.timezone)`` on the launch date (plus the entry's
``day`` offset); the post_launch_monitoring and status_check entries come from
``flows.post_launch.post_launch_deployments`` (interval schedules per monitoring phase, cron per
status check); plus unscheduled ``launch-day``, ``emergency-rollback`` and ``smoke-tests``
deployments to run by hand. ``serve_deployments`` serves them from this
process with ``pause_on_shutdown=False`` (stopping the server must not pause the launch's
schedule). For a team: ``deploy_to_pool`` registers the same deployments on a work pool that
``prefect worker start --pool NAME`` serves on other machines.

Cron schedules fire only with a real ``prefect server start`` (not the ephemeral one).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import flows  # noqa: F401
from launch_control.errors import UsageError
from launch_control.plan import Plan

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
) -> list[Any]:
    from prefect.schedules import Cron

    from flows.launch_day import FLOWS_BY_ACTION, emergency_rollback, launch_day, smoke_tests

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
            )
        )
    deployments.append(
        launch_day.to_deployment(
            name=f"{plan.launch_id}-launch-day", parameters={**base, "time_scale": time_scale}, tags=[plan.launch_id]
        )
    )
    deployments.append(
        emergency_rollback.to_deployment(name=f"{plan.launch_id}-rollback", parameters=base, tags=[plan.launch_id])
    )
    deployments.append(
        smoke_tests.to_deployment(
            name=f"{plan.launch_id}-smoke", parameters={"plan_path": plan_path}, tags=[plan.launch_id]
        )
    )
    return deployments


def serve_deployments(deployments: list[Any], *, limit: int | None = None) -> None:
    from prefect import serve

    serve(*deployments, pause_on_shutdown=False, limit=limit)


def deploy_to_pool(deployments: list[Any], pool: str, *, image: str | None = None) -> list[Any]:
    """Register the deployments on a work pool (``prefect worker start --pool POOL`` runs them).

    Process pools need the code on the worker machines at the same path (a shared checkout or
    the installed package); the flows' entrypoints are this repository's ``flows/launch_day.py``.
    """
    from prefect import deploy

    for deployment in deployments:
        deployment.work_pool_name = pool
    return deploy(
        *deployments, work_pool_name=pool, image=image, build=False, push=False, print_next_steps_message=False
    )
