"""Success criteria judged on what was recorded: technical ones from metric samples and
rollbacks, operational ones from the incident log, business ones from reviewers' verdicts.

``evaluate(plan, store)`` returns a ``CriteriaReport``: one ``CriterionResult`` per criterion
(value against target, passed True / False / None when there is nothing to judge yet) and an
overall verdict — ``fail`` if any criterion failed, ``pending`` if any is still open, else ``pass``.

How each measure is computed (documented in the README):
  error_rate        errors / requests summed over the release's ("canary" role) samples
  latency_*         mean of the release's per-interval values
  availability      mean of all availability samples (health probes answering)
  rollback_ttr      the slowest recorded, verified rollback (a failed one counts as failing)
  incident_count    incidents opened in the launch week (from the launch start)
  incident_resolution_avg  mean time from open to resolved over resolved incidents
  user_complaints / support_tickets  the number a reviewer entered with their verdict
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from launch_control.plan.model import CRITERIA_MEASURES, Criterion, Plan
from launch_control.plan.units import format_duration
from launch_control.store.db import Store

RELEASE_ROLE = "canary"  # samples of the release under launch carry this role


Category = Literal["technical", "business", "operational"]


@dataclass
class CriterionResult:
    id: str
    title: str
    category: Category
    measure: str | None
    op: str | None
    target: float | None
    value: float | None
    passed: bool | None
    source: str  # recorded | incidents | rollbacks | reviewer | none
    note: str = ""

    @property
    def shown_value(self) -> str:
        return format_measure(self.measure, self.value)

    @property
    def shown_target(self) -> str:
        if self.target is None:
            return "reviewer's verdict"
        return f"{self.op} {format_measure(self.measure, self.target)}"

    @property
    def status(self) -> str:
        return {True: "pass", False: "fail", None: "pending"}[self.passed]


@dataclass
class CriteriaReport:
    results: list[CriterionResult]

    @property
    def verdict(self) -> Literal["pass", "fail", "pending"]:
        return _overall(self.results)

    def category(self, name: str) -> list[CriterionResult]:
        return [r for r in self.results if r.category == name]

    def category_verdict(self, name: str) -> Literal["pass", "fail", "pending"]:
        return _overall(self.category(name))

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "results": [asdict(r) | {"status": r.status} for r in self.results]}


def _overall(results: list[CriterionResult]) -> Literal["pass", "fail", "pending"]:
    if any(r.passed is False for r in results):
        return "fail"
    if any(r.passed is None for r in results):
        return "pending"
    return "pass"


def format_measure(measure: str | None, value: float | None) -> str:
    if value is None:
        return "—"
    if not math.isfinite(value):  # a rollback that never verified has no TTR to show
        return "not verified" if measure == "rollback_ttr" else "—"
    unit = CRITERIA_MEASURES.get(measure or "", "count")
    if unit == "ratio":
        return f"{value * 100:.2f}%" if value < 0.9 else f"{value * 100:.3f}%"
    if unit == "duration":
        return f"{value:.2f}s" if value < 60 else format_duration(value)
    return f"{value:g}"


def _measure(plan: Plan, store: Store, measure: str, now: dt.datetime) -> tuple[float | None, str, str]:
    """(value, source, note) for one measure."""
    if measure == "error_rate":
        requests = store.sample_stats("requests", version=RELEASE_ROLE)["sum"]
        errors = store.sample_stats("errors", version=RELEASE_ROLE)["sum"]
        if not requests:
            return None, "none", "no traffic recorded for the release yet"
        return (errors or 0.0) / requests, "recorded", f"{errors or 0:.0f} errors in {requests:.0f} requests"
    if measure.startswith("latency_"):
        stats = store.sample_stats(measure, version=RELEASE_ROLE)
        if not stats["count"]:
            return None, "none", "no latency recorded for the release yet"
        return stats["avg"], "recorded", f"mean of {stats['count']} intervals (worst {stats['max']:.3f}s)"
    if measure == "availability":
        stats = store.sample_stats("availability")
        if not stats["count"]:
            return None, "none", "no health probes recorded yet"
        return stats["avg"], "recorded", f"{stats['count']} probe intervals"
    if measure == "rollback_ttr":
        rollbacks = [r for r in store.rollbacks() if r["finished_at"] is not None]
        if not rollbacks:
            return None, "none", "no rollback recorded (run a rollback drill: emergency-rollback)"
        failed = [r for r in rollbacks if not r["ok"] or r["ttr_seconds"] is None]
        if failed:
            from launch_control.ramp.rollback import ttr_words

            said = "; ".join(f"rollback {r['id']} {ttr_words(r)}" for r in failed[-3:])
            return float("inf"), "rollbacks", f"{len(failed)} rollback(s) did not reach verified health ({said})"
        worst = max(r["ttr_seconds"] for r in rollbacks)
        return worst, "rollbacks", f"slowest of {len(rollbacks)} rollback(s)"
    if measure in ("incident_count", "incident_resolution_avg"):
        state = store.state()
        start = state["launch_started_at"]
        incidents = store.incidents()
        if start is not None:
            end = start + dt.timedelta(seconds=plan.success_criteria.launch_week)
            incidents = [i for i in incidents if start <= i["opened_at"] <= end]
        if measure == "incident_count":
            return float(len(incidents)), "incidents", "in the launch week" if start else "since records began"
        resolved = [i for i in incidents if i["resolved_at"] is not None]
        if not resolved:
            open_count = len(incidents)
            if open_count:
                oldest = format_duration((now - min(i["opened_at"] for i in incidents)).total_seconds())
                return None, "incidents", f"{open_count} incident(s) still open (oldest {oldest})"
            return 0.0, "incidents", "no incidents"
        mean = sum((i["resolved_at"] - i["opened_at"]).total_seconds() for i in resolved) / len(resolved)
        return mean, "incidents", f"{len(resolved)} resolved"
    return None, "none", ""


def _judge(plan: Plan, store: Store, category: Category, criterion: Criterion, reviewer: dict[str, Any] | None,
           now: dt.datetime) -> CriterionResult:
    result = functools.partial(
        CriterionResult,
        id=criterion.id,
        title=criterion.title,
        category=category,
        measure=criterion.measure,
        op=criterion.op if criterion.measure else None,
        target=criterion.target,
    )
    if criterion.measure is None or criterion.measure in ("user_complaints", "support_tickets"):
        if reviewer is None:
            return result(value=None, passed=None, source="reviewer", note="awaiting a reviewer")
        note = f"{reviewer['verdict']} by {reviewer['actor']}" + (f": {reviewer['note']}" if reviewer["note"] else "")
        if criterion.measure and reviewer["value"] is not None:
            given = float(reviewer["value"])
            return result(value=given, passed=criterion.passes(given), source="reviewer", note=note)
        passed = {"pass": True, "fail": False}.get(reviewer["verdict"])
        return result(value=None, passed=passed, source="reviewer", note=note)
    value, source, note = _measure(plan, store, criterion.measure, now)
    passed = criterion.passes(value) if value is not None else None
    return result(value=value, passed=passed, source=source, note=note)


def evaluate(plan: Plan, store: Store, now: dt.datetime | None = None) -> CriteriaReport:
    now = now or dt.datetime.now(dt.UTC)
    reviewers = store.verdicts()
    sc = plan.success_criteria
    categories: tuple[tuple[Category, list[Criterion]], ...] = (
        ("technical", sc.technical), ("business", sc.business), ("operational", sc.operational),
    )  # fmt: skip
    results = [
        _judge(plan, store, category, criterion, reviewers.get(criterion.id), now)
        for category, criteria in categories
        for criterion in criteria
    ]
    return CriteriaReport(results)
