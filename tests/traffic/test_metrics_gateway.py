"""The gateway metric source against the real gateway and demo services on loopback: its numbers
must be what the client saw, interval by interval."""

from __future__ import annotations

import bisect
import math

import pytest
import traffic_client as stack_mod

from launch_control.plane.metrics import build_source
from launch_control.plane.metrics.gateway import GatewayMetrics
from launch_control.web.servers import free_port


def _router(plane):
    from launch_control.plane.traffic import build_router

    return build_router({"type": "gateway", "url": plane.gateway_url})  # token from the environment


def _client_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def _bucket_index(bounds: list[float], value: float) -> int:
    return bisect.bisect_left(bounds, value)


def test_counts_and_latencies_match_what_the_client_saw(traffic_plane):
    from launch_control.plane.gateway.app import LATENCY_BUCKETS

    _router(traffic_plane).set_weight(50)
    traffic_plane.set_fault("canary", error_rate=0.3, latency=0.012)
    source = build_source({"type": "gateway", "url": traffic_plane.gateway_url + "/metrics"})
    seen = stack_mod.send(traffic_plane, 300)
    obs = source.observe(10)

    assert obs.error is None and obs.source == "gateway"
    assert obs.interval > 0
    bounds = list(LATENCY_BUCKETS)
    for role in ("stable", "canary"):
        window = obs.window(role)
        assert window.requests == seen.requests(role) > 50
        assert window.errors == seen.errors(role)
        assert window.rate_limited == 0
        assert window.error_rate == seen.errors(role) / seen.requests(role)
        assert window.latency_buckets[-1] == (math.inf, window.requests)
        counts = [count for _, count in window.latency_buckets]
        assert counts == sorted(counts)
        # The gateway times a subset of what the client timed, so its quantile never lies in a
        # bucket above the client's. (Below it by any amount is possible: on a loaded machine the
        # client's own scheduling delay can push its timings several buckets up.)
        for q, measured in ((0.5, window.latency_p50), (0.95, window.latency_p95), (0.99, window.latency_p99)):
            client = _client_quantile(seen.latencies[role], q)
            assert _bucket_index(bounds, measured) <= _bucket_index(bounds, client)
        client_avg = sum(seen.latencies[role]) / len(seen.latencies[role])
        assert client_avg - 0.01 < window.latency_avg <= client_avg
    # fault injection shows up in the canary's error rate, and only there
    assert obs.stable.errors == 0
    assert 0.15 < obs.canary.error_rate < 0.45
    # the added 12 ms lands every canary request in the (10 ms, 25 ms] bucket
    assert obs.canary.latency_p50 > 0.01 > obs.stable.latency_p50

    # the next interval counts only the next requests
    traffic_plane.set_fault("canary", error_rate=1.0, latency=0.0)
    more = stack_mod.send(traffic_plane, 120, start=300)
    nxt = source.observe(10)
    for role in ("stable", "canary"):
        assert nxt.window(role).requests == more.requests(role)
        assert nxt.window(role).errors == more.errors(role)
    assert nxt.canary.error_rate == 1.0 and nxt.stable.error_rate == 0.0
    rows = {(r["version"], r["metric"]): r["value"] for r in nxt.samples()}
    assert rows[("canary", "error_rate")] == 1.0
    assert rows[("canary", "request_rate")] == pytest.approx(more.requests("canary") / nxt.interval)


def test_no_data_is_distinct_from_zero_errors(traffic_plane):
    source = build_source({"type": "gateway", "url": traffic_plane.gateway_url})  # base URL: /metrics is appended
    stack_mod.send(traffic_plane, 40)  # weight 0: all to stable
    obs = source.observe(10)
    assert obs.error is None
    assert obs.stable.requests == 40 and obs.stable.errors == 0 and obs.stable.error_rate == 0.0
    assert obs.canary.requests == 0
    assert obs.canary.error_rate is None and obs.canary.latency_p95 is None and obs.canary.latency_avg is None
    canary_rows = {r["metric"]: r["value"] for r in obs.samples() if r["version"] == "canary"}
    assert canary_rows == {"requests": 0.0, "errors": 0.0, "request_rate": 0.0, "rate_limited": 0.0}
    quiet = source.observe(10)
    assert quiet.error is None and quiet.stable.requests == 0 and quiet.stable.error_rate is None


def test_upstream_down_counts_as_that_versions_errors_once(traffic_plane):
    _router(traffic_plane).set_weight(100)
    source = GatewayMetrics(traffic_plane.gateway_url)
    traffic_plane.servers["canary"].stop()
    seen = stack_mod.send(traffic_plane, 20)
    obs = source.observe(10)
    assert seen.statuses["canary"].keys() == {502}
    assert obs.canary.requests == 20 and obs.canary.errors == 20  # 502 answers, not 502 + upstream error
    assert obs.canary.latency_p50 is not None


def test_source_down_and_counter_reset_after_restart(traffic_plane):
    source = GatewayMetrics(traffic_plane.gateway_url)
    stack_mod.send(traffic_plane, 30)
    assert source.observe(10).stable.requests == 30
    port = traffic_plane.servers["gateway"].port
    traffic_plane.servers["gateway"].stop()
    down = source.observe(10)
    assert down.error.startswith("metric source down:") and str(port) in down.error
    assert down.stable is None and down.canary is None
    assert not source.is_online()
    stack_mod.restart_gateway(traffic_plane)  # same port; every counter starts again from zero
    assert traffic_plane.servers["gateway"].port == port
    assert source.is_online()
    stack_mod.send(traffic_plane, 7)
    assert source.observe(10).stable.requests == 7


def test_unreachable_at_build_gives_an_error_observation_not_an_exception():
    source = GatewayMetrics(f"http://127.0.0.1:{free_port()}/metrics", timeout=0.5)
    obs = source.observe(10)
    assert obs.error.startswith("metric source down:") and "unreachable" in obs.error


def test_cpu_memory_and_availability(traffic_plane):
    source = build_source(
        {
            "type": "gateway",
            "url": traffic_plane.gateway_url,
            "upstreams": {"stable": traffic_plane.stable_url, "canary": traffic_plane.canary_url},
            "probes": {
                "stable": [traffic_plane.stable_url + "/health"],
                "canary": [traffic_plane.canary_url + "/health"],
            },
        }
    )
    traffic_plane.set_fault("canary", down=True)
    stack_mod.send(traffic_plane, 50)
    obs = source.observe(10)
    for role in ("stable", "canary"):
        window = obs.window(role)
        assert window.cpu is not None and 0.0 <= window.cpu < 4.0  # fraction of one core
        assert window.memory is not None and 0.0 < window.memory < 1.0
    assert obs.stable.availability == 1.0 and obs.canary.availability == 0.0


def test_bad_settings_are_refused():
    from launch_control.errors import UsageError

    with pytest.raises(UsageError, match="unknown setting"):
        build_source({"type": "gateway", "urll": "x"})
    with pytest.raises(UsageError, match="upstreams"):
        build_source({"type": "gateway", "url": "http://127.0.0.1:1", "upstreams": {"blue": "x"}})
