"""The metric catalogue (launch_control.plan.metrics) is the one list the plan, the observations, the
gate, monitoring, the backtest and the metric sources read: these tests fail when one of them
drifts from it again."""

from __future__ import annotations

import copy
import datetime as dt
import re

import pytest

from launch_control.plan import metrics as catalogue
from launch_control.plan.model import (
    CRITERIA_MEASURES,
    METRICS,
    MetricKind,
    PlanError,
    dump_plan,
    parse_plan,
)
from launch_control.plane.gateway.metrics import MetricSlots
from launch_control.plane.metrics import prometheus
from launch_control.plane.metrics.gateway import version_window
from launch_control.plane.metrics.promtext import Scrape
from launch_control.ramp.observations import Observation, VersionWindow
from launch_control.ramp.pooling import merge
from launch_control.store.lastgood import load_plan


def test_the_plan_accepts_exactly_the_gate_metrics_and_names_them_when_refusing():
    assert tuple(METRICS) == catalogue.GATE_METRICS
    assert METRICS["latency_p95"] is MetricKind.duration and METRICS["availability"] is MetricKind.ratio
    data = dump_plan(load_plan(remember=False))
    bad = copy.deepcopy(data)
    bad["analysis"]["metrics"]["p95"] = {"sev3": "300ms"}
    with pytest.raises(PlanError) as caught:
        parse_plan(bad, strict_units=True)
    message = str(caught.value)
    assert "metrics.p95: unknown metric" in message
    assert all(name in message for name in catalogue.GATE_METRICS)


def test_the_shipped_plan_limits_each_metric_in_the_direction_the_catalogue_calls_worse():
    for name, threshold in load_plan(remember=False).analysis.metrics.items():
        assert threshold.direction == catalogue.CATALOGUE[name].worse, name


def test_criteria_units_follow_the_catalogue():
    assert CRITERIA_MEASURES["error_rate"] == "ratio" and CRITERIA_MEASURES["latency_p99"] == "duration"
    assert CRITERIA_MEASURES["availability"] == "ratio"


def test_a_full_window_is_stored_as_every_catalogue_sample():
    window = VersionWindow(requests=200, errors=4, rate_limited=1, latency_avg=0.2, latency_p50=0.1,
                           latency_p95=0.4, latency_p99=0.9, cpu=0.5, memory=0.25, availability=1.0)
    obs = Observation(at=dt.datetime(2026, 12, 3, tzinfo=dt.UTC), interval=10.0, stable=window)
    values = {row["metric"]: row["value"] for row in obs.samples()}
    assert tuple(values) == catalogue.SAMPLE_METRICS
    assert values["error_rate"] == pytest.approx(0.02) and values["request_rate"] == pytest.approx(20.0)
    # every window metric is a VersionWindow field; the rates are derived
    assert set(catalogue.WINDOW_METRICS) <= set(VersionWindow.__dataclass_fields__)
    assert not {"error_rate", "request_rate"} & set(VersionWindow.__dataclass_fields__)


def test_pooling_sums_counts_keeps_the_latest_share_and_weights_latency():
    a = VersionWindow(requests=100, errors=1, latency_avg=0.1, cpu=0.2)
    b = VersionWindow(requests=300, errors=3, latency_avg=0.3, cpu=0.6)
    pooled = merge(a, b)
    assert (pooled.requests, pooled.errors) == (400, 4)
    assert pooled.cpu == 0.6
    assert pooled.latency_avg == pytest.approx(0.25)


def test_the_gateway_series_the_catalogue_names_are_the_ones_it_exports_and_its_sources_read():
    slots = MetricSlots.private()
    for seconds in (0.05, 0.2, 0.2, 1.5):
        slots.record(1, 0, 200, seconds)
    slots.record(1, 0, 503, 0.3)
    text = slots.render(5.0).decode()
    assert f'{catalogue.REQUESTS_TOTAL}{{version="canary"' in text
    assert f'{catalogue.DURATION}_bucket{{version="canary"' in text
    window = version_window("canary", Scrape.from_text(text), None)
    assert (window.requests, window.errors) == (5, 1)
    assert window.latency_p50 is not None and window.latency_p50 <= window.latency_p95 <= window.latency_p99
    # the prometheus source's default queries read the same series, one query per measured window number
    assert prometheus.DEFAULT_QUERIES is catalogue.DEFAULT_QUERIES
    assert set(prometheus.DEFAULT_QUERIES) == set(catalogue.COUNTS) | set(catalogue.LATENCY_METRICS)
    for name, query in prometheus.DEFAULT_QUERIES.items():
        series = set(re.findall(r"launch_gateway_\w+", query))
        assert series and series <= {catalogue.REQUESTS_TOTAL, *(catalogue.DURATION + s for s in
                                                                 ("_bucket", "_sum", "_count"))}, name
        quantile = catalogue.CATALOGUE[name].quantile
        if quantile is not None:
            assert query.startswith(f"histogram_quantile({quantile:g},")


def test_words_and_values_for_people():
    assert catalogue.metric_words("latency_p95") == "p95 latency"
    assert catalogue.metric_words("cpu") == "CPU"
    assert catalogue.metric_words("queue_depth") == "queue depth"
    assert catalogue.format_value("availability", 0.995) == "99.5%"
    assert catalogue.format_value("latency", 0.0012) == "1.2 ms"
    assert catalogue.format_value("latency_avg", 2.0, precise=False) == "2 s"
