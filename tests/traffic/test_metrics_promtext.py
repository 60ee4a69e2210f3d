"""The Prometheus text parser and the delta / quantile arithmetic behind the gateway metric source."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from launch_control.plane.metrics.promtext import (
    PromTextError,
    Scrape,
    counter_deltas,
    histogram_deltas,
    histogram_quantile,
    histogram_sum_delta,
    parse,
)

TEXT = r"""# HELP launch_gateway_requests_total Proxied requests
# TYPE launch_gateway_requests_total counter
launch_gateway_requests_total{version="stable",route="/api/run/*",status="200"} 95.0
launch_gateway_requests_total{status="500",version="canary",route="/api/run/*"} 3 1712345678000
launch_gateway_requests_total{version="canary", route="/x\"y\\z\nw", status="200",} 2e1
launch_gateway_canary_weight 5
odd_values{kind="nan"} NaN
odd_values{kind="inf"} +Inf
odd_values{kind="-inf"} -Inf
"""


def test_parse_labels_escapes_timestamps_and_special_values():
    samples = parse(TEXT)
    assert len(samples) == 7
    by_status = {(s.label("version"), s.label("status")): s.value for s in samples if s.name.endswith("_total")}
    assert by_status == {("stable", "200"): 95.0, ("canary", "500"): 3.0, ("canary", "200"): 20.0}
    assert samples[2].label("route") == '/x"y\\z\nw'
    assert samples[3].labels == () and samples[3].value == 5.0
    assert math.isnan(samples[4].value)
    assert samples[5].value == math.inf and samples[6].value == -math.inf
    scrape = Scrape(samples)
    assert scrape.value("launch_gateway_requests_total", version="canary") == 23.0
    assert scrape.value("launch_gateway_requests_total", version="nobody") is None


@pytest.mark.parametrize(
    "line, fragment",
    [
        ('m{a="1" 2', "expected , or }"),
        ("m{a=1} 2", 'expected ="'),
        ('m{a="1"}', "expected a value"),
        ("m 1 2 3", "expected a value"),
        ("m one", "bad value"),
        ('m{a="unterminated} 1', "unterminated"),
        ("9m 1", "expected a metric name"),
    ],
)
def test_parse_refuses_malformed_lines_with_line_number(line, fragment):
    with pytest.raises(PromTextError, match=fragment) as info:
        parse("ok 1\n" + line)
    assert "line 2" in str(info.value)


def test_parse_agrees_with_prometheus_client_on_real_exposition():
    registry = CollectorRegistry()
    counter = Counter("reqs", "r", ["version", "status"], registry=registry)
    histogram = Histogram("dur_seconds", "d", ["version"], buckets=(0.01, 0.1, 1.0), registry=registry)
    counter.labels("stable", "200").inc(7)
    counter.labels("canary", "503").inc(2)
    for value in (0.005, 0.05, 0.5, 5.0):
        histogram.labels("canary").observe(value)
    text = generate_latest(registry).decode()
    ours = {(s.name, s.labels): s.value for s in parse(text)}
    theirs = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert ours == theirs


def test_counter_deltas_handle_new_series_and_resets():
    before = {(("v", "a"),): 10.0, (("v", "b"),): 50.0}
    now = {(("v", "a"),): 15.0, (("v", "b"),): 4.0, (("v", "c"),): 3.0}
    # a: +5; b restarted at 0 and reached 4; c is new since the last scrape
    assert counter_deltas(now, before) == {(("v", "a"),): 5.0, (("v", "b"),): 4.0, (("v", "c"),): 3.0}
    assert counter_deltas(now, None) == now


def _histogram_text(buckets: dict[str, float], count: float, total: float, version: str = "canary") -> str:
    lines = [f'h_bucket{{version="{version}",le="{le}"}} {n}' for le, n in buckets.items()]
    lines += [f'h_count{{version="{version}"}} {count}', f'h_sum{{version="{version}"}} {total}']
    return "\n".join(lines)


def test_histogram_deltas_sum_series_and_detect_resets():
    before = Scrape.from_text(_histogram_text({"0.1": 10, "1.0": 20, "+Inf": 22}, 22, 9.0))
    now = Scrape.from_text(_histogram_text({"0.1": 15, "1.0": 30, "+Inf": 35}, 35, 15.0))
    assert histogram_deltas(now, before, "h", version="canary") == [(0.1, 5.0), (1.0, 10.0), (math.inf, 13.0)]
    restarted = Scrape.from_text(_histogram_text({"0.1": 1, "1.0": 2, "+Inf": 2}, 2, 0.4))
    assert histogram_deltas(restarted, now, "h", version="canary") == [(0.1, 1.0), (1.0, 2.0), (math.inf, 2.0)]
    assert histogram_deltas(now, before, "h", version="stable") == []
    assert histogram_sum_delta(now, before, "h", version="canary") == pytest.approx(6.0)
    # count fell (a restart) though the new sum is larger than the old one: still a reset
    bigger = Scrape.from_text(_histogram_text({"0.1": 0, "1.0": 0, "+Inf": 3}, 3, 20.0))
    assert histogram_sum_delta(bigger, now, "h", version="canary") == 20.0


def test_histogram_quantile_matches_promql_rules():
    buckets = [(0.1, 10.0), (0.2, 20.0), (math.inf, 20.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)  # rank 10 closes the first bucket
    assert histogram_quantile(0.75, buckets) == pytest.approx(0.15)  # halfway into (0.1, 0.2]
    assert histogram_quantile(0.25, buckets) == pytest.approx(0.05)  # lowest bucket starts at 0
    # a rank in the +Inf bucket answers the highest finite bound
    assert histogram_quantile(0.99, [(0.1, 10.0), (math.inf, 20.0)]) == pytest.approx(0.1)
    assert histogram_quantile(0.5, [(0.1, 0.0), (math.inf, 0.0)]) is None  # no observations: NaN in PromQL
    assert histogram_quantile(0.5, [(0.1, 1.0)]) is None  # no +Inf bucket: not a histogram
    # non-monotonic cumulative counts are repaired as PromQL does
    assert histogram_quantile(0.5, [(0.1, 4.0), (0.2, 3.0), (0.4, 8.0), (math.inf, 8.0)]) == pytest.approx(0.1)
