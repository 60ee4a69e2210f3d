"""Controls: the emergency rollback button calls launch_control.ramp.rollback with the typed reason and
the signed-in lead; every action needs a reason and a confirmation and is audited; Prefect being
unreachable is said plainly."""

from __future__ import annotations

import datetime as dt
import types

import pytest


@pytest.fixture
def fake_rollback(monkeypatch):
    import launch_control.ramp.rollback as rollback

    calls: list[dict] = []

    def emergency_rollback(plan, store, *, reason, actor, trigger="manual", **_):
        calls.append({"plan": plan, "store": store, "reason": reason, "actor": actor, "trigger": trigger})
        stage = types.SimpleNamespace(name="traffic", ok=True, elapsed=0.42, detail="canary 0%")
        return types.SimpleNamespace(ok=True, ttr_seconds=3.21, stages=[stage], message="verified healthy on stable")

    monkeypatch.setattr(rollback, "emergency_rollback", emergency_rollback)
    return calls


def _widget(widgets, prefix: str):
    """The one widget whose key starts with ``prefix`` (keys carry the action counter and value)."""
    found = [w for w in widgets if (w.key or "").startswith(prefix)]
    assert len(found) == 1, [w.key for w in widgets]
    return found[0]


def _fill(at, key: str, reason: str | None, confirm: bool):
    if reason is not None:
        _widget(at.text_input, f"{key}-reason-").input(reason)
    if confirm:
        _widget(at.checkbox, f"{key}-confirm-").check()
    _widget(at.button, f"{key}-go-").click().run()
    return at


def test_rollback_button_calls_rollback_with_typed_reason(empty_store, console, fake_rollback):
    at = console("controls", role="lead", name="lena")
    _fill(at, "emergency", "canary 5xx spike seen by support", confirm=True)
    assert not at.exception
    assert len(fake_rollback) == 1
    call = fake_rollback[0]
    assert call["reason"] == "canary 5xx spike seen by support"
    assert call["actor"] == "lena" and call["trigger"] == "console"
    assert call["store"].launch_id == empty_store.launch_id
    assert any(m.label == "Time to rollback" and m.value == "3.21 s" for m in at.metric)
    assert any("TTR 3.21 s" in s.value for s in at.success)
    assert not [e for e in empty_store.events() if e["action"].startswith("console.")]  # one name: rollback.*


@pytest.mark.parametrize(("reason", "confirm", "message"), [
    ("", True, "Give a reason"),
    ("looks bad", False, "Tick the confirmation"),
])
def test_rollback_needs_reason_and_confirmation(empty_store, console, fake_rollback, reason, confirm, message):
    at = console("controls", role="lead")
    _fill(at, "emergency", reason, confirm)
    assert not fake_rollback
    assert any(message in e.value for e in at.error)


def _preflight_passed(store, plan):
    for phase, item in plan.checklist.items():
        if item.check is not None and phase == "pre-launch":
            store.record_check(item.id, True, "ok")


def test_start_canary_refused_by_failed_preflight(empty_store, plan, console):
    _preflight_passed(empty_store, plan)
    empty_store.record_check("infra-capacity", False, "gateway health: connection refused")
    at = console("controls", role="lead", name="lena")
    _fill(at, "start_canary", "launch window open", confirm=True)
    error = next(e.value for e in at.error)
    assert "Pre-launch checks block the start" in error and "connection refused" in error
    assert empty_store.count_events("launch.start") == 0  # refused: nothing started


def test_prefect_unreachable_is_said_plainly(empty_store, plan, console, monkeypatch):
    from launch_control.web.servers import free_port

    _preflight_passed(empty_store, plan)
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{free_port()}/api")
    at = console("controls", role="lead", name="lena")
    assert any("Prefect is unreachable" in w.value for w in at.warning)
    _fill(at, "start_canary", "launch window open", confirm=True)
    error = next(e.value for e in at.error)
    assert "Prefect is unreachable" in error and "was not started" in error
    assert empty_store.count_events("launch.start") == 0


def test_prefect_not_configured(empty_store, console):
    at = console("controls", role="lead")
    assert any("Prefect is not configured" in w.value for w in at.warning)


def test_pause_and_resume_are_audited(empty_store, console):
    empty_store.update_state(phase="ramping", current_step=0, canary_weight=1.0)
    at = console("controls", role="lead", name="lena")
    _fill(at, "pause", "waiting for the support queue", confirm=True)
    assert empty_store.state()["paused"] is True
    assert empty_store.events(action="launch.pause")[0]["details"]["reason"] == "waiting for the support queue"
    assert any(s.value == "Resume ramp" for s in at.subheader)
    assert any("paused" in s.value.lower() for s in at.success), "the result stays on the page"
    # The Resume card starts fresh: no reason carried over, nothing ticked.
    assert _widget(at.text_input, "resume-reason-").value == ""
    assert _widget(at.checkbox, "resume-confirm-").value is False
    _fill(at, "resume", "queue is calm", confirm=True)
    assert empty_store.state()["paused"] is False
    assert empty_store.events(action="launch.resume")[0]["actor"] == "lena"


def test_set_traffic_through_the_plans_router(empty_store, console, tmp_path, monkeypatch):
    """A plan whose router is the dry-run ``noop`` router: the weight is set and audited."""
    import yaml

    from launch_control.plan.model import DEFAULT_PLAN

    data = yaml.safe_load(DEFAULT_PLAN.read_text())
    data["rollback"]["router"] = {"type": "noop"}
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("LAUNCH_CONTROL_PLAN", str(path))
    at = console("controls", role="lead", name="lena")
    _widget(at.slider, "traffic-weight-").set_value(25).run()
    _fill(at, "traffic", "manual step to 25%", confirm=True)
    assert any("25% of traffic" in s.value for s in at.success)
    assert empty_store.state()["canary_weight"] == 25.0
    assert _widget(at.checkbox, "traffic-confirm-").value is False, "the confirmation is cleared after acting"
    assert _widget(at.text_input, "traffic-reason-").value == ""
    event = empty_store.events(action="launch.set_traffic")[0]
    assert event["details"]["weight"] == 25.0 and event["details"]["via"] == "console"


def test_promote_sets_100_and_completes(empty_store, console, tmp_path, monkeypatch):
    import yaml

    from launch_control.plan.model import DEFAULT_PLAN

    data = yaml.safe_load(DEFAULT_PLAN.read_text())
    data["rollback"]["router"] = {"type": "noop"}
    data["notifications"]["channels"] = []
    data["rollback"]["notify"] = []
    data.pop("incident_response")
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("LAUNCH_CONTROL_PLAN", str(path))
    empty_store.update_state(phase="ramping", current_step=2, canary_weight=25.0)
    at = console("controls", role="lead", name="lena")
    _fill(at, "promote", "25% green for 2 h", confirm=True)
    assert any("Promoted" in s.value for s in at.success), [e.value for e in at.error]
    state = empty_store.state()
    assert state["phase"] == "complete" and state["canary_weight"] == 100.0
    assert empty_store.events(action="launch.promote")[0]["actor"] == "lena"


def test_set_traffic_failure_is_reported(empty_store, console, monkeypatch):
    monkeypatch.setenv("LAUNCH_CONTROL_ADMIN_TOKEN", "t")
    at = console("controls", role="lead")
    _fill(at, "traffic", "try it", confirm=True)  # the shipped plan's gateway on :8080 is not running here
    assert any("Traffic not changed" in e.value for e in at.error)
    assert empty_store.state()["canary_weight"] == 0.0


@pytest.mark.slow
def test_real_rollback_against_the_demo_stack(empty_store, console, tmp_path, monkeypatch):
    """The button runs the real emergency rollback against a real gateway and shows its TTR."""
    stack_module = pytest.importorskip("launch_control.plane.demo.stack")
    import yaml

    from launch_control.plan.model import DEFAULT_PLAN
    from launch_control.store.lastgood import load_plan

    plan = load_plan()
    with stack_module.DemoStack(plan, free_ports=True, canary_weight=25.0) as stack:
        data = yaml.safe_load(DEFAULT_PLAN.read_text())
        gateway = {"type": "gateway", "url": stack.gateway_url}
        data["rollback"]["router"] = gateway
        data["rollback"]["deployer"] = gateway
        data["rollback"]["health_checks"] = [{"name": "gateway", "url": f"{stack.gateway_url}/health"}]
        data["rollback"]["notify"] = []
        path = tmp_path / "plan.yaml"
        path.write_text(yaml.safe_dump(data))
        monkeypatch.setenv("LAUNCH_CONTROL_PLAN", str(path))
        at = console("controls", role="lead", name="lena", timeout=120)
        started = dt.datetime.now(dt.UTC)
        _fill(at, "emergency", "drill from the console", confirm=True)
        assert not at.exception
        rollbacks = empty_store.rollbacks()
        assert rollbacks and rollbacks[-1]["reason"] == "drill from the console"
        assert rollbacks[-1]["actor"] == "lena" and rollbacks[-1]["trigger"] == "console"
        assert rollbacks[-1]["started_at"] >= started - dt.timedelta(seconds=1)
        ttr = rollbacks[-1]["ttr_seconds"]
        assert rollbacks[-1]["ok"] is True and ttr is not None and ttr < plan.rollback.ttr_budget
        assert any(m.label == "Time to rollback" and m.value == f"{ttr:.2f} s" for m in at.metric)
        import httpx

        assert httpx.get(f"{stack.gateway_url}/health", timeout=2).status_code == 200
        from launch_control.plane.traffic import build_router

        assert build_router(gateway).get_weight() == 0.0, "all traffic is back on stable"


def _noop_router_plan(tmp_path, monkeypatch):
    import yaml

    from launch_control.plan.model import DEFAULT_PLAN

    data = yaml.safe_load(DEFAULT_PLAN.read_text())
    data["rollback"]["router"] = {"type": "noop"}
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("LAUNCH_CONTROL_PLAN", str(path))


def test_moving_the_slider_unticks_the_confirmation(empty_store, console, tmp_path, monkeypatch):
    _noop_router_plan(tmp_path, monkeypatch)
    at = console("controls", role="lead", name="lena")
    _widget(at.slider, "traffic-weight-").set_value(50).run()
    _widget(at.text_input, "traffic-reason-").input("half and half")
    _widget(at.checkbox, "traffic-confirm-").check().run()
    _widget(at.slider, "traffic-weight-").set_value(60).run()
    assert _widget(at.checkbox, "traffic-confirm-").value is False, "a tick for 50% must not confirm 60%"
    assert "60%" in _widget(at.checkbox, "traffic-confirm-").label
    _widget(at.button, "traffic-go-").click().run()
    assert any("Tick the confirmation" in e.value for e in at.error)
    assert empty_store.state()["canary_weight"] == 0.0 and not empty_store.events(action="launch.set_traffic")


def test_traffic_away_from_the_step_asks_and_pauses(empty_store, console, tmp_path, monkeypatch):
    _noop_router_plan(tmp_path, monkeypatch)
    empty_store.update_state(phase="ramping", current_step=1, canary_weight=5.0)
    at = console("controls", role="lead", name="lena")
    _widget(at.slider, "traffic-weight-").set_value(60).run()
    assert any("the ramp will PAUSE" in w.value for w in at.warning)
    assert "the ramp will PAUSE" in _widget(at.checkbox, "traffic-confirm-").label
    _fill(at, "traffic", "support asked for more", confirm=True)
    state = empty_store.state()
    assert state["canary_weight"] == 60.0 and state["paused"] is True
    assert any("paused" in s.value.lower() for s in at.success), "the result says the ramp paused"
    event = empty_store.events(action="launch.set_traffic")[0]
    assert event["details"]["replace_step"] is False and empty_store.events(action="launch.pause") == []
    assert empty_store.launch_state().paused_by == "lena"
