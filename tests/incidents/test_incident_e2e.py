"""End to end on the demo stack: inject a fault on the canary → post-launch monitoring opens a
SEV-1 incident → the immediate rollback runs (real gateway, TTR recorded) → a loopback webhook
receiver (Slack, pager, status webhook) and a local SMTP server receive the rendered messages →
acknowledge → resolve (all-clear) → the review report shows the incident, its response times and
the rollback TTR."""

from __future__ import annotations

import re
import time

import httpx
from incident_helpers import plan_with

from launch_control.respond import monitoring
from launch_control.respond.incidents import production_manager
from launch_control.respond.notify import Notifier, RetryPolicy
from launch_control.review.report import render_report


def stack_plan(plan, gateway: str):
    rollback = plan.rollback.model_dump(mode="json")
    rollback["router"] = {**rollback["router"], "url": gateway}
    rollback["deployer"] = {**rollback["deployer"], "url": gateway}
    rollback["health_checks"] = [{"name": "gateway-health", "url": gateway + "/health"}]
    analysis = plan.analysis.model_dump(mode="json")
    analysis["metric_source"] = {"type": "gateway", "url": gateway + "/metrics"}
    analysis["probes"] = [gateway + "/health"]
    return plan_with(plan, rollback=rollback, analysis=analysis)


def drive(gateway: str, count: int) -> dict[int, int]:
    codes: dict[int, int] = {}
    with httpx.Client(base_url=gateway, timeout=10) as client:
        for i in range(count):  # one org per request: the sticky split spreads them over both versions
            r = client.get("/api/analytics", headers={"X-Org-Id": f"e2e-org-{i}"})
            codes[r.status_code] = codes.get(r.status_code, 0) + 1
    return codes


def test_fault_to_incident_to_notifications_to_report(plan, sqlite_store, wired_env, receiver, smtp):
    from launch_control.plane.demo.stack import DemoStack
    from launch_control.plane.metrics import build_source

    with DemoStack(plan, free_ports=True, canary_weight=50) as stack:
        p = stack_plan(plan, stack.gateway_url)
        notifier = Notifier(p, sqlite_store, retry=RetryPolicy(3, 0.05, 0.2, 3.0))
        manager = production_manager(p, sqlite_store, notifier=notifier, actor="monitoring")
        source = build_source(p.analysis.metric_source, probes=p.analysis.probes)

        stack.set_fault("canary", error_rate=0.6)
        codes = drive(stack.gateway_url, 160)
        assert codes.get(500, 0) >= 20, codes  # the fault is live on the canary's share

        run = monitoring.run_once(p, sqlite_store, source=source, manager=manager)
        breach = next(b for b in run.breaches if b.metric == "error_rate")
        assert (breach.role, breach.severity) == ("canary", "SEV-1"), run.to_dict()
        (incident,) = [i for i in sqlite_store.incidents() if i["cause"] == "post-launch:error_rate"]
        assert incident["severity"] == "SEV-1" and incident["status"] == "open"

        # SEV-1 policy: immediate rollback through the real gateway, verified, TTR recorded
        (rollback,) = sqlite_store.rollbacks()
        assert rollback["ok"] and rollback["trigger"] == "incident" and rollback["ttr_seconds"] < p.rollback.ttr_budget
        assert f"incident #{incident['id']}" in rollback["reason"]
        from launch_control.plane.traffic import build_router

        assert build_router(p.rollback.router).get_weight() == 0  # all traffic back on stable
        assert sqlite_store.incident(incident["id"])["details"]["rollback"]["ttr_seconds"] == rollback["ttr_seconds"]

        # the rendered messages reached every channel of the SEV-1 policy
        opened = receiver.wait_for("/slack", 1)[0].json()
        assert opened["blocks"][0]["text"]["text"].startswith("[SEV-1] PromptForge v3.0.0 — error_rate")
        assert "immediate rollback to v2.9.0" in opened["text"]
        assert receiver.wait_for("/pager", 1)[0].json()["kind"] == "incident.open"
        assert receiver.wait_for("/status", 1)[0].json()["subject"] == "Investigating: PromptForge outage"
        rcpts, mail = smtp.wait_for(1)[0]
        assert rcpts == ["enterprise-customers@promptforge.example"]
        assert mail["Subject"].startswith("PromptForge service notice: SEV-1")

        time.sleep(0.2)  # a measurable time to acknowledge
        manager.acknowledge(incident["id"], "priya")
        manager.resolve(incident["id"], "priya", "rolled back to v2.9.0; canary fault cleared")
        stack.set_fault("canary", clear=True)
        assert notifier.flush(15)

        slack_texts = [r.json()["text"] for r in receiver.at("/slack")]
        assert any("acknowledged by priya" in t for t in slack_texts)
        assert any(t.startswith("✅ All clear") and "canary fault cleared" in t for t in slack_texts)
        assert any("rolled back" in t.lower() for t in slack_texts)  # the rollback's own notice
        assert smtp.wait_for(2)[1][1]["Subject"].startswith("[Resolved] PromptForge service notice")
        failed = [n for n in sqlite_store.notifications() if not n["ok"]]
        assert failed == [], failed

    html = render_report(p, sqlite_store)
    row = re.search(rf"<tr id='incident-{incident['id']}'>.*?</tr>", html).group(0)
    assert "SEV-1" in row and "priya" in row and row.count("✓") == 2  # acknowledged and resolved within 5 min
    assert f"{rollback['ttr_seconds']:.2f} s" in html and "within budget" in html
    assert not re.search(r"https?://", html.replace(stack.gateway_url, ""))
