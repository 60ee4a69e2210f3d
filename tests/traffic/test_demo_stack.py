"""DemoStack: the plane as child processes — faults, load, and a clean stop."""

from __future__ import annotations

import httpx
import pytest

from launch_control.errors import UsageError
from launch_control.plane.demo.stack import DemoStack, StackError
from launch_control.web.servers import port_open


def test_stack_runs_faults_and_load_and_stops_clean(plan):
    stack = DemoStack(plan, free_ports=True, canary_weight=50)
    with stack:
        pids = {name: process.pid for name, process in stack.processes.items()}
        assert set(pids) == {"model", "stable", "canary", "gateway"}
        assert httpx.get(stack.canary_url + "/health").json() == {"status": "ok", "version": "v3.0.0"}
        assert httpx.get(stack.stable_url + "/health").json()["version"] == "v2.9.0"
        headers = {"X-Org-Id": "acme"}
        live = httpx.post(stack.gateway_url + "/api/gpt-test", json={"prompt": "hi"}, headers=headers)
        assert live.json()["mode"] == "live"  # services reach the stand-in model
        # the plan's protection is on: per-org rate-limit headers, and no org is a 400, not a shared bucket
        assert "RateLimit-Policy" in live.headers
        anonymous = httpx.post(stack.gateway_url + "/api/gpt-test", json={"prompt": "hi"})
        assert anonymous.status_code == 400 and "org" in anonymous.text.lower()

        assert stack.set_fault("canary", error_rate=1.0)["error_rate"] == 1.0
        with pytest.raises(UsageError, match="error_rate"):
            stack.set_fault("canary", error_rate=7)
        with pytest.raises(UsageError, match="faults can be set on"):
            stack.set_fault("gateway", down=True)
        load = stack.start_load(200, orgs=100, count=200)
        summary = load.wait(timeout=30)
        assert summary is not None and summary["requests"] == 200
        canary = summary["versions"]["canary"]
        assert canary["statuses"] == {"500": canary["requests"]} and canary["requests"] > 50
        assert summary["versions"]["stable"]["errors"] == 0
        assert stack.set_fault("canary", clear=True)["error_rate"] == 0.0
        assert stack.faults("canary")["error_rate"] == 0.0
        ports = list(stack.ports.values())
    assert not any(port_open("127.0.0.1", port) for port in ports)
    assert stack.processes == {}


def test_stack_reports_a_part_that_cannot_start(plan):
    stack = DemoStack(plan, free_ports=True, start_timeout=10)
    stack.stable_version = "--bad"  # argparse refuses it: the child exits at once
    with pytest.raises(StackError, match="stable exited"):
        stack.start()
    assert stack.processes == {}
    assert not any(port_open("127.0.0.1", port) for port in stack.ports.values())
