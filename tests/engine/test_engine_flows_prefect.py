"""The launch-day flows under a real Prefect server, on the real demo stack: a gate failure runs
the rollback sub-flow and the flow ends Failed with the reason; a go/no-go pause is resumed with
an approval from another process's API call."""

from __future__ import annotations

import subprocess
import threading
import time

import httpx
import pytest
import yaml
from engine_helpers import stack_plan

from launch_control.plan.model import dump_plan
from launch_control.store.db import Store

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from launch_control.plane.demo.stack import DemoStack
    from launch_control.store.lastgood import load_plan

    data = tmp_path_factory.mktemp("stack-data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LAUNCH_CONTROL_DATA_DIR", str(data))
        with DemoStack(load_plan(), free_ports=True) as running:
            running.start_load(150)
            yield running


@pytest.fixture
def repo(tmp_path):
    path = tmp_path / "repo"
    path.mkdir()
    git = ["git", "-C", str(path), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    (path / "README").write_text("release\n")
    subprocess.run([*git, "add", "README"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "release"], check=True)
    return path


def write_plan(plan, tmp_path, **changes):
    data = dump_plan(plan)
    for key, value in changes.items():
        data[key] = {**data[key], **value}
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def weight(stack) -> float:
    headers = {"Authorization": f"Bearer {stack.admin_token}"}
    return float(httpx.get(stack.gateway_url + "/admin/weights", headers=headers, timeout=5).json()["canary"])


def test_launch_day_gate_failure_rolls_back_and_ends_failed(prefect_server, stack, plan, tmp_path, repo):
    from launch_control.flows.launch_day import launch_day

    test_plan = stack_plan(plan, stack)
    path = write_plan(test_plan, tmp_path)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    stack.set_fault("canary", error_rate=0.5)
    try:
        state = launch_day(plan_path=path, store_url=url, repo=str(repo), return_state=True)
    finally:
        stack.set_fault("canary", clear=True)
    assert state.is_failed()
    assert "gate failed" in state.message and "rolled back, TTR" in state.message
    store = Store(url, launch_id=test_plan.launch_id)
    assert store.rollbacks()[-1]["ok"] and weight(stack) == 0
    assert store.state()["frozen"] is True
    assert subprocess.run(["git", "-C", str(repo), "tag"], capture_output=True, text=True).stdout.strip() == "v3.0.0"
    assert all(r["ok"] for r in store.check_results().values())  # preflight passed first
    assert any(d["verdict"] == "fail" for d in store.decisions())


def test_go_no_go_pause_is_resumed_by_approval(prefect_server, stack, plan, tmp_path):
    from launch_control.flows.launch_day import canary_ramp
    from prefect.flow_runs import resume_flow_run

    test_plan = stack_plan(plan, stack, holds=("1s", "1s", "1s"))
    path = write_plan(test_plan, tmp_path, canary={"go_no_go": True, "go_no_go_timeout": "60s"})
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(url, launch_id=test_plan.launch_id)
    answers = iter([True, True, False])  # go to 5%, go to 25%, no-go for 100%
    approvals = []

    def approver():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            waiting = (store.state().get("extra") or {}).get("awaiting_approval") or {}
            if waiting.get("flow_run_id") and waiting.get("step") not in [a[0] for a in approvals]:
                approved = next(answers)
                time.sleep(1.5)  # let the flow reach its pause
                resume_flow_run(waiting["flow_run_id"], run_input={"approved": approved, "by": "lead", "note": "t"})
                approvals.append((waiting["step"], approved))
                if not approved:
                    return
            time.sleep(0.2)

    thread = threading.Thread(target=approver, daemon=True)
    thread.start()
    state = canary_ramp(plan_path=path, store_url=url, return_state=True)
    thread.join(5)
    assert approvals == [(1, True), (2, True), (3, False)]
    assert state.is_failed() and "no-go for step 4 by lead" in state.message
    assert weight(stack) == 0 and store.rollbacks()[-1]["trigger"] == "no-go"
