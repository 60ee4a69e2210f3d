"""The vercel router against a local fake of Vercel's REST API (tests/engine/fake_vercel.py) on
127.0.0.1: a full gated ramp by the engine through Vercel's rolling-release stages, an emergency
rollback through it, the read-back, and every documented error turned into a clear RouterError."""

from __future__ import annotations

import copy
import time

import pytest
from engine_helpers import FakeClock, ScriptedGate, ScriptedSource, Verdict, plan_with
from fake_vercel import DOCUMENTED_RELEASE, PROJECT, TEAM, TOKEN, FakeVercel

from launch_control.errors import RouterError, UsageError
from launch_control.plane.traffic import TrafficRouter, build_router
from launch_control.ramp.engine import Engine
from launch_control.web.servers import ServerThread


@pytest.fixture
def vercel(monkeypatch):
    monkeypatch.setenv("VERCEL_TOKEN", TOKEN)
    fake = FakeVercel()
    with ServerThread(fake) as server:
        fake.url = server.url
        yield fake


def health(fake):
    """The rollback verifies production answers on stable (the fake serves /health)."""
    return [{"name": "production", "url": fake.url + "/health", "expect_json": {"production": "dpl_stable"}}]


def settings(fake, **extra):
    return {"type": "vercel", "project": PROJECT, "team_id": TEAM, "canary_deployment": "dpl_canary",
            "api_url": fake.url, "stages": [1, 5, 25, 100], "retry_budget": 3, **extra}


def test_gated_ramp_by_the_engine_walks_vercel_stages_one_approval_at_a_time(plan, sqlite_store, vercel):
    # no stages in the settings: the engine builds the router with the plan, whose steps become the stages
    router_settings = {k: v for k, v in settings(vercel).items() if k != "stages"}
    vercel_plan = plan_with(plan, rollback__router=router_settings)
    engine = Engine(vercel_plan, sqlite_store, source=ScriptedSource(), gate=ScriptedGate(), clock=FakeClock(),
                    incidents=False, notifier=False)
    assert isinstance(engine.router, TrafficRouter) and engine.router.name == "vercel"
    result = engine.run()
    assert result.outcome == "completed", result.reason
    # the plan's steps became Vercel's stages, all held for manual approval (our gates decide)
    assert vercel.config["advancementType"] == "manual-approval"
    assert [s["targetPercentage"] for s in vercel.config["stages"]] == [1, 5, 25, 100]
    assert vercel.served == [1, 5, 25, 100]
    approvals = [body["nextStageIndex"] for _, _, body in vercel.calls_to("/approve-stage")]
    assert approvals == [1, 2, 3] or (approvals == [1, 2] and vercel.calls_to("/complete"))
    assert vercel.release["state"] == "COMPLETE" and vercel.production == "dpl_canary"
    assert engine.router.get_weight() == 100.0
    # every interval was judged by our gate at the stage Vercel reported
    assert sqlite_store.state()["canary_weight"] == 100


def test_failing_gate_rolls_back_through_vercel(plan, sqlite_store, vercel):
    vercel_plan = plan_with(plan, rollback__router=settings(vercel), rollback__deployer={"type": "noop"},
                            rollback__health_checks=health(vercel))

    def judge(n, obs):
        if obs.canary.errors >= 30:
            return Verdict("fail", "canary error rate 30% > 20% (SEV-1)", "SEV-1", rollback=True)
        return Verdict("pass", "ok")

    engine = Engine(vercel_plan, sqlite_store, source=ScriptedSource(lambda n: 30 if n > 31 else 0),
                    gate=ScriptedGate(judge), clock=FakeClock(), incidents=False, notifier=False)
    result = engine.run()
    assert result.outcome == "rolled_back", result.reason
    assert vercel.served == [1, 5, 0]  # never reached 25 %: the gate failed at 5 %
    (rollback,) = vercel.calls_to("/rollback/dpl_stable")
    assert rollback[1] == f"/v9/projects/{PROJECT}/rollback/dpl_stable"
    assert vercel.release["state"] == "ABORTED" and vercel.production == "dpl_stable"


def test_emergency_rollback_aborts_within_the_ttr_budget(plan, sqlite_store, vercel):
    from launch_control.ramp.rollback import emergency_rollback

    router = build_router(settings(vercel))
    router.set_weight(1)
    router.set_weight(5)
    assert router.get_weight() == 5.0
    deployer_settings = {"type": "vercel", "project": PROJECT, "team_id": TEAM, "api_url": vercel.url}
    vercel_plan = plan_with(plan, rollback__router=settings(vercel), rollback__deployer=deployer_settings,
                            rollback__health_checks=health(vercel))
    lines: list[str] = []
    started = time.monotonic()
    result = emergency_rollback(vercel_plan, sqlite_store, reason="canary 5xx", actor="priya",
                                notifier=False, out=lines.append)
    took = time.monotonic() - started
    assert result.ok, lines
    assert took < vercel_plan.rollback.ttr_budget and result.ttr_seconds < 5
    assert router.get_weight() == 0.0 and vercel.release["state"] == "ABORTED"
    assert vercel.production == "dpl_stable"
    assert any("via vercel (canary 0%)" in line for line in lines)
    # idempotent: a second emergency rollback finds nothing rolling out and succeeds
    assert emergency_rollback(vercel_plan, sqlite_store, reason="again", actor="priya", notifier=False).ok


def test_same_weight_is_one_call_and_steps_cannot_go_back(vercel):
    router = build_router(settings(vercel))
    router.set_weight(5)  # start, then approve straight to the 5 % stage
    assert vercel.served == [1, 5]
    before = len(vercel.calls_to("/approve-stage"))
    router.set_weight(5)
    assert len(vercel.calls_to("/approve-stage")) == before
    with pytest.raises(RouterError, match="cannot step back to 1%.*set 0 to abort"):
        router.set_weight(1)
    with pytest.raises(RouterError, match="30% is not a stage.*align the plan's steps"):
        router.set_weight(30)
    router.set_weight(100)
    assert router.get_weight() == 100.0
    with pytest.raises(RouterError, match="already complete.*deployer"):
        router.set_weight(0)


def documented(vercel) -> dict:
    """Load the documented example release into the fake, with its two deployments."""
    vercel.release = copy.deepcopy(DOCUMENTED_RELEASE["rollingRelease"])
    for role in ("currentDeployment", "canaryDeployment"):
        deployment = vercel.release[role]
        vercel.deployments[deployment["id"]] = {**deployment, "uid": deployment["id"], "meta": {}}
    vercel.production = vercel.release["currentDeployment"]["id"]
    return vercel.release


def test_reads_the_documented_release_body(vercel):
    documented(vercel)
    router = build_router(settings(vercel, canary_deployment="dpl_def456"))
    assert router.get_weight() == 25.0
    assert build_router(settings(vercel)).get_weight() == 0.0  # someone else's canary, not ours
    router.set_weight(60)
    (call,) = vercel.calls_to("/approve-stage")
    assert call[2] == {"nextStageIndex": 2, "canaryDeploymentId": "dpl_def456"}
    assert router.get_weight() == 60.0


@pytest.mark.parametrize(
    "change, message",
    [
        ({"token": "wrong"}, r"refused the token \(401: Not authorized\); set VERCEL_TOKEN"),
        ({"team_id": "team_other"}, r"denied .* team_other \(403.*set team_id.*Pro or Enterprise"),
        ({"project": "prj_missing"}, r"found nothing .*prj_missing.*\(404: Project not found\).*check the router's"),
    ],
)
def test_auth_and_project_errors_say_what_to_do(vercel, monkeypatch, change, message):
    if "token" in change:
        monkeypatch.setenv("VERCEL_TOKEN", change.pop("token"))
    router = build_router(settings(vercel, **change))
    with pytest.raises(RouterError, match=message):
        router.set_weight(1)
    assert router.healthy() is False


def test_another_active_release_is_a_409_with_what_to_do(vercel):
    build_router(settings(vercel, canary_deployment="dpl_other")).set_weight(1)
    mine = build_router(settings(vercel))
    assert mine.get_weight() == 0.0
    with pytest.raises(RouterError, match=r"409: A rolling release is already active.*complete or abort it"):
        mine.set_weight(1)


def test_429_waits_for_retry_after_within_the_budget(vercel):
    router = build_router(settings(vercel))
    limited = {"error": {"code": "rate_limited", "message": "Too many requests"}}
    vercel.faults = [(429, {"Retry-After": "1"}, limited)]
    started = time.monotonic()
    router.set_weight(1)
    assert 1.0 <= time.monotonic() - started < 3
    assert router.get_weight() == 1.0
    vercel.faults = [(429, {"Retry-After": "60"}, limited)]
    started = time.monotonic()
    with pytest.raises(RouterError, match=r"rate limited \(429\).*wait longer than the retry budget"):
        router.set_weight(5)
    assert time.monotonic() - started < 1  # gave up at once instead of sleeping past the budget


def test_5xx_is_retried_then_a_clear_error_bounded_by_the_budget(vercel):
    router = build_router(settings(vercel, retry_budget=1.5))
    vercel.faults = [(503, {}, {"error": {"code": "internal", "message": "Service unavailable"}})] * 2
    router.set_weight(1)
    assert router.get_weight() == 1.0
    vercel.faults = [(500, {}, {"error": {"code": "internal", "message": "boom"}})] * 100
    started = time.monotonic()
    with pytest.raises(RouterError, match=r"still failing after \d+ attempt\(s\).*HTTP 500: boom.*vercel-status"):
        router.set_weight(5)
    assert time.monotonic() - started < 2.5
    vercel.faults = []


def test_settings_and_token_are_checked():
    with pytest.raises(UsageError, match="project"):
        build_router({"type": "vercel"})
    with pytest.raises(UsageError, match="token"):
        build_router({"type": "vercel", "project": "p", "token": "secret-in-the-plan"})
    with pytest.raises(UsageError, match="rise strictly"):
        build_router({"type": "vercel", "project": "p", "stages": [50, 25]})


def test_stages_come_from_the_plan_and_must_match_it(plan, vercel):
    router = build_router({k: v for k, v in settings(vercel).items() if k != "stages"}, plan=plan)
    assert router.s.stages == [step.weight for step in plan.canary.steps]
    with pytest.raises(UsageError, match=r"stages \[1.0, 50.0, 100.0\] differ from the plan's canary steps"):
        build_router(settings(vercel, stages=[1, 50, 100]), plan=plan)


def test_an_automatically_advancing_release_is_refused(vercel):
    documented(vercel)["advancementType"] = "automatic"
    router = build_router(settings(vercel, canary_deployment="dpl_def456"))
    with pytest.raises(RouterError, match="advances 'automatic'.*gates cannot hold it"):
        router.set_weight(60)
    router.set_weight(0)  # the emergency path still works: abort is an instant rollback
    assert router.get_weight() == 0.0 and vercel.release["state"] == "ABORTED"
    assert [c[1] for c in vercel.calls_to("/rollback/dpl_abc123")] == [f"/v9/projects/{PROJECT}/rollback/dpl_abc123"]


def test_the_canary_can_be_found_by_its_version(vercel):
    router = build_router({**settings(vercel, canary_version="v3.0.0"), "canary_deployment": None})
    router.set_weight(1)
    (start,) = vercel.calls_to("/rolling-release/start")
    assert start[2] == {"canaryDeploymentId": "dpl_canary"} and router.get_weight() == 1.0
    missing = build_router({**settings(vercel, canary_version="v9.9.9"), "canary_deployment": None})
    with pytest.raises(RouterError, match=r"no READY production deployment .* = 'v9.9.9'"):
        missing.set_weight(5)


def test_the_manual_fallback_names_the_vercel_abort():
    from launch_control.store.lastgood import manual_steps

    steps = manual_steps({"type": "vercel", "project": "prj_promptforge", "canary_deployment": "dpl_canary"})
    assert "vercel rolling-release abort --dpl dpl_canary" in steps and "prj_promptforge" in steps


def test_missing_token_names_the_variable(monkeypatch):
    monkeypatch.delenv("VERCEL_TOKEN", raising=False)
    with pytest.raises(RouterError, match="set the environment variable VERCEL_TOKEN"):
        build_router({"type": "vercel", "project": "p"})
