"""The post-launch flow under a real (ephemeral) Prefect engine: a run with the metric source down
records a blind run and opens the SEV-3 "monitoring is blind" incident; a status check marks its
timeline entry. Slow: Prefect's temporary server costs 15–35 s on a busy machine."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.slow
@pytest.mark.prefect
def test_flows_run_under_prefect(plan, tmp_path, monkeypatch):
    from launch_control.flows.post_launch import post_launch_monitoring, status_check
    from prefect.testing.utilities import prefect_test_harness

    from launch_control.store.db import Store
    from launch_control.web.servers import free_port

    # a metric source that is down (nothing listens on this port)
    dead = f"http://127.0.0.1:{free_port()}"
    path = tmp_path / "plan.yaml"
    text = Path(plan.source).read_text().replace("http://127.0.0.1:8080/metrics", dead + "/metrics")
    text = text.replace("templates: templates", f"templates: {plan.resolve('templates')}")
    path.write_text(text)
    with prefect_test_harness(server_startup_timeout=60):
        skipped = post_launch_monitoring(phase="extended", plan_path=str(path))
        assert "has not begun" in skipped["skipped"]
        result = post_launch_monitoring(phase="intensive", plan_path=str(path))
        assert result["phase"] == "intensive" and result["verdict"] == "blind"
        checked = status_check(entry_id="status-1600", plan_path=str(path))
        assert checked["verdict"] == "blind" and checked["active_incidents"] == 1
    store = Store(launch_id=plan.launch_id)
    (incident,) = store.incidents()
    assert incident["cause"] == "post-launch:metric-source" and incident["severity"] == "SEV-3"
    assert [e["status"] for e in store.timeline_events() if e["entry_id"] == "status-1600"] == ["done"]
