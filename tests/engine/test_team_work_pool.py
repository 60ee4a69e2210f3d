"""The team setup, once, for real: ``launch-control schedule --pool`` registers the plan's
deployments on a Prefect process work pool; a ``prefect worker start`` in a separate process
(its own environment, working directory and PREFECT_HOME, as on another machine) picks up the
runs; the store is a fresh PostgreSQL database and the limiter's Redis URL is set.

Two runs are triggered by hand: the 08:00 preflight (store URL passed as a deployment parameter;
the plan keeps only its SQL check, the others need a running stack) and the 16:00 status check
(store from the worker's LAUNCH_CONTROL_DATABASE_URL). Both must end Completed, run by that
worker, and leave their rows in PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from launch_control.plan.model import dump_plan
from launch_control.store.db import Store
from launch_control.store.lastgood import load_plan

pytestmark = [pytest.mark.prefect, pytest.mark.slow, pytest.mark.timeout(180)]

BIN = Path(sys.executable).parent
KEEP_CHECK = "infra-db-state"  # SQL "SELECT 1" against the store: passes on PostgreSQL without a stack


def sql_only_plan(tmp_path: Path) -> Path:
    data = dump_plan(load_plan())
    for items in data["checklist"].values():
        for item in items:
            if item.get("id") != KEEP_CHECK:
                item.pop("check", None)
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def machine_env(tmp_path: Path, name: str, api_url: str, pg_url: str, redis_url: str) -> dict[str, str]:
    """A clean environment for one 'machine': shared server, store and Redis; its own homes."""
    from launch_control import flows

    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAUNCH_CONTROL_", "PREFECT_"))}
    home = tmp_path / name
    home.mkdir()
    env.update(flows.QUIET)
    env.update(
        PREFECT_API_URL=api_url,
        PREFECT_HOME=str(home / "prefect"),
        LAUNCH_CONTROL_DATABASE_URL=pg_url,
        LAUNCH_CONTROL_REDIS_URL=redis_url,
        LAUNCH_CONTROL_DATA_DIR=str(home / "data"),
        LAUNCH_CONTROL_ACTOR=name,
    )
    return env


def run(argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{argv} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def wait_final(flow_run_ids: list, timeout: float) -> dict:
    from prefect import get_client

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            runs = {i: client.read_flow_run(i) for i in flow_run_ids}
            if all(r.state and r.state.is_final() for r in runs.values()) or time.monotonic() > deadline:
                return runs
            time.sleep(0.5)


def test_schedule_on_a_work_pool_runs_on_a_worker_into_postgresql(prefect_server, pg_url, redis_url, tmp_path):
    from prefect import get_client
    from prefect.client.schemas.filters import WorkPoolFilter, WorkPoolFilterName
    from prefect.deployments import run_deployment

    from launch_control.web.servers import ChildProcess

    started = time.monotonic()
    pool = f"lc-team-{uuid.uuid4().hex[:6]}"
    plan_path = sql_only_plan(tmp_path)
    plan = load_plan(plan_path)
    lead = machine_env(tmp_path, "lead", prefect_server.api_url, pg_url, redis_url)
    worker_env = machine_env(tmp_path, "worker", prefect_server.api_url, pg_url, redis_url)
    worker_env["PREFECT_WORKER_QUERY_SECONDS"] = "1"  # default 10 s between polls

    run([str(BIN / "prefect"), "work-pool", "create", pool, "--type", "process"], lead, tmp_path / "lead")
    # Tomorrow: no scheduled run may fire during the test (the two runs below are triggered by hand).
    day = dt.date.today() + dt.timedelta(days=1)
    scheduled = run(
        [str(BIN / "launch-control"), "--plan", str(plan_path), "schedule", "--date", day.isoformat(), "--pool", pool],
        lead,
        tmp_path / "lead",
    )
    assert f"on work pool {pool!r}" in scheduled.stdout
    assert f"prefect worker start --pool {pool}" in scheduled.stdout

    with get_client(sync_client=True) as client:
        deployments = {d.name: d for d in client.read_deployments() if d.work_pool_name == pool}
    preflight = deployments["pre-launch-verification"]
    status = deployments["status-check-status-1600"]
    # module path: no checkout path on the workers
    assert preflight.entrypoint == "launch_control.flows.launch_day.preflight"
    assert preflight.parameters == {"plan_path": str(plan_path), "store_url": pg_url}
    assert status.entrypoint == "launch_control.flows.post_launch.status_check"
    assert preflight.schedules[0].schedule.cron == f"0 8 {day.day} {day.month} *"
    assert preflight.schedules[0].schedule.timezone == plan.timeline.timezone
    by_hand = {f"{plan.launch_id}-launch-day", f"{plan.launch_id}-rollback", f"{plan.launch_id}-smoke"}
    status_checks = {f"status-check-status-{hhmm}" for hhmm in ("1600", "1800", "2000", "2200", "0000")}
    assert by_hand | status_checks | {"branch-freeze", "canary-1", "post-launch-intensive"} <= set(deployments)
    # Monitoring phases fire only inside their window (an Interval would also fire before its anchor).
    assert deployments["post-launch-intensive"].schedules[0].schedule.rrule == (
        f"DTSTART:{day:%Y%m%d}T140000\nRRULE:FREQ=MINUTELY;INTERVAL=5;UNTIL={day + dt.timedelta(days=1):%Y%m%d}T135959"
    )

    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        worker = ChildProcess(
            [str(BIN / "prefect"), "worker", "start", "--pool", pool, "--name", "team-worker"],
            env=worker_env,
            cwd=tmp_path / "worker",
            name="prefect-worker",
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        ids = [
            run_deployment(f"preflight/{preflight.name}", timeout=0).id,
            run_deployment(f"post-launch-status-check/{status.name}", timeout=0).id,
        ]
        runs = wait_final(ids, timeout=max(30.0, 85.0 - (time.monotonic() - started)))
    finally:
        worker.stop(timeout=10)
    worker_log = log_path.read_text(errors="replace")
    for flow_run in runs.values():
        assert flow_run.state.is_completed(), f"{flow_run.name}: {flow_run.state}\n--- worker log ---\n{worker_log}"
        assert flow_run.work_pool_name == pool
        assert str(flow_run.id) in worker_log  # this worker submitted it

    with get_client(sync_client=True) as client:
        pool_runs = client.read_flow_runs(work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[pool])))
    assert {r.id for r in pool_runs if not r.state.is_scheduled()} == set(ids)  # nothing fired on its own

    store = Store(pg_url, launch_id=plan.launch_id)
    assert store.check_results()[KEEP_CHECK]["ok"] is True
    assert store.checklist()[KEEP_CHECK]["actor"] == "auto" and store.checklist()[KEEP_CHECK]["ticked"]
    assert store.events(action="preflight.run")[0]["details"]["ok"] is True
    skipped = [e for e in store.timeline_events() if e["entry_id"] == "status-1600"]
    assert skipped and skipped[-1]["status"] == "skipped"  # monitoring has not begun: recorded, not posted
