"""The load generator: loopback only, bounded, paced, and a summary that matches what was sent."""

from __future__ import annotations

import json
import time

import pytest

from launch_control.errors import UsageError
from launch_control.plane.demo.loadgen import LoadSummary, check_loopback, percentile, run


@pytest.mark.parametrize("url", ["http://10.0.0.1:8080", "http://example.com", "https://8.8.8.8", "ftp://127.0.0.1"])
def test_refuses_targets_off_this_machine(url):
    with pytest.raises(UsageError):
        check_loopback(url)
    with pytest.raises(UsageError):
        run(url, rps=1, count=1)


def test_accepts_loopback_forms():
    for url in ("http://127.0.0.1:8080/", "http://localhost:1", "http://[::1]:8080", "http://127.8.9.10"):
        assert check_loopback(url) == url.rstrip("/")


def test_bounds_are_required_and_checked():
    with pytest.raises(UsageError, match="bound"):
        run("http://127.0.0.1:1", rps=1)
    with pytest.raises(UsageError, match="rps"):
        run("http://127.0.0.1:1", rps=0, count=1)


def test_percentile_is_nearest_rank():
    values = [float(i) for i in range(1, 101)]
    assert percentile(values, 50) == 50.0 and percentile(values, 99) == 99.0 and percentile(values, 100) == 100.0
    assert percentile([], 50) is None


def test_paced_mix_over_the_gateway(traffic_plane):
    traffic_plane.set_weight(10)
    started = time.perf_counter()
    summary = run(traffic_plane.gateway_url, rps=400, duration=1.0, orgs=2000, seed=11)
    elapsed = time.perf_counter() - started
    assert 380 <= summary.requests <= 401 and summary.skipped == 0
    assert 0.95 <= elapsed < 3.0  # paced over the second, not sent in a burst
    assert summary.statuses == {"200": summary.requests}
    assert set(summary.versions) == {"stable", "canary"}
    data = summary.to_dict()
    assert data["versions"]["stable"]["p50_ms"] <= data["versions"]["stable"]["p99_ms"]
    assert json.loads(json.dumps(data)) == data  # plain data
    # the mix reached every endpoint (counted by the gateway per route template)
    metrics = traffic_plane.metrics()
    for route in ("/api/gpt-test", "/api/run/*", "/api/analytics", "/api/status"):
        assert f'route="{route}"' in metrics


def test_connection_failures_are_counted_not_raised():
    from launch_control.web.servers import free_port

    summary = run(f"http://127.0.0.1:{free_port()}", rps=200, count=20, orgs=5)
    assert summary.statuses == {"error": 20}
    assert summary.to_dict()["versions"]["error"]["errors"] == 20
    assert isinstance(summary, LoadSummary) and summary.orgs_on_both == []


def test_cli_refuses_a_remote_target(cli):
    result = cli("loadgen", "http://192.0.2.1:80", "--count", "1")
    assert result.returncode == 2 and "loopback" in result.stderr and "Traceback" not in result.stderr


def test_cli_runs_and_prints_json(cli, traffic_plane):
    result = cli("loadgen", traffic_plane.gateway_url, "--rps", "200", "--count", "40", "--orgs", "10", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["requests"] == 40 and data["statuses"] == {"200": 40} and 1 < data["orgs"] <= 10
