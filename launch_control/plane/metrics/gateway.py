"""The ``gateway`` metric source: scrapes the built-in gateway's ``/metrics`` and turns counter and
histogram deltas between two scrapes into per-version numbers for the interval.

Settings:
  url        the gateway's metrics URL (default http://127.0.0.1:8080/metrics; a bare base URL
             gets ``/metrics`` appended)
  timeout    seconds per scrape (default 2)
  upstreams  optional ``{stable: url, canary: url}``: the services' own ``/metrics`` for CPU (rate
             of ``process_cpu_seconds_total``, a fraction of one core) and memory
             (``process_resident_memory_bytes`` / ``launch_demo_memory_limit_bytes`` when the
             service reports its cgroup limit, else this machine's total memory)
  probes     optional URLs for availability (see ``launch_control.plane.metrics.probe``)

Per version, from ``launch_gateway_requests_total{version,route,status}``: requests, errors (5xx
answers — the gateway answers 502/503/504 when an upstream fails, so upstream failures are in
there — plus upstream failures that got no answer when ``launch_gateway_upstream_errors_total``
exceeds the gateway's own 502-504 count), and 429s; from
``launch_gateway_request_duration_seconds``: average and p50/p95/p99 by PromQL's
``histogram_quantile`` over the interval's bucket deltas.

A baseline scrape is taken when the source is built, so the first ``observe`` covers the time
since then; each later one covers the time since the previous call, and ``Observation.interval``
is that measured time (the ``interval`` argument is only echoed on error observations).

Counter resets (a restarted gateway) count the new value as the increase, as PromQL does; a
gateway that restarted and served more than before by the next scrape cannot be told apart from
two scrapes (Prometheus has the same blind spot between two samples). A scrape that fails gives
``Observation(error="metric source down: ...")``; a version that served nothing gives a window
with ``requests == 0`` and no latencies: "no data", not zero errors.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
from collections.abc import Mapping
from typing import Any, Literal

import httpx

from launch_control.errors import MetricSourceError, UsageError
from launch_control.plan.metrics import DURATION, QUANTILES, REQUESTS_TOTAL
from launch_control.plan.settings_types import HttpUrl, Seconds, SettingsModel, validate_settings
from launch_control.plan.units import parse_duration
from launch_control.plane.metrics import probe as probes
from launch_control.plane.metrics.promtext import (
    Scrape,
    counter_deltas,
    histogram_deltas,
    histogram_quantile,
    histogram_sum_delta,
)
from launch_control.ramp.observations import ROLES, Observation, VersionWindow

DEFAULT_URL = "http://127.0.0.1:8080/metrics"
DEFAULT_TIMEOUT = 2.0
UPSTREAM_ERRORS = "launch_gateway_upstream_errors_total"
CPU = "process_cpu_seconds_total"
RSS = "process_resident_memory_bytes"
MEMORY_LIMIT = "launch_demo_memory_limit_bytes"
# Statuses the gateway itself answers when an upstream fails (refused, reset, timed out).
UPSTREAM_FAILURE_STATUSES = frozenset({"502", "503", "504"})


def metrics_url(url: str) -> str:
    """Accept the gateway's base URL as well as its metrics URL."""
    stripped = url.rstrip("/")
    return stripped if httpx.URL(stripped).path not in ("", "/") else stripped + "/metrics"


def machine_memory() -> int:
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def scrape(client: httpx.Client, url: str) -> Scrape:
    """Fetch and parse one exposition; every failure becomes a ``MetricSourceError`` saying which."""
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        raise MetricSourceError(f"{url} unreachable ({type(exc).__name__}: {exc})") from exc
    if response.status_code != 200:
        raise MetricSourceError(f"{url} answered HTTP {response.status_code}")
    return Scrape.from_text(response.text)


def version_window(role: str, now: Scrape, before: Scrape | None) -> VersionWindow:
    """One version's traffic between two scrapes of the gateway."""
    requests = counter_deltas(
        now.select(REQUESTS_TOTAL, version=role), before.select(REQUESTS_TOTAL, version=role) if before else None
    )
    total = errors = limited = gateway_upstream = 0.0
    for labels, delta in requests.items():
        status = dict(labels).get("status", "")
        total += delta
        if status.startswith("5"):
            errors += delta
        if status in UPSTREAM_FAILURE_STATUSES:
            gateway_upstream += delta
        elif status == "429":
            limited += delta
    upstream = counter_deltas(
        now.select(UPSTREAM_ERRORS, version=role), before.select(UPSTREAM_ERRORS, version=role) if before else None
    )
    # Upstream failures are answered 502-504 and counted above; only failures beyond those
    # (a client that hung up before the gateway could answer) are added, so none counts twice.
    errors += max(0.0, sum(upstream.values()) - gateway_upstream)
    window = VersionWindow(requests=round(total), errors=round(errors), rate_limited=round(limited))
    buckets = histogram_deltas(now, before, DURATION, version=role)
    if buckets:
        window.latency_buckets = [(bound, round(count)) for bound, count in buckets]
        observed = buckets[-1][1]
        if observed > 0:
            window.latency_avg = histogram_sum_delta(now, before, DURATION, version=role) / observed
            for name, q in QUANTILES.items():
                setattr(window, name, histogram_quantile(q, buckets))
    return window


class _Scraped:
    """The previous scrape of one endpoint and when it was taken (monotonic seconds)."""

    def __init__(self) -> None:
        self.scrape: Scrape | None = None
        self.at = 0.0

    def advance(self, scrape: Scrape, at: float) -> tuple[Scrape | None, float]:
        before, elapsed = self.scrape, at - self.at
        self.scrape, self.at = scrape, at
        return before, elapsed


class GatewayMetrics:
    """Scrapes the gateway (and optionally the upstreams) and reports deltas since the last call."""

    name = "gateway"

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        upstreams: Mapping[str, str] | None = None,
        probe_urls: dict[str, list[str]] | list[str] | None = None,
    ):
        self.url = metrics_url(url)
        self.upstreams = {role: metrics_url(u) for role, u in (upstreams or {}).items()}
        self.probe_urls = probe_urls
        self.client = httpx.Client(timeout=timeout)
        self._gateway = _Scraped()
        self._upstream = {role: _Scraped() for role in self.upstreams}
        self.baseline_error: str | None = None
        self._baseline()

    def _baseline(self) -> None:
        started = time.monotonic()
        try:
            self._gateway.advance(scrape(self.client, self.url), started)
        except MetricSourceError as exc:
            self.baseline_error = str(exc)
        for role, url in self.upstreams.items():
            # A failed baseline leaves CPU "not measured" until two scrapes succeed.
            with contextlib.suppress(MetricSourceError):
                self._upstream[role].advance(scrape(self.client, url), time.monotonic())

    def observe(self, interval: float) -> Observation:
        at = dt.datetime.now(dt.UTC)
        now = time.monotonic()
        try:
            current = scrape(self.client, self.url)
        except MetricSourceError as exc:
            return Observation(at=at, interval=interval, error=f"metric source down: {exc}", source=self.name)
        before, elapsed = self._gateway.advance(current, now)
        if before is None:
            return Observation(
                at=at,
                interval=interval,
                error=f"metric source down: no earlier scrape of {self.url} to compare with "
                f"({self.baseline_error or 'first scrape'}); the next observation has data",
                source=self.name,
            )
        windows = {role: version_window(role, current, before) for role in ROLES}
        self._resources(windows)
        if self.probe_urls:
            for role, result in probes.run_probes(self.client, self.probe_urls).items():
                windows[role].availability = result.availability
        return Observation(
            at=at, interval=elapsed, stable=windows["stable"], canary=windows["canary"], source=self.name
        )

    def _resources(self, windows: dict[str, VersionWindow]) -> None:
        """CPU and memory of each upstream; a failed scrape leaves them ``None`` (not measured)."""
        total_memory = machine_memory()
        for role, url in self.upstreams.items():
            try:
                current = scrape(self.client, url)
            except MetricSourceError:
                continue
            before, elapsed = self._upstream[role].advance(current, time.monotonic())
            rss = current.value(RSS)
            # The demo reports its cgroup limit when it has one: a share of what it may use.
            limit = current.value(MEMORY_LIMIT) or total_memory
            if rss is not None and limit:
                windows[role].memory = rss / limit
            cpu_now = current.value(CPU)
            cpu_before = before.value(CPU) if before else None
            if cpu_now is not None and cpu_before is not None and elapsed > 0:
                used = cpu_now if cpu_now < cpu_before else cpu_now - cpu_before
                windows[role].cpu = used / elapsed

    def is_online(self) -> bool:
        try:
            scrape(self.client, self.url)
        except MetricSourceError:
            return False
        return True

    def close(self) -> None:
        self.client.close()



class Settings(SettingsModel):
    url: HttpUrl = DEFAULT_URL
    timeout: Seconds = DEFAULT_TIMEOUT
    upstreams: dict[Literal["stable", "canary"], HttpUrl] | None = None
    probes: Any = None  # a list, or {stable: [...], canary: [...]}: probes.parse_urls checks it


def build(settings: dict[str, Any], **context: Any) -> GatewayMetrics:
    validate_settings(Settings, settings, "gateway metric source")
    upstreams = settings.get("upstreams") or {}
    if not isinstance(upstreams, Mapping) or set(upstreams) - set(ROLES):
        raise UsageError("gateway metric source: upstreams must be {stable: url, canary: url}")
    probe_setting = settings.get("probes") or context.get("probes")
    return GatewayMetrics(
        str(settings.get("url") or DEFAULT_URL),
        timeout=parse_duration(settings.get("timeout", DEFAULT_TIMEOUT)),
        upstreams=upstreams,
        probe_urls=probes.parse_urls(probe_setting, "probes") if probe_setting else None,
    )
