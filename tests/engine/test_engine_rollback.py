"""The emergency rollback against a real health endpoint on loopback: stage order, TTR record,
retries inside the budget, notifier and store trouble, failed verification, joining."""

from __future__ import annotations

import io
import threading

import pytest
from engine_helpers import health_app, plan_with

from launch_control.errors import RouterError
from launch_control.plane.deploy.noop import NoopDeployer
from launch_control.plane.traffic.noop import NoopRouter
from launch_control.ramp.rollback import emergency_rollback
from launch_control.web.servers import ServerThread


@pytest.fixture
def health():
    state: dict = {"status": 200}
    with ServerThread(health_app(state)) as server:
        state["url"] = server.url + "/health"
        yield state


@pytest.fixture
def rb_plan(plan, health):
    rollback = plan.rollback.model_dump(mode="json")
    rollback.update(
        ttr_budget=4,
        router={"type": "noop"},
        deployer={"type": "noop"},
        health_checks=[{"name": "gateway-health", "url": health["url"], "expect_status": 200}],
    )
    return plan_with(plan, rollback=rollback)


class FlakyRouter(NoopRouter):
    """Fails its first ``failures`` calls to set_weight, like a gateway restarting."""

    def __init__(self, failures: int, initial: float = 5):
        super().__init__(initial)
        self.failures = failures
        self.attempts = 0

    def set_weight(self, canary_percent):
        self.attempts += 1
        if self.attempts <= self.failures:
            raise RouterError(f"gateway admin API unreachable (attempt {self.attempts})")
        super().set_weight(canary_percent)


def test_stages_in_order_with_ttr_recorded(rb_plan, sqlite_store, health):
    router, deployer, out = NoopRouter(initial=5), NoopDeployer(), io.StringIO()
    result = emergency_rollback(
        rb_plan, sqlite_store, reason="Critical issue detected", actor="priya", router=router, deployer=deployer,
        out=out, notifier=False,
    )  # fmt: skip
    assert result.ok, result.message
    assert [s.name for s in result.stages] == ["trigger", "traffic", "deploy", "verify", "notify"]
    elapsed = [s.elapsed for s in result.stages]
    assert elapsed == sorted(elapsed)
    assert router.weight == 0 and deployer.calls == [("stable", "v2.9.0")]
    assert health["hits"] >= 1
    row = sqlite_store.rollbacks()[-1]
    assert row["ok"] and row["trigger"] == "manual" and row["actor"] == "priya"
    assert row["started_at"] <= row["traffic_switched_at"] <= row["deployed_at"] <= row["verified_at"]
    assert row["ttr_seconds"] == pytest.approx((row["verified_at"] - row["started_at"]).total_seconds())
    assert 0 < result.ttr_seconds < 2
    assert sqlite_store.state()["phase"] == "rolled_back" and sqlite_store.state()["canary_weight"] == 0
    text = out.getvalue()
    assert "traffic" in text and "verify" in text and "TTR" in text


def test_router_failing_its_first_two_calls_is_retried(rb_plan, sqlite_store):
    router = FlakyRouter(failures=2)
    lines: list[str] = []
    result = emergency_rollback(
        rb_plan, sqlite_store, reason="r", actor="a", router=router, deployer=NoopDeployer(), out=lines.append
    )
    assert result.ok
    assert result.stage("traffic").attempts == 3 and router.weight == 0
    # the person watching hears of the failure while it is retried, before the stage's verdict
    retry_line = next(i for i, line in enumerate(lines) if "attempt 1 failed" in line and "retrying until" in line)
    assert retry_line < next(i for i, line in enumerate(lines) if "✓ traffic" in line)


def test_router_that_stays_down_fails_within_the_budget(rb_plan, sqlite_store):
    import time

    started = time.monotonic()
    result = emergency_rollback(
        rb_plan, sqlite_store, reason="r", actor="a", router=FlakyRouter(failures=10**6), deployer=NoopDeployer()
    )
    assert not result.ok and not result.stage("traffic").ok
    assert "traffic" in result.message and "NOT verified" in result.message
    assert time.monotonic() - started < rb_plan.rollback.ttr_budget + 1
    assert sqlite_store.rollbacks()[-1]["ok"] is False


def test_every_notifier_down_does_not_matter(rb_plan, sqlite_store):
    class DeadNotifier:
        def send(self, *args, **kwargs):
            raise ConnectionError("all channels down")

    result = emergency_rollback(
        rb_plan, sqlite_store, reason="r", actor="a", router=NoopRouter(5), deployer=NoopDeployer(),
        notifier=DeadNotifier(),
    )  # fmt: skip
    assert result.ok and "notifier failed" in result.stage("notify").detail


def test_store_down_does_not_stop_the_traffic_switch(rb_plan, tmp_path):
    from launch_control.store.db import Store

    store = Store(f"sqlite:///{tmp_path / 'gone.db'}", launch_id="x")
    store.engine.dispose()
    (tmp_path / "gone.db").unlink()
    (tmp_path / "gone.db").mkdir()  # a directory where the database was: every write fails
    router = NoopRouter(25)
    result = emergency_rollback(rb_plan, store, reason="r", actor="a", router=router, deployer=NoopDeployer())
    assert router.weight == 0 and result.ok and result.rollback_id is None


def test_failed_verification_is_reported(rb_plan, sqlite_store, health):
    health["status"] = 503
    result = emergency_rollback(
        rb_plan, sqlite_store, reason="r", actor="a", router=NoopRouter(5), deployer=NoopDeployer(), budget=1.0
    )
    assert not result.ok and result.ttr_seconds is None
    assert "503" in result.stage("verify").detail
    assert sqlite_store.state()["phase"] == "rollback_failed"


def test_concurrent_rollbacks_join(rb_plan, sqlite_store):
    router = NoopRouter(5)
    results = []

    def go():
        results.append(
            emergency_rollback(rb_plan, sqlite_store, reason="r", actor="a", router=router, deployer=NoopDeployer())
        )

    threads = [threading.Thread(target=go) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.ok for r in results)
    assert len(sqlite_store.rollbacks()) + sum(r.joined for r in results) >= 3
    assert sum(not r.joined for r in results) == len(sqlite_store.rollbacks())
    # running again afterwards is just as safe (idempotent stages)
    assert emergency_rollback(
        rb_plan, sqlite_store, reason="again", actor="a", router=router, deployer=NoopDeployer()
    ).ok


def test_named_target_version_goes_to_the_deployer(rb_plan, sqlite_store):
    deployer = NoopDeployer()
    result = emergency_rollback(
        rb_plan, sqlite_store, reason="r", actor="a", router=NoopRouter(5), deployer=deployer, target_version="v2.8.1"
    )
    assert result.ok and deployer.calls == [("stable", "v2.8.1")]
    assert sqlite_store.rollbacks()[-1]["target_version"] == "v2.8.1"


def test_adapters_that_cannot_be_built_fail_their_stage_and_the_next_stage_still_runs(rb_plan, sqlite_store,
                                                                                     monkeypatch):
    import launch_control.plane.deploy as deploy
    import launch_control.plane.traffic as traffic

    def broken(config):
        raise RuntimeError("admin API credentials missing")

    monkeypatch.setattr(traffic, "build_router", broken)
    result = emergency_rollback(rb_plan, sqlite_store, reason="r", actor="a", out=io.StringIO(), notifier=False)
    stages = {s.name: s for s in result.stages}
    assert not result.ok
    assert not stages["traffic"].ok
    assert stages["traffic"].detail == "cannot build the plan's router (noop): admin API credentials missing"
    assert stages["deploy"].ok  # the plan's noop deployer was built and ran
    monkeypatch.setattr(deploy, "build_deployer", broken)
    result = emergency_rollback(rb_plan, sqlite_store, reason="r", actor="a", out=io.StringIO(), notifier=False)
    stages = {s.name: s for s in result.stages}
    assert stages["deploy"].detail == "cannot build the plan's deployer (noop): admin API credentials missing"
    assert "traffic, deploy, verify failed" in result.message
