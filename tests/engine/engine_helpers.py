"""Helpers for the engine tests: fakes of Launch Control's own protocols (clock, gate, metric
source), plans rewritten for a test, and a tiny health server on loopback."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from launch_control.plan.model import Plan, dump_plan, parse_plan
from launch_control.ramp.observations import Observation, VersionWindow


class FakeClock:
    """Sleeping advances time at once; ``on_sleep`` lets a test act "while" the engine waits."""

    def __init__(self) -> None:
        self.t = 0.0
        self.on_sleep: Callable[[float], None] | None = None

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)
        if self.on_sleep:
            self.on_sleep(self.t)


@dataclass
class Verdict:
    outcome: str
    reason: str
    severity: str | None = None
    rollback: bool = False
    promote: bool = False
    details: dict[str, Any] = field(default_factory=dict)


class ScriptedGate:
    """Judges by a function of (call number, observation); counts resets."""

    def __init__(self, judge: Callable[[int, Observation], Verdict] | None = None):
        self.calls = 0
        self.resets = 0
        self._judge = judge or (lambda _n, _obs: Verdict("pass", "all metrics within limits"))

    def judge(self, obs: Observation) -> Verdict:
        self.calls += 1
        return self._judge(self.calls, obs)

    def reset(self) -> None:
        self.resets += 1


class ScriptedSource:
    """Observations with ``canary_errors(call)`` errors out of 100 canary requests."""

    name = "scripted"

    def __init__(self, canary_errors: Callable[[int], int] = lambda _n: 0, down: bool = False):
        self.calls = 0
        self.canary_errors = canary_errors
        self.down = down

    def observe(self, interval: float) -> Observation:
        self.calls += 1
        now = dt.datetime.now(dt.UTC)
        if self.down:
            return Observation(at=now, interval=interval, error="metric source down: connection refused")
        return Observation(
            at=now,
            interval=interval,
            stable=VersionWindow(requests=1000, errors=2, latency_avg=0.05),
            canary=VersionWindow(requests=100, errors=self.canary_errors(self.calls), latency_avg=0.05),
        )

    def is_online(self) -> bool:
        return not self.down


def plan_with(plan: Plan, **changes: Any) -> Plan:
    """The plan with sections replaced, e.g. ``rollback={...}``; validated like a real plan."""
    data = dump_plan(plan)
    for key, value in changes.items():
        section, _, sub = key.partition("__")
        if sub:
            data[section] = {**data.get(section, {}), sub: value}
        else:
            data[section] = value
    return parse_plan(data, "<test plan>")


def health_app(state: dict[str, Any]):
    """A loopback health endpoint whose answer the test controls (``state["status"]``)."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def health(_request: Any) -> JSONResponse:
        state["hits"] = state.get("hits", 0) + 1
        return JSONResponse({"status": "ok", "version": "v2.9.0"}, status_code=state.get("status", 200))

    return Starlette(routes=[Route("/health", health)])


def stack_plan(
    base: Plan,
    stack: Any,
    *,
    interval: str = "1s",
    holds: tuple[str, ...] = ("2s", "2s", "2s"),
    min_requests: int = 2,
    ttr_budget: str = "15s",
    dead_url: str | None = None,
) -> Plan:
    """The plan pointed at a running DemoStack: gateway router, deployer and metric source, the
    gateway's /health as the rollback's health check, short holds for a compressed ramp."""
    data = dump_plan(base)
    gateway, token = stack.gateway_url, stack.admin_token
    weights = [s["weight"] for s in data["canary"]["steps"]]
    steps = [{"weight": w, "hold": h} for w, h in zip(weights, holds, strict=False)] + [{"weight": weights[-1]}]
    data["canary"] = {**data["canary"], "steps": steps}
    data["analysis"].update(
        interval=interval,
        min_requests=min_requests,
        metric_source={"type": "gateway", "url": dead_url or gateway + "/metrics"},
        probes=[gateway + "/health"],
    )
    data["rollback"].update(
        ttr_budget=ttr_budget,
        router={"type": "gateway", "url": gateway, "token": token},
        deployer={"type": "gateway", "url": gateway, "token": token},
        health_checks=[{"name": "gateway-health", "url": gateway + "/health", "expect_status": 200}],
    )
    data["smoke_tests"]["base_url"] = gateway
    for section in data["checklist"].values():
        for item in section:
            check = item.get("check") or {}
            if check.get("url"):
                check["url"] = check["url"].replace("http://127.0.0.1:8080", gateway)
    for key in ("runbook", "templates"):  # absolute, so the plan can be written anywhere
        if data.get(key):
            data[key] = str(base.resolve(data[key]))
    return parse_plan(data, base.source or "<test plan>")


def dead_notifiers(base: Plan, dead_url: str) -> Plan:
    """Every notification channel a webhook to a closed port: every send fails."""
    data = dump_plan(base)
    data["notifications"]["channels"] = [
        {"name": c.name, "type": "webhook", "url": dead_url} for c in base.notifications.channels
    ]
    return parse_plan(data, base.source or "<test plan>")
