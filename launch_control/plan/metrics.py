"""The metric catalogue: every metric a launch measures — its kind, unit, which way is worse, the
words people read, whether a plan may set SEV limits on it, and the Prometheus query that
measures it from the gateway's exposition.

One table, because the plan (which names a plan file may put limits on), the observations (which
samples are stored), the gate's analysis and its wording, post-launch monitoring, the backtest
and the metric sources (gateway, probe, Prometheus) must agree on what a metric is; before, each
restated its own list. Pure data and formatting: stdlib only, so any room (and the emergency
path) may import it.

Kinds:
  count    whole requests in an interval (summed when intervals are pooled)
  rate     derived from the counts, never measured on its own: error_rate (errors / requests, a
           fraction) and request_rate (requests per second)
  latency  seconds per request (pooled weighted by requests; quantiles from the histogram)
  share    a reading as a fraction: CPU, memory, availability (pooled: the latest reading)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Kind = Literal["count", "rate", "latency", "share"]

# The gateway's Prometheus series (launch_control.plane.gateway.metrics writes them; the gateway
# and prometheus metric sources read them).
REQUESTS_TOTAL = "launch_gateway_requests_total"
DURATION = "launch_gateway_request_duration_seconds"

_V = 'version="{version}"'
_BUCKETS = f"sum by (le) (rate({DURATION}_bucket{{{_V}}}[{{interval}}]))"


@dataclass(frozen=True)
class Metric:
    name: str
    kind: Kind
    unit: str  # "requests", "requests/s", "fraction" (written 5% in a plan) or "seconds"
    words: str  # how a sentence for people names it
    worse: Literal["above", "below"] | None = None  # which way is bad (None: neither)
    gate: bool = False  # a plan may set SEV limits on it (analysis.metrics)
    quantile: float | None = None  # latency quantiles: which one
    # How many requests a quantile needs before comparing it with stable's means something: ~5 above it.
    quantile_min_requests: int | None = None
    promql: str | None = None  # default query of the prometheus source ({version}, {interval} filled in)


# In the order samples are written and listed.
CATALOGUE: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("requests", "count", "requests", "requests",
               promql=f"sum(increase({REQUESTS_TOTAL}{{{_V}}}[{{interval}}]))"),
        Metric("errors", "count", "requests", "errors", worse="above",
               promql=f'sum(increase({REQUESTS_TOTAL}{{{_V},status=~"5.."}}[{{interval}}]))'),
        Metric("request_rate", "rate", "requests/s", "request rate"),
        Metric("error_rate", "rate", "fraction", "error rate", worse="above", gate=True),
        Metric("rate_limited", "count", "requests", "rate-limited requests",
               promql=f'sum(increase({REQUESTS_TOTAL}{{{_V},status="429"}}[{{interval}}]))'),
        Metric("latency_avg", "latency", "seconds", "average latency", worse="above", gate=True,
               promql=f"sum(rate({DURATION}_sum{{{_V}}}[{{interval}}]))"
               f" / sum(rate({DURATION}_count{{{_V}}}[{{interval}}]))"),
        Metric("latency_p50", "latency", "seconds", "p50 latency", worse="above", gate=True, quantile=0.5,
               quantile_min_requests=10, promql=f"histogram_quantile(0.5, {_BUCKETS})"),
        Metric("latency_p95", "latency", "seconds", "p95 latency", worse="above", gate=True, quantile=0.95,
               quantile_min_requests=100, promql=f"histogram_quantile(0.95, {_BUCKETS})"),
        Metric("latency_p99", "latency", "seconds", "p99 latency", worse="above", gate=True, quantile=0.99,
               quantile_min_requests=500, promql=f"histogram_quantile(0.99, {_BUCKETS})"),
        Metric("cpu", "share", "fraction", "CPU", worse="above", gate=True),
        Metric("memory", "share", "fraction", "memory", worse="above", gate=True),
        Metric("availability", "share", "fraction", "availability", worse="below", gate=True),
    )
}


def _names(keep: Callable[[Metric], bool]) -> tuple[str, ...]:
    return tuple(name for name, m in CATALOGUE.items() if keep(m))


# Sample metric names written to the store (Store.record_samples) for each version.
SAMPLE_METRICS = tuple(CATALOGUE)
# The metrics a plan may set SEV limits on (analysis.metrics); any other name is refused.
GATE_METRICS = _names(lambda m: m.gate)
# Gate metrics judged per request: meaningless on a handful of requests, so they wait for min_requests.
REQUEST_METRICS = _names(lambda m: m.gate and m.kind in ("rate", "latency"))
LATENCY_METRICS = _names(lambda m: m.kind == "latency")
QUANTILES = {name: m.quantile for name, m in CATALOGUE.items() if m.quantile is not None}
COUNTS = _names(lambda m: m.kind == "count")
SHARES = _names(lambda m: m.kind == "share")
# What a metric source fills in a VersionWindow (rates are derived from the counts).
WINDOW_METRICS = _names(lambda m: m.kind != "rate")
# The two numbers a one-line health summary shows (the gate's pass reason, monitoring's status check).
HEADLINE = ("error_rate", "latency_p95")
DEFAULT_QUERIES = {name: m.promql for name, m in CATALOGUE.items() if m.promql}


def is_fraction(metric: str) -> bool:
    """A metric whose values are fractions (shown as percentages)."""
    return metric in CATALOGUE and CATALOGUE[metric].unit == "fraction"


def metric_words(metric: str) -> str:
    return CATALOGUE[metric].words if metric in CATALOGUE else metric.replace("_", " ")


def format_value(metric: str, value: float, *, precise: bool = True) -> str:
    """12.4% for ratios, 420 ms / 3.20 s for durations; limits (precise=False) drop noise: 10%, 3 s.

    ``"latency"`` alone (the latency sequential test's bounds) reads as a duration too."""
    if metric == "latency" or (metric in CATALOGUE and CATALOGUE[metric].kind == "latency"):
        if value < 0.01 and precise:  # a fast service's 1.2 ms and 1.8 ms must not both read "1 ms"
            return f"{value * 1000:.1f} ms"
        if value < 1:
            return f"{value * 1000:.0f} ms"
        return f"{value:.2f} s" if precise else f"{value:g} s"
    return f"{value * 100:.1f}%" if precise else f"{value * 100:g}%"
