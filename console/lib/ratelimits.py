"""Rate-limit figures for the console: decisions per policy from Prometheus text, and the orgs
closest to their limits from the limiter's Redis keys.

* Decisions: ``launch_control_ratelimit_decisions_total{policy, outcome}`` scraped (httpx, short
  timeout) from the gateway's ``/metrics`` (the plan's gateway metric source) or the URLs in
  ``$LAUNCH_CONTROL_RATELIMIT_METRICS_URLS`` (comma-separated), summed over them.
* Orgs: GCRA keys ``lc:rl:{<org>}:<limit>`` hold a theoretical arrival time (µs); how full an
  org's bucket is = (TAT − now) / (tolerance + emission interval). Read with a bounded SCAN.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Any

from launch_control.plan.model import Plan

URLS_ENV = "LAUNCH_CONTROL_RATELIMIT_METRICS_URLS"
REDIS_ENV = "LAUNCH_CONTROL_REDIS_URL"
DECISIONS = "launch_control_ratelimit_decisions"
KEY_PREFIX = "lc:rl"
MAX_KEYS = 5000
KEY = re.compile(r"^(?P<prefix>.+):\{(?P<org>[^}]*)\}:(?P<limit>[^:]+)$")


@dataclass(frozen=True)
class OrgUsage:
    org: str
    limit: str
    used: float  # 0..1 share of the bucket in use (1: the next request is refused)
    reset_seconds: float


def metrics_urls(plan: Plan) -> list[str]:
    if configured := os.environ.get(URLS_ENV):
        return [u.strip() for u in configured.split(",") if u.strip()]
    source = plan.analysis.metric_source
    url = source.settings.get("url") if source.type == "gateway" else None
    return [str(url)] if url else []


def decisions(urls: list[str], timeout: float = 0.5) -> tuple[dict[str, dict[str, float]], list[str]]:
    """(policy → outcome → count, problems). Empty with a problem per URL that did not answer."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    totals: dict[str, dict[str, float]] = {}
    problems: list[str] = []
    for url in urls:
        try:
            response = httpx.get(url, timeout=timeout)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            problems.append(f"{url}: {type(exc).__name__}")
            continue
        try:
            families = list(text_string_to_metric_families(response.text))
        except ValueError as exc:
            problems.append(f"{url}: not Prometheus text ({exc})")
            continue
        for family in families:
            if family.name != DECISIONS:
                continue
            for sample in family.samples:
                if not sample.name.endswith("_total"):
                    continue
                policy = sample.labels.get("policy", "?")
                outcome = sample.labels.get("outcome", "?")
                totals.setdefault(policy, {})
                totals[policy][outcome] = totals[policy].get(outcome, 0.0) + float(sample.value)
    return totals, problems


def _limits(plan: Plan) -> dict[str, tuple[int, int]]:
    """limit name → (emission µs, tolerance µs), as the limiter computes them."""
    out: dict[str, tuple[int, int]] = {}
    rules = [(p.name, p.rate, p.window, p.burst) for p in plan.rate_limits.policies]
    if plan.rate_limits.org_wide:
        wide = plan.rate_limits.org_wide
        rules += [(name, wide.limit[0], wide.limit[1], wide.burst) for name in ("org", "org-wide", "org_wide")]
    for name, count, window, burst in rules:
        emission = max(1, math.ceil(window * 1_000_000 / count))
        out[name] = (emission, burst * emission)
    return out


def closest_orgs(plan: Plan, redis_url: str | None = None, *, top: int = 10,
                 timeout: float = 0.3) -> tuple[list[OrgUsage], str | None]:
    """The ``top`` org/limit pairs nearest their limit, or ([], why not)."""
    url = redis_url or os.environ.get(REDIS_ENV)
    if not url:
        return [], f"no Redis configured ({REDIS_ENV}); the in-memory limiter's state is inside each process"
    import redis

    limits = _limits(plan)
    client: Any = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        seconds, micros = client.time()
        now = int(seconds) * 1_000_000 + int(micros)
        keys = []
        for key in client.scan_iter(match=f"{KEY_PREFIX}:{{*}}:*", count=500):
            keys.append(key)
            if len(keys) >= MAX_KEYS:
                break
        values = client.mget(keys) if keys else []
    except redis.RedisError as exc:
        return [], f"Redis at {url} did not answer: {type(exc).__name__}"
    finally:
        client.close()
    usage: list[OrgUsage] = []
    for key, value in zip(keys, values, strict=True):
        match = KEY.match(key.decode() if isinstance(key, bytes) else key)
        if not match or value is None or match["limit"] not in limits:
            continue
        emission, tolerance = limits[match["limit"]]
        ahead = max(0, int(float(value)) - now)
        usage.append(OrgUsage(match["org"], match["limit"], min(1.0, ahead / (tolerance + emission)), ahead / 1e6))
    usage.sort(key=lambda u: u.used, reverse=True)
    return usage[:top], None
