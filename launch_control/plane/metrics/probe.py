"""The ``probe`` metric source: synthetic HTTP checks — availability and latency per version.

Settings:
  urls      a list of URLs (the same result is reported for both versions: the plane as a whole)
            or ``{stable: [...], canary: [...]}`` for per-version checks
  headers   optional ``{stable: {...}, canary: {...}}`` sent with that version's probes (e.g. a
            tester override header that pins the gateway to one version)
  count     probes per URL per observation (default 1)
  timeout   seconds per probe (default 2)

Each observation sends ``count`` GETs to every URL. A probe is healthy when it answers 2xx in
time; ``availability`` is the healthy share, ``requests``/``errors`` count probes, latencies are
measured by the client. A failing target is a measurement (availability 0), not a source that is
down: this source only fails when it has no URLs.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from pydantic import Field

from launch_control.errors import UsageError
from launch_control.plan.metrics import QUANTILES
from launch_control.plan.settings_types import Seconds, SettingsModel, validate_settings
from launch_control.plan.units import parse_duration
from launch_control.ramp.observations import ROLES, Observation, VersionWindow

DEFAULT_TIMEOUT = 2.0


@dataclass
class ProbeResult:
    """The outcome of one round of probes."""

    total: int = 0
    healthy: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, answered probes only
    failures: list[str] = field(default_factory=list)  # "url: why" for the unhealthy ones

    @property
    def availability(self) -> float | None:
        return self.healthy / self.total if self.total else None


def probe(client: httpx.Client, urls: Iterable[str], *, count: int = 1, headers: Mapping[str, str] | None = None):
    """GET every URL ``count`` times; a probe is healthy when it answers 2xx."""
    result = ProbeResult()
    for url in urls:
        for _ in range(count):
            result.total += 1
            started = time.perf_counter()
            try:
                response = client.get(url, headers=dict(headers or {}))
            except httpx.HTTPError as exc:
                result.failures.append(f"{url}: {type(exc).__name__}: {exc}")
                continue
            result.latencies.append(time.perf_counter() - started)
            if 200 <= response.status_code < 300:
                result.healthy += 1
            else:
                result.failures.append(f"{url}: HTTP {response.status_code}")
    return result


def _quantile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), on a sorted list."""
    position = q * (len(sorted_values) - 1)
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def window_from(result: ProbeResult) -> VersionWindow:
    latencies = sorted(result.latencies)
    window = VersionWindow(
        requests=result.total, errors=result.total - result.healthy, availability=result.availability
    )
    if latencies:
        window.latency_avg = sum(latencies) / len(latencies)
        for name, q in QUANTILES.items():
            setattr(window, name, _quantile(latencies, q))
    return window


def parse_urls(value: Any, what: str = "urls") -> dict[str, list[str]] | list[str]:
    """``[url, ...]`` (both versions) or ``{stable: [...], canary: [...]}``; refuses anything else."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(u, str) for u in value):
        return list(value)
    if isinstance(value, Mapping):
        unknown = set(value) - set(ROLES)
        if unknown:
            raise UsageError(f"probe {what}: unknown version(s) {sorted(unknown)}; use stable and canary")
        return {role: list(parse_urls(urls, what)) for role, urls in value.items()}
    raise UsageError(f"probe {what}: give a list of URLs or {{stable: [...], canary: [...]}}, not {value!r}")


def run_probes(
    client: httpx.Client,
    urls: dict[str, list[str]] | list[str],
    *,
    count: int = 1,
    headers: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, ProbeResult]:
    """Probe results per role; a plain URL list is probed once and reported for both roles."""
    headers = headers or {}
    if isinstance(urls, list):
        if headers:
            return {role: probe(client, urls, count=count, headers=headers.get(role)) for role in ROLES}
        shared = probe(client, urls, count=count)
        return dict.fromkeys(ROLES, shared)
    return {role: probe(client, role_urls, count=count, headers=headers.get(role)) for role, role_urls in urls.items()}


class ProbeSource:
    """Synthetic checks as a ``MetricSource``."""

    name = "probe"

    def __init__(
        self,
        urls: dict[str, list[str]] | list[str],
        *,
        count: int = 1,
        timeout: float = DEFAULT_TIMEOUT,
        headers: Mapping[str, Mapping[str, str]] | None = None,
    ):
        if not urls:
            raise UsageError("probe metric source: no urls given; add settings.urls")
        self.urls = urls
        self.count = count
        self.headers = dict(headers or {})
        self.client = httpx.Client(timeout=timeout)
        self.last_failures: dict[str, list[str]] = {}

    def observe(self, interval: float) -> Observation:
        at = dt.datetime.now(dt.UTC)
        results = run_probes(self.client, self.urls, count=self.count, headers=self.headers)
        self.last_failures = {role: r.failures for role, r in results.items()}
        windows = {role: window_from(result) for role, result in results.items()}
        return Observation(
            at=at, interval=interval, stable=windows.get("stable"), canary=windows.get("canary"), source=self.name
        )

    def is_online(self) -> bool:
        """The probe source itself is always there; it is online when any target answers at all."""
        urls = self.urls if isinstance(self.urls, list) else [u for us in self.urls.values() for u in us]
        for url in urls:
            try:
                self.client.get(url)
                return True
            except httpx.HTTPError:
                continue
        return False

    def close(self) -> None:
        self.client.close()



class Settings(SettingsModel):
    urls: Any = None  # a list, or {stable: [...], canary: [...]}: parse_urls says what is wrong
    count: int = Field(default=1, le=1000)  # build() says "at least 1" itself
    timeout: Seconds = DEFAULT_TIMEOUT
    headers: dict[Literal["stable", "canary"], dict[str, str]] | None = None


def build(settings: dict[str, Any], **context: Any) -> ProbeSource:
    validate_settings(Settings, settings, "probe metric source")
    urls = parse_urls(settings.get("urls") or context.get("probes") or [])
    count = int(settings.get("count", 1))
    if count < 1:
        raise UsageError("probe metric source: count must be at least 1")
    headers = settings.get("headers") or {}
    if not isinstance(headers, Mapping) or set(headers) - set(ROLES):
        raise UsageError("probe metric source: headers must be {stable: {...}, canary: {...}}")
    timeout = parse_duration(settings.get("timeout", DEFAULT_TIMEOUT))
    return ProbeSource(urls, count=count, timeout=timeout, headers=headers)
