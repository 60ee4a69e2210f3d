"""Deployers (command, vercel against canned API answers, registry), preflight checks (http on
loopback, sql on the store, command, smoke), freeze and tag in a real git repository, and the
demo's fault syntax."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest
from engine_helpers import health_app, plan_with

from launch_control.errors import DeployerError, UnknownAdapterError, UsageError
from launch_control.plane.deploy import build_deployer
from launch_control.web.servers import ServerThread

# --- deployers ---------------------------------------------------------------------------------------------


def test_registry_refuses_unknown_deployers():
    with pytest.raises(UnknownAdapterError, match="unknown deployer type 'kubectl'"):
        build_deployer({"type": "kubectl"})
    with pytest.raises(UsageError, match="needs 'run'"):
        build_deployer({"type": "command"})


def test_command_deployer_substitutes_role_and_version(tmp_path):
    out = tmp_path / "deployed"
    script = f"import sys; open({str(out)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n'); print('done')"
    deployer = build_deployer({"type": "command", "run": [sys.executable, "-c", script, "{role}", "{version}"]})
    assert "stable → v2.9.0 (done)" in deployer.deploy("stable", "v2.9.0")
    assert out.read_text() == "stable v2.9.0\n"
    failing = build_deployer({"type": "command", "run": [sys.executable, "-c", "import sys; sys.exit('boom')"]})
    with pytest.raises(DeployerError, match="exited 1: boom"):
        failing.deploy("stable", "v2.9.0")


# Canned answers in the shape of Vercel's REST API documentation (GET /v6/deployments,
# POST /v1/projects/{projectId}/rollback/{deploymentId} → 201).
DEPLOYMENTS = {
    "deployments": [
        {
            "uid": "dpl_new",
            "name": "promptforge",
            "state": "READY",
            "target": "production",
            "created": 2,
            "meta": {"githubCommitRef": "v3.0.0"},
        },
        {
            "uid": "dpl_old",
            "name": "promptforge",
            "state": "READY",
            "target": "production",
            "created": 1,
            "meta": {"githubCommitRef": "v2.9.0"},
        },
    ],
    "pagination": {"count": 2, "next": None, "prev": None},
}


def vercel_transport(calls, rollback_status=201, rollback_body=None):
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append((request.method, request.url.path, dict(request.url.params)))
        assert request.headers["authorization"] == "Bearer tok"
        if request.url.path == "/v6/deployments":
            return httpx.Response(200, json=DEPLOYMENTS)
        if request.url.path.startswith("/v1/projects/prj_1/rollback/"):
            return httpx.Response(rollback_status, json=rollback_body or {})
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "Not found"}})

    return httpx.MockTransport(handler)


def test_vercel_rolls_production_back_to_the_deployment_of_a_version():
    calls = []
    deployer = build_deployer(
        {"type": "vercel", "project": "prj_1", "token": "tok", "team_id": "team_9"}, transport=vercel_transport(calls)
    )
    assert "production → dpl_old (v2.9.0)" in deployer.deploy("stable", "v2.9.0")
    method, path, params = calls[-1]
    assert (method, path) == ("POST", "/v1/projects/prj_1/rollback/dpl_old")
    assert params["teamId"] == "team_9" and "v2.9.0" in params["description"]
    assert deployer.current("stable") == "v3.0.0"


def test_vercel_errors_are_deployer_errors_with_the_api_message():
    calls = []
    conflict = {"error": {"code": "conflict", "message": "Deployment is already the current production deployment"}}
    deployer = build_deployer(
        {"type": "vercel", "project": "prj_1", "token": "tok"}, transport=vercel_transport(calls, 409, conflict)
    )
    assert "already on dpl_old" in deployer.deploy("stable", "v2.9.0")  # idempotent
    forbidden = {"error": {"code": "forbidden", "message": "Not authorized"}}
    deployer = build_deployer(
        {"type": "vercel", "project": "prj_1", "token": "tok"}, transport=vercel_transport(calls, 403, forbidden)
    )
    with pytest.raises(DeployerError, match="403: Not authorized"):
        deployer.deploy("stable", "v2.9.0")
    with pytest.raises(DeployerError, match="no READY production deployment"):
        deployer.deploy("stable", "v1.0.0")
    with pytest.raises(DeployerError, match="only the stable"):
        deployer.deploy("canary", "v3.0.0")


def test_vercel_needs_a_token(monkeypatch):
    monkeypatch.delenv("VERCEL_TOKEN", raising=False)
    with pytest.raises(UsageError, match="set VERCEL_TOKEN"):
        build_deployer({"type": "vercel", "project": "prj_1"})


@pytest.mark.parametrize(
    ("config", "said"),
    [
        ({"type": "gateway"}, "gateway deployer: the gateway deployer needs 'url'"),
        ({"type": "gateway", "url": "http://127.0.0.1:1", "tokn": "x"}, "unknown setting 'tokn' (known: "),
        ({"type": "vercel", "token": "t"}, "vercel deployer: the vercel deployer needs 'project'"),
        ({"type": "vercel", "project": "prj_1", "token": "t", "team": "x"}, "unknown setting 'team'"),
        ({"type": "command", "run": ["true"], "shell": True}, "unknown setting 'shell'"),
        ({"type": "noop", "anything": 1}, "noop deployer: unknown setting 'anything'"),
    ],
)
def test_deployer_settings_are_checked_once_with_the_settings_model_words(config, said):
    with pytest.raises(UsageError) as caught:
        build_deployer(config)
    assert said in str(caught.value)


def test_a_required_setting_that_is_empty_is_refused_with_its_hint(tmp_path):
    from launch_control.plan.settings_types import required
    from launch_control.plane.traffic import build_router

    assert required("x", "never said") == "x"
    with pytest.raises(UsageError, match="nginx router: set config_path: the include file the router owns"):
        build_router({"type": "nginx", "config_path": "", "stable": "a:1", "canary": "b:1"})
    with pytest.raises(KeyError, match="no token"):
        required({}, "no token", KeyError)


# --- preflight -------------------------------------------------------------------------------------------


@pytest.fixture
def health():
    state: dict = {"status": 200}
    with ServerThread(health_app(state)) as server:
        state["base"] = server.url
        yield state


def preflight_plan(plan, base, extra_items=()):
    checklist = json.loads(json.dumps(plan.checklist.model_dump(mode="json", by_alias=True)))
    for item in checklist["pre-launch"]:
        if (item.get("check") or {}).get("url"):
            item["check"]["url"] = base + "/health"
    checklist["pre-launch"] += list(extra_items)
    smoke = {
        "base_url": base,
        "requests": [
            {"name": "health", "path": "/health", "expect_fields": ["version"], "expect_json": {"status": "ok"}}
        ],
    }
    return plan_with(plan, checklist=checklist, smoke_tests=smoke)


def test_preflight_ticks_passing_items_as_auto_and_blocks_on_failure(plan, sqlite_store, health):
    from launch_control.ramp.preflight import preflight_blockers, run_preflight

    command = {
        "id": "disk-space",
        "title": "t",
        "owner": "sre",
        "check": {"type": "command", "run": f"{sys.executable} -c \"print('ok 42%')\"", "expect": "ok"},
    }
    test_plan = preflight_plan(plan, health["base"], [command])
    assert preflight_blockers(test_plan, sqlite_store)  # never ran
    report = run_preflight(test_plan, sqlite_store)
    assert report.ok, [r.detail for r in report.failed]
    ticks = sqlite_store.checklist()
    assert {i for i, t in ticks.items() if t["ticked"] and t["actor"] == "auto"} == {
        "infra-capacity",
        "infra-db-state",
        "code-smoke",
        "disk-space",
    }
    assert preflight_blockers(test_plan, sqlite_store) == []

    health["status"] = 503
    report = run_preflight(test_plan, sqlite_store)
    assert {r.item_id for r in report.failed} == {"infra-capacity", "code-smoke"}
    assert not sqlite_store.checklist()["infra-capacity"]["ticked"]  # the machine un-ticks its own tick
    blockers = preflight_blockers(test_plan, sqlite_store)
    assert any(b.startswith("infra-capacity: GET") and "503" in b for b in blockers)


def test_start_canary_refuses_after_failed_preflight_unless_forced(plan, sqlite_store, health):
    from launch_control.control import operations as ops
    from launch_control.ramp.preflight import run_preflight

    health["status"] = 500
    test_plan = preflight_plan(plan, health["base"])
    run_preflight(test_plan, sqlite_store)
    ctl, priya = ops.Control(test_plan, sqlite_store), ops.Actor("priya", "cli")
    with pytest.raises(ops.OperationRefused, match="preflight failed"):
        ops.start_ramp(ctl, priya)
    with pytest.raises(UsageError, match="--force needs --reason"):
        ops.start_ramp(ctl, priya, force=True, reason=" ")
    ops.start_ramp(ctl, priya, force=True, reason="health check flaky, verified by hand")
    (event,) = sqlite_store.events(action="launch.start")
    assert event["actor"] == "priya" and "flaky" in event["details"]["reason"] and event["details"]["forced"]


def test_smoke_command(plan, health, cli_env, tmp_path):
    import yaml

    from launch_control.plan.model import dump_plan

    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(dump_plan(preflight_plan(plan, health["base"]))))

    def run():
        env = {**cli_env, "LAUNCH_CONTROL_PLAN": str(path)}
        return subprocess.run(
            [sys.executable, "-m", "launch_control.cli", "smoke"], env=env, capture_output=True, text=True
        )

    done = run()
    assert done.returncode == 0 and "smoke tests passed: 1 of 1 ok" in done.stdout
    health["status"] = 500
    done = run()
    assert done.returncode == 1 and "500, expected 200" in done.stdout


# --- freeze and tag ---------------------------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path):
    path = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    git = ["git", "-C", str(path), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    (path / "a").write_text("1")
    subprocess.run([*git, "add", "a"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], check=True)
    return path, git


def test_freeze_and_tag_in_a_local_repository(plan, sqlite_store, repo):
    from launch_control.ramp.release import ReleaseError, freeze_and_tag, unfreeze

    path, git = repo
    result = freeze_and_tag(plan, sqlite_store, actor="release-manager", repo=path)
    assert result.tag_created and "v3.0.0" in result.detail
    tag = subprocess.run([*git, "cat-file", "-t", "v3.0.0"], capture_output=True, text=True).stdout.strip()
    assert tag == "tag"  # annotated
    assert sqlite_store.state()["frozen"] is True
    assert freeze_and_tag(plan, sqlite_store, actor="release-manager", repo=path).tag_created is False  # idempotent
    (path / "a").write_text("2")
    refused = subprocess.run([*git, "commit", "-q", "-am", "sneaky"], capture_output=True, text=True)
    assert refused.returncode != 0 and "frozen" in refused.stderr
    unfreeze(plan, sqlite_store, actor="release-manager", repo=path)
    assert subprocess.run([*git, "commit", "-q", "-am", "after"], capture_output=True).returncode == 0
    with pytest.raises(ReleaseError, match="already exists on"):
        freeze_and_tag(plan, sqlite_store, actor="release-manager", repo=path)
    actions = [e["action"] for e in sqlite_store.events()]
    assert {"release.tag", "release.freeze", "release.unfreeze"} <= set(actions)


# --- demo fault syntax -------------------------------------------------------------------------------------


def test_parse_fault():
    from launch_control.commands.demo import parse_fault

    assert parse_fault("canary:error_rate=0.3@5%") == ("canary", {"error_rate": 0.3}, 5.0)
    assert parse_fault("canary:latency=0.5,down=false@25") == ("canary", {"latency": 0.5, "down": False}, 25.0)
    for bad in ("error_rate=0.3@5%", "canary:error_rate@5%", "canary:error_rate=lots@5%", "web:x=1@5%"):
        with pytest.raises(UsageError, match="--inject-fault"):
            parse_fault(bad)
