"""The rehearsal that used to stall (issue 16): the embedded stack at 100 req/s, ``--time-scale 60``,
the shipped plan's steps and gate (1-minute intervals → 1 s, min_requests 20, inconclusive_limit
10). At 1 % the canary gets ~1 request an interval; the gate pools thin intervals instead of
holding on each, so the ramp reaches 100 % with no one resuming it — and a canary with 30 %
errors at 1 % in the same set-up is rolled back."""

from __future__ import annotations

import time

import httpx
import pytest
from engine_helpers import stack_plan

from launch_control.ramp.engine import Engine

pytestmark = pytest.mark.slow
LOAD_RPS = 100
TIME_SCALE = 60


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from launch_control.plane.demo.stack import DemoStack
    from launch_control.store.lastgood import load_plan

    data = tmp_path_factory.mktemp("thin-stack-data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LAUNCH_CONTROL_DATA_DIR", str(data))
        with DemoStack(load_plan(), free_ports=True) as running:
            running.start_load(LOAD_RPS)
            yield running


def shipped(plan, stack):
    """The shipped plan's steps, holds and gate, pointed at the test's stack (its ports are free ones)."""
    a = plan.analysis
    holds = tuple(f"{s.hold:g}s" for s in plan.canary.steps if s.hold)
    test_plan = stack_plan(plan, stack, interval=f"{a.interval:g}s", holds=holds, min_requests=a.min_requests)
    assert [(s.weight, s.hold) for s in test_plan.canary.steps] == [(s.weight, s.hold) for s in plan.canary.steps]
    assert test_plan.analysis.inconclusive_limit == a.inconclusive_limit
    return test_plan


def weight(stack) -> float:
    admin = {"Authorization": f"Bearer {stack.admin_token}"}
    return float(httpx.get(stack.gateway_url + "/admin/weights", headers=admin, timeout=5).json()["canary"])


def reset(stack) -> None:
    admin = {"Authorization": f"Bearer {stack.admin_token}"}
    httpx.put(stack.gateway_url + "/admin/weights", json={"canary": 0}, headers=admin, timeout=5).raise_for_status()
    stack.set_fault("canary", clear=True)


def test_a_30_percent_error_canary_at_1_percent_is_rolled_back(plan, stack, sqlite_store):
    reset(stack)
    stack.set_fault("canary", error_rate=0.3)
    try:
        started = time.monotonic()
        result = Engine(shipped(plan, stack), sqlite_store, notifier=False, out=print, time_scale=TIME_SCALE).run()
    finally:
        stack.set_fault("canary", clear=True)
    assert result.outcome == "rolled_back", result.reason
    assert weight(stack) == 0
    decisions = sqlite_store.decisions()
    assert {d["step"] for d in decisions} == {0}  # caught at 1 %, before 5 %
    assert time.monotonic() - started < 60


def test_the_shipped_plan_reaches_100_percent_at_100_rps_with_no_manual_resume(plan, stack, sqlite_store):
    reset(stack)
    lines: list[str] = []

    def out(line: str) -> None:
        print(line)
        lines.append(line)

    result = Engine(shipped(plan, stack), sqlite_store, notifier=False, out=out, time_scale=TIME_SCALE).run()
    assert result.outcome == "completed", result.reason
    assert weight(stack) == 100
    state = sqlite_store.state()
    assert not state["paused"]
    assert sqlite_store.count_events("engine.pause") == 0 and sqlite_store.count_events("launch.pause") == 0
    decisions = sqlite_store.decisions()
    first = [d for d in decisions if d["step"] == 0]
    assert any((d.get("details") or {}).get("gathering") for d in first)  # thin intervals pooled ...
    assert any((d.get("details") or {}).get("judged_on_pool") for d in first)  # ... and green on the pool
    assert not [d for d in decisions if d["verdict"] == "fail"]



def test_plan_check_observes_the_traffic_on_the_metric_source(plan, stack, tmp_path, capsys):
    import yaml

    from launch_control.cli import _guarded, run
    from launch_control.plan.model import dump_plan

    reset(stack)
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(dump_plan(shipped(plan, stack))), encoding="utf-8")
    code = _guarded(lambda: run(["--plan", str(path), "plan", "check", "--observe", "3"]))
    out = capsys.readouterr().out
    assert code == 1, out  # the shipped plan's 1 % step cannot prove anything in 30 minutes at ~100 req/s
    rate = float(out.split("feasibility at ")[1].split(" req/s")[0].replace(",", ""))
    assert 50 <= rate <= 150, out  # the load generator's 100 req/s
    assert "observed on the metric source for 3 s" in out and "SHORT step 1 (1%, hold 30 min)" in out
    code = _guarded(lambda: run(["--plan", str(path), "plan", "check", "--observe", "500"]))
    assert code == 2 and "at most 300 seconds" in capsys.readouterr().err
