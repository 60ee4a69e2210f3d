"""The ``prometheus`` metric source: PromQL instant queries over Prometheus' HTTP API.

Settings:
  url       Prometheus' base URL (e.g. http://127.0.0.1:9090)
  queries   optional ``{metric: PromQL}`` overriding or adding to ``DEFAULT_QUERIES``; metrics are
            VersionWindow fields (requests, errors, rate_limited, latency_avg, latency_p50/p95/p99,
            cpu, memory, availability). ``{version}`` becomes the role (stable / canary) and
            ``{interval}`` the range (``"10s"``); other braces are PromQL's own. ``null`` drops a
            default query.
  timeout   seconds per query (default 5)
  headers   optional extra HTTP headers (e.g. Authorization for a proxy in front of Prometheus)

Every query must answer one number: a scalar or a one-element vector (aggregate with ``sum``).
An empty vector ("no values") or NaN means "not measured"; an empty ``requests`` result means no
traffic — a window with ``requests == 0``, never a silent zero error rate. Prometheus down, an
HTTP error or an ``"status": "error"`` answer gives ``Observation(error=...)``.

``increase()`` extrapolates to the range edges, so counts from Prometheus are estimates (rounded
to whole requests); the ``gateway`` source computes exact deltas when you need exact numbers.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from launch_control.errors import MetricSourceError, UsageError
from launch_control.plan.metrics import COUNTS, DEFAULT_QUERIES, WINDOW_METRICS
from launch_control.plan.settings_types import HttpUrl, Seconds, SettingsModel, validate_settings
from launch_control.plan.units import parse_duration
from launch_control.plane.metrics.promtext import parse_value
from launch_control.ramp.observations import ROLES, Observation, VersionWindow

DEFAULT_TIMEOUT = 5.0
# The default queries are the catalogue's (launch_control.plan.metrics), over the gateway's series.
# What a query can fill: every VersionWindow number; rates and error rate are derived from counts.
METRICS = WINDOW_METRICS


def render(query: str, version: str, interval: float) -> str:
    """Fill ``{version}`` and ``{interval}``; plain replacement so PromQL's braces need no escaping."""
    return query.replace("{version}", version).replace("{interval}", f"{max(1, round(interval))}s")


class PrometheusSource:
    name = "prometheus"

    def __init__(
        self,
        url: str,
        *,
        queries: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        self.url = url.rstrip("/")
        self.queries = dict(DEFAULT_QUERIES if queries is None else queries)
        self.client = httpx.Client(base_url=self.url, timeout=timeout, headers=dict(headers or {}), transport=transport)

    def query(self, promql: str) -> float | None:
        """One instant query → one number, or ``None`` for "no values" / NaN. Raises MetricSourceError."""
        try:
            response = self.client.get("/api/v1/query", params={"query": promql})
        except httpx.HTTPError as exc:
            raise MetricSourceError(
                f"metric source down: Prometheus at {self.url} unreachable ({type(exc).__name__}: {exc})"
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise MetricSourceError(
                f"metric source down: Prometheus at {self.url} answered HTTP {response.status_code} without a JSON body"
            )
        if body.get("status") != "success":
            raise MetricSourceError(
                f"metric source error: Prometheus refused {promql!r}: "
                f"{body.get('errorType', 'error')}: {body.get('error', 'no reason given')} "
                f"(HTTP {response.status_code})"
            )
        data = body.get("data") or {}
        result_type, result = data.get("resultType"), data.get("result")
        if result_type == "scalar":
            if not result:  # Prometheus always sends [time, value]; a proxy in between might not
                raise MetricSourceError(f"metric source error: {promql!r} returned a scalar without a value")
            value = parse_value(result[1])
        elif result_type == "vector":
            if not result:
                return None
            if len(result) > 1:
                raise MetricSourceError(
                    f"metric source error: {promql!r} returned {len(result)} series; aggregate it to one "
                    "(for example with sum(...))"
                )
            value = parse_value(result[0]["value"][1])
        else:
            raise MetricSourceError(
                f"metric source error: {promql!r} returned a {result_type}; use an instant vector or scalar query"
            )
        return None if math.isnan(value) else value

    def _window(self, role: str, interval: float) -> VersionWindow:
        values = {metric: self.query(render(q, role, interval)) for metric, q in self.queries.items() if q}
        window = VersionWindow()
        for metric, value in values.items():
            if metric in COUNTS:
                setattr(window, metric, round(value) if value is not None else 0)
            elif value is not None and not math.isinf(value):
                setattr(window, metric, value)
        if window.requests == 0:
            # No traffic: any latency Prometheus extrapolated is not a measurement of this interval.
            window.latency_avg = window.latency_p50 = window.latency_p95 = window.latency_p99 = None
        return window

    def observe(self, interval: float) -> Observation:
        at = dt.datetime.now(dt.UTC)
        try:
            windows = {role: self._window(role, interval) for role in ROLES}
        except MetricSourceError as exc:
            return Observation(at=at, interval=interval, error=str(exc), source=self.name)
        return Observation(
            at=at, interval=interval, stable=windows["stable"], canary=windows["canary"], source=self.name
        )

    def is_online(self) -> bool:
        try:
            return self.query("1") == 1.0
        except MetricSourceError:
            return False

    def close(self) -> None:
        self.client.close()



class Settings(SettingsModel):
    hints: ClassVar[dict[str, str]] = {"url": "no url given; set url: http://<prometheus>:9090"}
    url: HttpUrl
    queries: dict[str, str | None] | None = None
    timeout: Seconds = DEFAULT_TIMEOUT
    headers: dict[str, str] | None = None


def build(settings: dict[str, Any], **context: Any) -> PrometheusSource:
    validate_settings(Settings, settings, "prometheus metric source")
    overrides = settings.get("queries") or {}
    if not isinstance(overrides, Mapping):
        raise UsageError("prometheus metric source: queries must be {metric: PromQL}")
    if unknown_metrics := set(overrides) - set(METRICS):
        raise UsageError(
            f"prometheus metric source: unknown metric(s) {sorted(unknown_metrics)} in queries; known: {list(METRICS)}"
        )
    queries = {**DEFAULT_QUERIES, **overrides}
    return PrometheusSource(
        str(settings["url"]),
        queries={k: v for k, v in queries.items() if v},
        timeout=parse_duration(settings.get("timeout", DEFAULT_TIMEOUT)),
        headers=settings.get("headers"),
        transport=context.get("transport"),
    )
