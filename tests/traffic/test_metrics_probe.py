"""The probe metric source: synthetic HTTP checks against the real demo service and gateway."""

from __future__ import annotations

import pytest

from launch_control.errors import UsageError
from launch_control.plane.metrics import MetricSource, build_source
from launch_control.web.servers import free_port


def test_per_version_availability_and_latency(traffic_plane):
    source = build_source(
        {
            "type": "probe",
            "urls": {
                "stable": [traffic_plane.stable_url + "/health"],
                "canary": [traffic_plane.canary_url + "/health"],
            },
            "count": 4,
        }
    )
    assert isinstance(source, MetricSource) and source.is_online()
    healthy = source.observe(10)
    assert healthy.error is None
    for window in (healthy.stable, healthy.canary):
        assert (window.requests, window.errors, window.availability) == (4, 0, 1.0)
        assert 0 < window.latency_p50 <= window.latency_p95 <= window.latency_p99 < 1.0
    traffic_plane.set_fault("canary", down=True)
    hurt = source.observe(10)
    assert hurt.stable.availability == 1.0
    assert (hurt.canary.availability, hurt.canary.errors, hurt.canary.error_rate) == (0.0, 4, 1.0)
    assert source.last_failures["canary"] == [f"{traffic_plane.canary_url}/health: HTTP 503"] * 4


def test_through_the_gateway_pinned_by_header(traffic_plane):
    """The gateway's tester override pins each version's probes; a plain list is the plane as a whole."""
    url = traffic_plane.gateway_url + "/api/status"
    pinned = build_source(
        {
            "type": "probe",
            "urls": [url],
            "headers": {"stable": {"X-Launch-Version": "stable"}, "canary": {"X-Launch-Version": "canary"}},
        }
    )
    traffic_plane.set_fault("canary", error_rate=1.0)
    obs = pinned.observe(10)
    assert obs.stable.availability == 1.0 and obs.canary.availability == 0.0
    plane = build_source({"type": "probe", "urls": [traffic_plane.gateway_url + "/health"]}).observe(10)
    assert plane.stable.availability == plane.canary.availability == 1.0


def test_unreachable_target_is_a_measurement_not_a_crash():
    url = f"http://127.0.0.1:{free_port()}/health"
    source = build_source({"type": "probe", "urls": {"canary": [url]}, "timeout": 0.5})
    obs = source.observe(10)
    assert obs.error is None and obs.stable is None
    assert obs.canary.availability == 0.0 and obs.canary.latency_p50 is None
    assert "ConnectError" in source.last_failures["canary"][0]
    assert not source.is_online()


def test_bad_settings():
    with pytest.raises(UsageError, match="no urls given"):
        build_source({"type": "probe"})
    with pytest.raises(UsageError, match=r"unknown version\(s\) \['blue'\]"):
        build_source({"type": "probe", "urls": {"blue": ["http://x"]}})
    with pytest.raises(UsageError, match="count must be at least 1"):
        build_source({"type": "probe", "urls": ["http://x"], "count": 0})
    with pytest.raises(UsageError, match="give a list of URLs"):
        build_source({"type": "probe", "urls": 5})
