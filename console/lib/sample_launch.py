"""A full launch's records written into a store: for the console's tests, its bench and screenshots.

``write_full_launch(store, plan)`` records what a finished PromptForge-style launch leaves behind:
72 hours of stable/canary samples (10-second resolution by default), the canary ramp's gate
decisions and weight changes, a rollback drill, two incidents, checklist ticks, check results,
timeline events with flow-run ids, a reviewer's verdict and three accounts. Times are placed so
the launch day's plan times (in the plan's zone) fall inside the sampled window.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from launch_control.plan.metrics import SAMPLE_METRICS
from launch_control.plan.model import Plan
from launch_control.store.db import Store, audit_events, check_results, checklist_ticks, metric_samples, timeline_events
from launch_control.web.auth import hash_password

PASSWORD = "correct-horse-battery"
USERS = {"lena": "lead", "vic": "viewer", "rita": "reviewer"}


@dataclass
class LaunchData:
    start: dt.datetime
    end: dt.datetime
    launch_date: dt.date
    t0: dt.datetime  # 08:00 on launch day, plan zone
    weights: list[tuple[dt.datetime, float]] = field(default_factory=list)
    rows: int = 0


def _weight_at(weights: list[tuple[dt.datetime, float]], times: np.ndarray) -> np.ndarray:
    out = np.zeros(len(times))
    for when, weight in weights:
        out[times >= when.timestamp()] = weight
    return out


def write_users(store: Store) -> None:
    hashed = hash_password(PASSWORD)  # one hash for all three: argon2 is slow on purpose
    for name, role in USERS.items():
        store.put_user(name, role, hashed)


def write_full_launch(
    store: Store, plan: Plan, *, end: dt.datetime | None = None, hours: float = 72.0, resolution: float = 10.0,
    seed: int = 7,
) -> LaunchData:
    end = (end or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    start = end - dt.timedelta(hours=hours)
    tz = plan.timeline.tz
    launch_date = start.astimezone(tz).date() + dt.timedelta(days=1)
    t0 = dt.datetime.combine(launch_date, dt.time(8, 0), tzinfo=tz).astimezone(dt.UTC)
    at = lambda hours_after: t0 + dt.timedelta(hours=hours_after)  # noqa: E731
    data = LaunchData(start, end, launch_date, t0)
    steps = [s.weight for s in plan.canary.steps]
    ramp_times = [1.5, 2.0, 3.0, 5.0][: len(steps)]
    data.weights = [(at(h), w) for h, w in zip(ramp_times, steps, strict=False)]

    _write_samples(store, data, resolution, seed)
    _write_decisions(store, data)
    _write_audit(store, data)
    rb = store.start_rollback(trigger="drill", reason="pre-launch rollback drill", actor="lena",
                              target_version=plan.release.stable_version, started_at=at(0.33))
    drill = lambda seconds: at(0.33) + dt.timedelta(seconds=seconds)  # noqa: E731
    store.update_rollback(rb, traffic_switched_at=drill(1.2), deployed_at=drill(21), verified_at=drill(38.2),
                          finished_at=drill(38.2), ttr_seconds=38.2, ok=True,
                          details={"stages": ["traffic", "deploy", "verify", "notify"]})
    first = store.open_incident("SEV-3", "latency_p95", "Canary p95 latency above 3 s at 25%", "engine",
                                metric="latency_p95", value=3.4)
    store.update_incident(first, "lena", "acknowledge", status="acknowledged", opened_at=at(3.67),
                          last_seen_at=at(3.9), acknowledged_at=at(3.75), acknowledged_by="lena")
    store.update_incident(first, "lena", "resolve", status="resolved", resolved_at=at(4.05), resolved_by="lena",
                          details={"note": "cache warmed; p95 back to 0.4 s"})
    second = store.open_incident("SEV-3", "error_rate", "Stable error rate above 5% for one interval", "engine")
    store.update_incident(second, "engine", "touch", opened_at=end - dt.timedelta(minutes=20),
                          last_seen_at=end - dt.timedelta(minutes=15))
    store.update_state(phase="complete", current_step=len(steps) - 1, canary_weight=steps[-1],
                       step_started_at=data.weights[-1][0], launch_started_at=t0, frozen=True)
    _write_checklist(store, plan, data)
    _write_timeline(store, plan, data)
    store.record_verdict("user-adoption", "pass", "rita", note="2,300 teams on v3 in week one")
    write_users(store)
    return data


def _write_samples(store: Store, data: LaunchData, resolution: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    times = np.arange(data.start.timestamp(), data.end.timestamp(), resolution)
    n = len(times)
    weight = _weight_at(data.weights, times)
    total_rate = 40 + 15 * np.sin(times / 86400 * 2 * np.pi)  # req/s with a daily swing
    rows: list[dict[str, Any]] = []
    spike = (times >= data.t0.timestamp() + 3.67 * 3600) & (times < data.t0.timestamp() + 3.9 * 3600)
    for role in ("stable", "canary"):
        share = (100 - weight) / 100 if role == "stable" else weight / 100
        rate = total_rate * share
        requests = rng.poisson(np.maximum(rate * resolution, 0))
        err_p = 0.004 if role == "stable" else 0.006
        errors = rng.binomial(requests, err_p)
        limited = rng.poisson(np.maximum(rate * resolution * 0.01, 0))
        base = 0.18 if role == "stable" else 0.16
        lat_avg = base + rng.gamma(2.0, 0.02, n)
        p95 = lat_avg * 2.4 + (3.0 if role == "canary" else 0.0) * spike
        p99 = p95 * 1.6
        values = {
            "requests": requests,
            "errors": errors,
            "request_rate": requests / resolution,
            "error_rate": np.where(requests > 0, errors / np.maximum(requests, 1), np.nan),
            "rate_limited": limited,
            "latency_avg": lat_avg,
            "latency_p50": lat_avg * 0.8,
            "latency_p95": p95,
            "latency_p99": p99,
            "cpu": np.clip(0.25 + 0.4 * share * total_rate / 55 + rng.normal(0, 0.02, n), 0, 1),
            "memory": np.clip(0.55 + rng.normal(0, 0.01, n), 0, 1),
            "availability": np.where(rng.random(n) < 0.9995, 1.0, 0.0),
        }
        active = share > 0
        stamps = [dt.datetime.fromtimestamp(t, dt.UTC) for t in times]
        for metric in SAMPLE_METRICS:
            series = values[metric]
            for i in np.flatnonzero(active & ~np.isnan(series.astype(float))):
                rows.append({"launch_id": store.launch_id, "at": stamps[i], "version": role, "metric": metric,
                             "value": float(series[i])})
    with store.engine.begin() as conn:
        for i in range(0, len(rows), 50_000):
            conn.execute(metric_samples.insert(), rows[i : i + 50_000])
    data.rows = len(rows)


def _sequential(k: int) -> dict:
    """A healthy canary's sequential evidence after k intervals: safety grows, harm fades (as in the gate)."""
    return {
        "error_rate": {"decision": "pass" if 0.5 * 1.6**k >= 20 else "continue", "threshold": 20.0,
                       "evidence_fail": 0.8 * 0.7**k, "evidence_pass": 0.5 * 1.6**k},
        "latency": {"decision": "pass" if 0.3 * 1.4**k >= 20 else "continue", "threshold": 20.0,
                    "evidence_fail": 0.9 * 0.8**k, "evidence_pass": 0.3 * 1.4**k},
    }


def _write_decisions(store: Store, data: LaunchData) -> None:
    for index, (when, weight) in enumerate(data.weights):
        next_at = data.weights[index + 1][0] if index + 1 < len(data.weights) else when + dt.timedelta(minutes=30)
        t = when + dt.timedelta(minutes=5)
        k = 0
        while t < next_at and t < data.end:
            late = 3.67 <= (t - data.t0).total_seconds() / 3600 < 3.9
            k += 1
            if late:
                store.record_decision("hold", "canary p95 3.41 s above SEV-3 limit 3 s (1 of 2 failing intervals)",
                                      step=index, weight=weight, severity="sev3", at=t)
            else:
                store.record_decision("pass", "error rate 0.6% ≤ 5%, p95 0.41 s ≤ 3 s, canary within 1.5× stable",
                                      step=index, weight=weight, at=t, details={"sequential": _sequential(k)})
            t += dt.timedelta(minutes=10)


def _write_audit(store: Store, data: LaunchData) -> None:
    rows = [
        {"launch_id": store.launch_id, "at": when, "actor": "engine", "action": "traffic.set",
         "details": {"weight": weight, "step": i}}
        for i, (when, weight) in enumerate(data.weights)
    ]
    with store.engine.begin() as conn:
        conn.execute(audit_events.insert(), rows)


def _write_checklist(store: Store, plan: Plan, data: LaunchData) -> None:
    rows, checks = [], []
    for offset, (phase, item) in enumerate(plan.checklist.items()):
        if phase == "post-launch" and item.id == "post-stabilization":
            continue  # still open: the launch is not declared stable yet
        who = "lena" if offset % 2 else "rita"
        when = data.t0 - dt.timedelta(hours=2) + dt.timedelta(minutes=7 * offset)
        rows.append({"launch_id": store.launch_id, "item_id": item.id, "ticked": True, "actor": who, "at": when,
                     "note": ""})
        if item.check is not None:
            checks.append({"launch_id": store.launch_id, "item_id": item.id, "ok": True,
                           "detail": "HTTP 200 in 12 ms" if item.check.type == "http" else "ok", "at": when})
    with store.engine.begin() as conn:
        conn.execute(checklist_ticks.insert(), rows)
        if checks:
            conn.execute(check_results.insert(), checks)


def _write_timeline(store: Store, plan: Plan, data: LaunchData) -> None:
    rows = []
    entries = plan.timeline.entries
    for index, entry in enumerate(entries):
        planned = plan.timeline.planned_at(entry, data.launch_date).astimezone(dt.UTC)
        if planned > data.end:
            continue
        following = entries[index + 1] if index + 1 < len(entries) else None
        finish = (plan.timeline.planned_at(following, data.launch_date).astimezone(dt.UTC)
                  if following else planned + dt.timedelta(minutes=20))
        run_id = str(uuid.UUID(int=index + 1))
        started = planned + dt.timedelta(minutes=1)
        done = min(started + min(finish - planned, dt.timedelta(minutes=50)) - dt.timedelta(minutes=2), data.end)
        rows.append({"launch_id": store.launch_id, "entry_id": entry.id, "status": "running", "at": started,
                     "flow_run_id": run_id, "detail": ""})
        rows.append({"launch_id": store.launch_id, "entry_id": entry.id, "status": "done", "at": done,
                     "flow_run_id": run_id, "detail": "completed"})
    with store.engine.begin() as conn:
        conn.execute(timeline_events.insert(), rows)
