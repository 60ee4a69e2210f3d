"""Post-launch monitoring: one run observes the service, records the samples, classifies every
metric with the plan's SEV limits, opens (or touches) an incident per breached metric and lets
quiet ones auto-resolve; and the status checks posted at the timeline's times.

The Prefect flow (``flows/post_launch.py``) calls ``run_once`` every ``every`` of the current
post-launch phase (intensive 0–24 h every 5 min, extended 24–48 h every 15 min, stabilization
48–72 h hourly) and ``post_status_check`` at each ``status_check`` timeline entry. The phases
are measured from when monitoring started (the store's ``post_launch`` status, set by the
first run), so a launch that runs late keeps its 72 hours.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from launch_control.plan.metrics import HEADLINE, is_fraction
from launch_control.plan.units import format_duration
from launch_control.ramp.analysis import CREDIBILITY_WINDOWS, find_breaches
from launch_control.ramp.analysis import classify as gate_classify
from launch_control.ramp.observations import ROLES, Observation
from launch_control.store.db import utcnow

log = logging.getLogger(__name__)

STATUS_KEY = "post_launch"
CAUSE_PREFIX = "post-launch:"

_sources: dict[str, Any] = {}  # one metric source per plan per process: its deltas span runs
_sources_lock = threading.Lock()


@dataclass
class Breach:
    metric: str
    role: str
    value: float
    severity: str  # SEV-1 / SEV-2 / SEV-3

    @property
    def summary(self) -> str:
        return f"{self.metric} {format_value(self.metric, self.value)} on {self.role} ({self.severity})"


@dataclass
class MonitoringRun:
    at: dt.datetime
    phase: str | None
    samples: int = 0
    requests: int = 0
    error: str | None = None
    breaches: list[Breach] = field(default_factory=list)
    incidents: list[int] = field(default_factory=list)
    swept: list[dict[str, Any]] = field(default_factory=list)
    values: dict[str, float] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        """``ok``, ``degraded`` (SEV-3), ``failing`` (SEV-1/2) or ``blind`` (no metrics)."""
        if self.error:
            return "blind"
        worst = min((b.severity for b in self.breaches), default=None)
        return "ok" if worst is None else "degraded" if worst == "SEV-3" else "failing"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        data["verdict"] = self.verdict
        data["breaches"] = [b.summary for b in self.breaches]
        return data


def format_value(metric: str, value: float | None) -> str:
    if value is None:
        return "—"
    if is_fraction(metric):
        return f"{value * 100:.2f}%"
    return f"{value:.3f}s" if value < 10 else format_duration(value)


def classify(plan: Any, metric: str, value: float) -> str | None:
    """``SEV-1``…``SEV-3`` or None: the ramp gate's classification against the plan's SEV limits."""
    found = gate_classify(metric, value, plan.analysis)  # the gate's own: monitoring and ramp agree on a SEV
    if not found:
        return None
    from launch_control.respond.incidents import normalise_severity

    return normalise_severity(found)


def judge(plan: Any, observation: Observation, history: dict[str, list] | None = None) -> list[Breach]:
    """The worst *credible* breach per metric across the versions — the gate's breach logic.

    ``analysis.find_breaches`` is the one function the ramp's gate uses too: request metrics need
    ``min_requests``, and an error-rate breach needs the same exact binomial credibility test over
    this version's recent windows (``history``: role → [(requests, errors), …], the latest last),
    so a post-launch incident needs the same evidence as a ramp failure; noise the gate would hold
    on opens nothing. ``history`` is updated in place with this observation's windows.
    """
    history = {} if history is None else history
    worst: dict[str, Breach] = {}
    for role in ROLES:
        window = observation.window(role)
        if window is None:
            continue
        recent = history.setdefault(role, [])
        if window.requests > 0:
            recent.append([int(window.requests), int(min(max(window.errors, 0), window.requests))])
            del recent[: -max(CREDIBILITY_WINDOWS)]
        for found in find_breaches(window, plan.analysis, history=[tuple(h) for h in recent]):
            if not found.credible:
                continue  # "not yet significant": the gate holds on it, monitoring opens nothing
            severity = classify(plan, found.metric, found.value)
            if severity and (found.metric not in worst or severity < worst[found.metric].severity):
                worst[found.metric] = Breach(found.metric, role, found.value, severity)
    return list(worst.values())


def monitoring_state(store: Any) -> dict[str, Any]:
    value = store.get_status(STATUS_KEY)
    return dict(value) if isinstance(value, dict) else {}


def started_at(store: Any) -> dt.datetime | None:
    """When post-launch monitoring started, or None before ``begin``."""
    state = monitoring_state(store)
    return dt.datetime.fromisoformat(state["started_at"]) if state.get("started_at") else None


def begin(store: Any, now: dt.datetime | None = None) -> dt.datetime:
    """Start the post-launch clock (idempotent: the first call wins)."""
    if (when := started_at(store)) is not None:
        return when
    when = now or utcnow()
    store.set_status(STATUS_KEY, {**monitoring_state(store), "started_at": when.isoformat()})
    store.audit("monitoring", "monitoring.begin", at=when.isoformat())
    return when


def current_phase(plan: Any, store: Any, now: dt.datetime | None = None) -> Any:
    """The plan's post-launch phase at ``now`` (None before monitoring began or after the last phase)."""
    start = started_at(store)
    if start is None:
        return None
    elapsed = ((now or utcnow()) - start).total_seconds()
    return next((p for p in plan.timeline.post_launch if p.start <= elapsed < p.end), None)


def finished(plan: Any, store: Any, now: dt.datetime | None = None) -> bool:
    """Whether the last post-launch phase is over."""
    start = started_at(store)
    end = max((p.end for p in plan.timeline.post_launch), default=0.0)
    return start is not None and ((now or utcnow()) - start).total_seconds() >= end


def source_for(plan: Any) -> Any:
    from launch_control.plane.metrics import build_source

    key = f"{plan.source}:{plan.analysis.metric_source.model_dump_json()}"
    with _sources_lock:
        if key not in _sources:
            _sources[key] = build_source(plan.analysis.metric_source, probes=plan.analysis.probes)
        return _sources[key]


def run_once(
    plan: Any,
    store: Any,
    *,
    source: Any = None,
    manager: Any = None,
    now: dt.datetime | None = None,
    interval: float | None = None,
) -> MonitoringRun:
    """One monitoring run; never raises for a metric source that is down (that is an incident)."""
    from launch_control.respond.incidents import production_manager

    now = now or utcnow()
    begin(store, now)
    phase = current_phase(plan, store, now)
    interval = interval or (phase.every if phase else plan.analysis.interval)
    source = source or source_for(plan)
    manager = manager or production_manager(plan, store, actor="monitoring")
    observation = source.observe(interval)
    run = MonitoringRun(at=now, phase=phase.name if phase else None, error=observation.error)
    run.samples = store.record_samples(observation.samples(histograms=False))
    for role in ROLES:
        window = observation.window(role)
        if window is not None:
            run.requests += window.requests
            for metric in HEADLINE:
                value = window.metric(metric)
                if value is not None:
                    run.values[f"{role}.{metric}"] = float(value)
    if observation.error:
        summary = f"post-launch monitoring is blind: {observation.error}"
        run.incidents.append(manager.report(f"{CAUSE_PREFIX}metric-source", "SEV-3", summary, actor="monitoring"))
    else:
        history = monitoring_state(store).get("history") or {}
        run.breaches = judge(plan, observation, history)
        store.set_status(STATUS_KEY, {**monitoring_state(store), "history": history})
        for breach in run.breaches:
            run.incidents.append(
                manager.report(f"{CAUSE_PREFIX}{breach.metric}", breach.severity, breach.summary, actor="monitoring")
            )
    run.swept = manager.sweep(now)
    store.set_status(STATUS_KEY, {**monitoring_state(store), "last_run": run.to_dict()})
    recorded = run.to_dict()
    store.audit("monitoring", "monitoring.run", phase=run.phase, verdict=run.verdict, breaches=recorded["breaches"],
                incidents=run.incidents, samples=run.samples)
    return run


def status_channels(plan: Any) -> list[str]:
    """Where status checks go: the routine (SEV-3) channels and any Statuspage channel."""
    names: list[str] = []
    if plan.incident_response and "SEV-3" in plan.incident_response.severities:
        names += plan.incident_response.severities["SEV-3"].notify
    names += [c.name for c in plan.notifications.channels if c.type == "statuspage"]
    if not names:
        names = [c.name for c in plan.notifications.channels if c.type in ("slack", "webhook")]
    return list(dict.fromkeys(names))


def status_check(plan: Any, store: Any, *, title: str = "Status check") -> dict[str, Any]:
    """The numbers a status check reports: the last monitoring run, open incidents, components."""
    last = monitoring_state(store).get("last_run") or {}
    active = store.incidents(status="active")
    values = last.get("values") or {}
    role = "canary" if any(k.startswith("canary.") for k in values) else "stable"
    error_rate = values.get(f"{role}.error_rate")
    latency = values.get(f"{role}.latency_p95")
    verdict = last.get("verdict", "no data")
    if active:
        verdict = "incident open" if verdict == "ok" else verdict
    return {
        "title": title,
        "phase": last.get("phase") or "not started",
        "verdict": verdict,
        "requests": last.get("requests", 0),
        "error_rate": format_value("error_rate", error_rate),
        "latency_p95": format_value("latency_p95", latency),
        "active_incidents": len(active),
        "worst": min((i["severity"] for i in active), default=None),
        "breaches": last.get("breaches", []),
    }


def post_status_check(
    plan: Any,
    store: Any,
    *,
    notifier: Any = None,
    entry_id: str | None = None,
    title: str | None = None,
    channels: list[str] | None = None,
) -> dict[str, Any]:
    """Render the status-check template and post it; mark the timeline entry done."""
    from launch_control.respond.notify import Notifier
    from launch_control.respond.templates import launch_context, render

    entry = next((e for e in plan.timeline.entries if e.id == entry_id), None) if entry_id else None
    check = status_check(plan, store, title=title or (entry.title if entry else "Status check"))
    context = {**launch_context(plan, store), "check": check}
    rendered = render(plan, "status-check", context)
    notifier = notifier or Notifier(plan, store)
    notifier.send(
        "status_check", rendered.subject, rendered.text, channels=channels or status_channels(plan),
        context={"check": check, "components": context["components"]},
    )
    if entry_id:
        store.record_timeline(entry_id, "done", detail=f"status check: {check['verdict']}")
    store.audit("monitoring", "monitoring.status_check", entry=entry_id, verdict=check["verdict"])
    return {**check, "subject": rendered.subject, "text": rendered.text}
