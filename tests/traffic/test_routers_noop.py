"""The noop router (dry run) and the router / metric-source registries."""

from __future__ import annotations

import pytest

from launch_control.errors import UnknownAdapterError, UsageError
from launch_control.plane.metrics import MetricSource, build_source
from launch_control.plane.traffic import ROUTERS, TrafficRouter, build_router


def test_noop_records_calls_and_returns_the_last_weight():
    router = build_router({"type": "noop", "initial": 1})
    assert isinstance(router, TrafficRouter)
    assert router.get_weight() == 1.0
    router.set_weight(5)
    router.set_weight(5)
    router.set_weight(25.5)
    assert router.get_weight() == 25.5
    assert router.weights_set() == [5.0, 5.0, 25.5]
    assert [c.method for c in router.calls] == ["get_weight", "set_weight", "set_weight", "set_weight", "get_weight"]
    assert router.healthy()
    assert not build_router({"type": "noop", "healthy": False}).healthy()
    with pytest.raises(UsageError, match="between 0 and 100"):
        router.set_weight(101)
    assert router.get_weight() == 25.5


def test_noop_audits_to_the_store(store):
    router = build_router({"type": "noop"}, store=store, actor="tester")
    router.set_weight(5)
    router.set_weight(0)
    events = store.events(action="router.noop.set_weight")
    assert [(e["actor"], e["details"]["canary"], e["details"]["previous"]) for e in events] == [
        ("tester", 0.0, 5.0),
        ("tester", 5.0, 0.0),
    ]
    assert all(e["details"]["dry_run"] for e in events)


def test_the_plans_router_and_source_build(plan, monkeypatch):
    monkeypatch.setenv("LAUNCH_CONTROL_ADMIN_TOKEN", "t")
    router = build_router(plan.rollback.router)
    assert router.name == "gateway" and router.url == "http://127.0.0.1:8080"
    source = build_source(plan.analysis.metric_source)
    assert isinstance(source, MetricSource) and source.url == "http://127.0.0.1:8080/metrics"


def test_unknown_types_are_refused_with_the_known_ones():
    known = r"known types: gateway, haproxy, nginx"
    with pytest.raises(UnknownAdapterError, match=r"unknown traffic router type 'istio'; " + known):
        build_router({"type": "istio"})
    with pytest.raises(UnknownAdapterError, match=r"unknown metric source type 'datadog'; known types: gateway"):
        build_source({"type": "datadog"})
    with pytest.raises(UsageError, match="no 'type' given"):
        build_router({"url": "x"})
    with pytest.raises(UsageError, match="noop router: unknown setting"):
        build_router({"type": "noop", "weight": 3})
    assert ROUTERS.names() == ["gateway", "haproxy", "nginx", "noop", "vercel"]
