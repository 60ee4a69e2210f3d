"""CPU and memory are measured: the shipped plan's and the demo's gateway metric source scrape each
version's own /metrics (``upstreams``), so the cpu/memory limits are judged and the charts have data."""

from __future__ import annotations

import types


def test_shipped_plan_scrapes_both_versions(plan):
    from launch_control.config import PORTS

    assert plan.analysis.metric_source.upstreams == {"stable": f"http://127.0.0.1:{PORTS['stable']}/metrics",
                         "canary": f"http://127.0.0.1:{PORTS['canary']}/metrics"}
    assert plan.analysis.metrics["cpu"].sev3 == 0.8 and plan.analysis.metrics["memory"].sev3 == 0.85


def test_demo_plan_points_upstreams_at_the_running_services(plan, tmp_path):
    from launch_control.commands.demo import demo_plan
    from launch_control.plane.metrics import build_source

    stack = types.SimpleNamespace(gateway_url="http://127.0.0.1:18080", admin_token="t",
                                  stable_url="http://127.0.0.1:18101", canary_url="http://127.0.0.1:18102")
    demo, _path = demo_plan(plan, stack, tmp_path)
    source = build_source(demo.analysis.metric_source)
    try:
        assert source.upstreams == {"stable": "http://127.0.0.1:18101/metrics",
                                    "canary": "http://127.0.0.1:18102/metrics"}
    finally:
        source.close()
