"""One truth about the launch, on the real traffic plane: the demo stack (gateway, stable and
canary services, load) on loopback, ramps run by the CLI in their own processes.

(a) an emergency rollback from another process stops the ramp process within two intervals,
    saying who rolled back and why, with a non-zero exit; --status agrees;
(c) the console sets traffic away from the step mid-ramp: the ramp pauses and says so, and the
    gate's next decision names the weight really served;
(d) two engines started at once: exactly one runs, the other exits with a clear message;
(e) kill -9 mid-step, then resume: green time and the sequential evidence continue;
(f) a gradual rollback asked for with no engine running is carried out by the CLI that asked.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from engine_helpers import stack_plan

from launch_control.plan.model import dump_plan
from launch_control.store.db import Store

pytestmark = pytest.mark.slow
INTERVAL = 1.0
ROOT = Path(__file__).resolve().parents[2]


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


def admin(stack, method: str, path: str, **kw):
    headers = {"Authorization": f"Bearer {stack.admin_token}"}
    return httpx.request(method, stack.gateway_url + path, headers=headers, timeout=5, **kw)


@pytest.fixture
def launch(stack, plan, tmp_path):
    """A plan on the stack (1 s intervals, a long 5% hold), its store, and a CLI runner for it."""
    admin(stack, "PUT", "/admin/weights", json={"canary": 0}).raise_for_status()
    test_plan = stack_plan(plan, stack, interval="1s", holds=("1s", "40s", "1s"))
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(dump_plan(test_plan), sort_keys=False))
    url = f"sqlite:///{tmp_path / 'launch.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAUNCH_CONTROL_", "PREFECT_API_URL"))}
    env.update(LAUNCH_CONTROL_DATA_DIR=str(tmp_path / "data"), LAUNCH_CONTROL_DATABASE_URL=url,
               LAUNCH_CONTROL_PLAN=str(path), LAUNCH_CONTROL_ADMIN_TOKEN=stack.admin_token, PYTHONUNBUFFERED="1")

    class Launch:
        plan = test_plan
        plan_path = path
        store = Store(url, launch_id=test_plan.launch_id)
        procs: list[subprocess.Popen] = []

        def start(self, actor: str = "cli:ramp") -> subprocess.Popen:
            script = Path(sys.executable).parent / "launch-control"
            proc = subprocess.Popen(
                [str(script), "--actor", actor, "--start-canary", "--force", "--reason", "rehearsal"],
                env=env, cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            self.procs.append(proc)
            return proc

        def cli(self, *args: str, entry: str = "launch-control") -> subprocess.CompletedProcess:
            script = Path(sys.executable).parent / entry
            return subprocess.run([str(script), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)

        def wait_for(self, what, timeout: float = 40.0):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if value := what():
                    return value
                for proc in self.procs:
                    assert proc.poll() is None or proc.returncode == 0, proc.stdout.read()
                time.sleep(0.1)
            raise AssertionError("timed out")

        def at_5pct(self, decisions: int = 2) -> bool:
            state = self.store.launch_state()
            at_step = [d for d in self.store.decisions() if d["step"] == 1]
            return state.current_step == 1 and len(at_step) >= decisions

    running = Launch()
    yield running
    for proc in running.procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    admin(stack, "PUT", "/admin/weights", json={"canary": 0})


def test_emergency_rollback_from_another_process_stops_the_ramp(launch, stack):
    import threading

    from launch_control.store.db import utcnow

    ramp = launch.start()
    launch.wait_for(launch.at_5pct)
    exited: list = []
    watcher = threading.Thread(target=lambda: (ramp.wait(60), exited.append(utcnow())), daemon=True)
    watcher.start()
    rollback = launch.cli("--actor", "lead", "lead rolls back by hand", entry="emergency-rollback")
    assert rollback.returncode == 0, rollback.stdout + rollback.stderr
    watcher.join(2 * INTERVAL + 5)
    assert exited, "the ramp process kept running after the rollback"
    started = launch.store.rollbacks()[-1]["started_at"]
    stopped_after = (exited[0] - started).total_seconds()
    out = ramp.stdout.read()
    print(f"ramp process exited {stopped_after:.2f} s after the rollback started (interval {INTERVAL:g} s)")
    assert ramp.returncode != 0
    assert "rolled back by lead: lead rolls back by hand" in out, out
    assert [line for line in out.splitlines() if line.startswith("STOPPED")], out
    # within two intervals of the rollback (plus the process's own exit)
    assert stopped_after < 2 * INTERVAL + 0.5, stopped_after
    status = launch.cli("--status").stdout
    assert "rolled back by lead: lead rolls back by hand" in status, status
    assert "engine:  none running" in status, status  # no live engine
    assert "left in" not in status, status  # no time left once the ramp has ended
    assert admin(stack, "GET", "/admin/weights").json()["canary"] == 0


def test_two_engines_at_once_exactly_one_runs(launch):
    first, second = launch.start("cli:one"), launch.start("cli:two")
    launch.wait_for(lambda: first.poll() is not None or second.poll() is not None, timeout=30)
    time.sleep(3 * INTERVAL)  # the winner keeps running
    running = [p for p in (first, second) if p.poll() is None]
    exited = [p for p in (first, second) if p.poll() is not None]
    assert len(running) == 1 and len(exited) == 1
    loser = exited[0].stdout.read()
    assert exited[0].returncode == 1, loser
    assert "is running this launch" in loser or "already running" in loser, loser
    assert "Traceback" not in loser
    state = launch.store.launch_state()
    assert state.lease is not None and state.lease.pid != exited[0].pid
    launch.cli("rollback", "end of the race test")
    running[0].wait(2 * INTERVAL + 5)


def _canary_n(decision: dict) -> float:
    seq = (decision["details"] or {}).get("sequential") or {}
    return max((float(v.get("canary_n") or 0) for v in seq.values()), default=0.0)


def test_kill_9_mid_step_then_resume_continues_evidence_and_green_time(launch):
    first = launch.start("cli:first")
    launch.wait_for(lambda: launch.at_5pct(decisions=5))
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    launch.procs.remove(first)
    saved = launch.store.launch_state().evidence
    assert saved.step == 1 and saved.green_seconds > 0 and saved.gate is not None
    persisted_n = float((saved.gate.get("errors") or {}).get("canary_n") or 0)
    assert persisted_n > 0, saved.gate
    before = [d for d in launch.store.decisions() if d["step"] == 1]
    last_id = before[-1]["id"]

    second = launch.start("cli:second")
    after = launch.wait_for(lambda: [d for d in launch.store.decisions() if d["id"] > last_id and d["step"] == 1])
    first_after = after[0]
    assert _canary_n(first_after) > persisted_n, (persisted_n, first_after["details"])
    assert _canary_n(first_after) >= _canary_n(before[-2])  # never back to the start of the step
    resumed = launch.wait_for(lambda: (e := launch.store.launch_state().evidence).intervals > saved.intervals and e)
    assert resumed.green_seconds >= saved.green_seconds and resumed.intervals > saved.intervals
    assert launch.store.count_events("engine.resume") == 1
    launch.cli("rollback", "end of the resume test")
    second.wait(2 * INTERVAL + 5)


def test_console_traffic_away_from_the_step_pauses_and_the_gate_judges_the_served_weight(launch, stack, monkeypatch):
    from streamlit.testing.v1 import AppTest

    ramp = launch.start()
    launch.wait_for(launch.at_5pct)
    monkeypatch.setenv("LAUNCH_CONTROL_DATABASE_URL", launch.store.url)
    monkeypatch.setenv("LAUNCH_CONTROL_PLAN", str(launch.plan_path))
    monkeypatch.setenv("LAUNCH_CONTROL_CONSOLE_REFRESH", "0")
    monkeypatch.setenv("LAUNCH_CONTROL_ADMIN_TOKEN", stack.admin_token)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    at = AppTest.from_file(str(ROOT / "console" / "app.py"), default_timeout=60)
    at.session_state["lc_user"] = {"name": "lena", "role": "lead", "source": "local"}
    at.run()
    at.switch_page("pages/respond/controls.py").run()
    def widget(widgets, prefix: str):
        (found,) = [w for w in widgets if (w.key or "").startswith(prefix)]
        return found

    widget(at.slider, "traffic-weight-").set_value(60).run()
    widget(at.text_input, "traffic-reason-").input("support wants more users on v3")
    widget(at.checkbox, "traffic-confirm-").check()
    widget(at.button, "traffic-go-").click().run()
    set_at = launch.store.decisions()[-1]["id"]
    message = " ".join(s.value for s in at.success)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert "60% of traffic" in message and "ramp is paused" in message and "5%" in message, message
    state = launch.store.launch_state()
    assert state.paused and state.paused_by == "lena" and state.canary_weight == 60
    decision = launch.wait_for(lambda: [d for d in launch.store.decisions() if d["id"] > set_at + 1])[0]
    assert decision["weight"] == 60 and "60% really served" in decision["reason"], decision
    assert launch.store.count_events("launch.set_traffic") >= 3  # 1%, 5% by the engine, 60% by lena
    launch.cli("rollback", "end of the console test")
    ramp.wait(2 * INTERVAL + 5)


def test_gradual_rollback_with_no_engine_is_carried_out_by_the_cli(launch, stack):
    """(f) `launch-control rollback --gradual` with no engine running: the CLI itself steps the served
    weight down through rollback.gradual_steps under the engine lease, watching each level on live
    metrics, then rolls back; the request is consumed and the launch ends rolled back."""
    from launch_control.control.state import Phase

    data = dump_plan(launch.plan)
    data["rollback"].update(gradual_steps=["5%", "0%"], gradual_hold="2s")
    launch.plan_path.write_text(yaml.safe_dump(data, sort_keys=False))
    admin(stack, "PUT", "/admin/weights", json={"canary": 25}).raise_for_status()
    launch.store.update_state(phase="ramping", current_step=2, canary_weight=25)
    started = time.monotonic()
    done = launch.cli("--actor", "lead", "rollback", "--gradual", "latency creeping up")
    took = time.monotonic() - started
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "gradual rollback requested (5% → 0%)" in out and "no engine is running" in out, out
    assert "gradual rollback from 25%: 5% → 0%" in out, out
    assert "rolled_back: latency creeping up" in out, out
    assert "Traceback" not in out, out
    state = launch.store.launch_state()
    assert state.phase == Phase.ROLLED_BACK and state.request is None and state.lease is None, state
    at_5 = [d for d in launch.store.decisions() if d["weight"] == 5]
    assert len(at_5) >= 2, launch.store.decisions()  # gradual_hold 2 s at a 1 s interval: watched, not skipped
    rollback = launch.store.rollbacks()[-1]
    assert rollback["trigger"] == "gradual" and rollback["actor"] == "lead", rollback
    assert admin(stack, "GET", "/admin/weights").json()["canary"] == 0
    assert took < 30, took


@pytest.mark.prefect
def test_prefect_ramp_flow_ends_failed_when_someone_else_rolls_back(prefect_server, launch, stack):
    """(b) the same through a real Prefect server: the canary-ramp flow run ends Failed, saying who."""
    import threading

    from launch_control.flows.launch_day import canary_ramp

    from launch_control.store.db import utcnow

    rolled: dict = {}

    def roll_back_at_5pct() -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not launch.at_5pct():
            time.sleep(0.1)
        rolled["result"] = launch.cli("--actor", "lead", "lead rolls back by hand", entry="emergency-rollback")

    helper = threading.Thread(target=roll_back_at_5pct, daemon=True)
    helper.start()
    state = canary_ramp(plan_path=str(launch.plan_path), store_url=launch.store.url, return_state=True)
    ended = utcnow()
    helper.join(30)
    assert rolled["result"].returncode == 0, rolled["result"].stdout + rolled["result"].stderr
    after = (ended - launch.store.rollbacks()[-1]["started_at"]).total_seconds()
    print(f"flow run ended {state.name} {after:.2f} s after the rollback started")
    assert state.is_failed(), state
    assert "rolled back by lead: lead rolls back by hand" in (state.message or ""), state.message
    assert after < 2 * INTERVAL + 1.0, after  # Prefect reporting the final state to its server: ~1 s
    assert launch.store.launch_state().lease is None  # the flow's engine gave its lease up
