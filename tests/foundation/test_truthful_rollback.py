"""Truthful rollback records: a rollback that did not verify keeps no verified time and no TTR,
says "not verified after N s" and names the manual command; nothing that shows it crashes."""

from __future__ import annotations

import datetime as dt
import math

from launch_control.plan.units import format_duration
from launch_control.ramp.rollback import emergency_rollback, ttr_words
from launch_control.review.criteria import evaluate, format_measure
from launch_control.store.db import utcnow
from launch_control.web.servers import ServerThread


class DeadRouter:
    name = "dead"

    def set_weight(self, _weight: float) -> None:
        raise ConnectionRefusedError("router down")

    def get_weight(self) -> float:
        raise ConnectionRefusedError("router down")


class Deployer:
    def deploy(self, role: str, version: str) -> str:
        return f"{role} → {version}"


def _healthy_plan(plan, url: str):
    rollback = plan.rollback.model_copy(
        update={
            "ttr_budget": 1.0,
            "notify": [],
            "health_checks": [plan.rollback.health_checks[0].model_copy(update={"url": url})],
        }
    )
    return plan.model_copy(update={"rollback": rollback})


def _health_server():
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def health(_request):
        return JSONResponse({"status": "ok"})

    return ServerThread(Starlette(routes=[Route("/health", health)]))


def test_healthy_probes_behind_a_dead_router_are_not_a_verified_rollback(plan, sqlite_store):
    with _health_server() as server:
        result = emergency_rollback(
            _healthy_plan(plan, server.url + "/health"), sqlite_store, reason="drill", actor="t",
            router=DeadRouter(), deployer=Deployer(), notifier=False,
        )  # fmt: skip
    assert result.ok is False and result.ttr_seconds is None
    assert "NOT verified after" in result.message and "curl -fsS -X PUT" in result.message
    assert not result.stage("verify").ok  # no ✓ for probes that prove nothing
    row = sqlite_store.rollbacks()[-1]
    assert row["verified_at"] is None and row["ttr_seconds"] is None and row["ok"] is False
    assert ttr_words(row).startswith("not verified after ")


def test_showing_an_unverified_rollback_never_crashes(plan, sqlite_store):
    now = utcnow()
    rid = sqlite_store.start_rollback(trigger="manual", reason="x", actor="t", target_version="v2.9.0", started_at=now)
    sqlite_store.update_rollback(rid, finished_at=now + dt.timedelta(seconds=82.77), ok=False)
    assert format_duration(math.inf) == "never" and format_duration(-3) == "-3s"
    assert format_measure("rollback_ttr", math.inf) == "not verified"
    results = {r.id: r for r in evaluate(plan, sqlite_store).results}
    rollback = results["rollback-time"]
    assert rollback.passed is False and rollback.shown_value == "not verified"
    assert "not verified after 83 s" in rollback.note
    from launch_control.review.report import render_report

    html = render_report(plan, sqlite_store)
    assert "not verified after 83 s" in html
