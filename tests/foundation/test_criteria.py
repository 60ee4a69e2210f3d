"""Success criteria judged from recorded samples, rollbacks, incidents and reviewers' verdicts."""

from __future__ import annotations

import datetime as dt

from launch_control.review.criteria import evaluate
from launch_control.store.db import Sample, Store, utcnow


def _by_id(report):
    return {r.id: r for r in report.results}


def test_empty_store_is_pending_not_pass(plan, store: Store):
    report = evaluate(plan, store)
    results = _by_id(report)
    assert report.verdict == "pending"
    for cid in ("error-rate", "response-time", "uptime", "rollback-time", "user-adoption"):
        assert results[cid].passed is None, cid
    assert results["incidents"].passed is True and results["incidents"].value == 0


def _record_launch(store: Store, *, errors_per_interval: int, p95: float, ttr: float, ok: bool = True) -> None:
    now = utcnow()
    rows = []
    for i in range(30):
        at = now - dt.timedelta(minutes=30 - i)
        rows += [
            Sample(at, "canary", "requests", 200),
            Sample(at, "canary", "errors", errors_per_interval),
            Sample(at, "canary", "latency_p95", p95),
            Sample(at, "stable", "requests", 2000),
            Sample(at, "stable", "errors", 400),  # stable's errors do not count against the release
            Sample(at, "stable", "availability", 1.0 if i else 0.99),
        ]
    store.record_samples(rows)
    rid = store.start_rollback(trigger="drill", reason="drill", actor="t", target_version="v2.9.0", started_at=now)
    store.update_rollback(rid, finished_at=now, ttr_seconds=ttr if ok else None, ok=ok)


def test_technical_criteria_follow_recorded_data(plan, store: Store):
    _record_launch(store, errors_per_interval=2, p95=0.8, ttr=2.5)
    results = _by_id(evaluate(plan, store))
    assert results["error-rate"].value == 60 / 6000 and results["error-rate"].passed is True
    assert abs(results["response-time"].value - 0.8) < 1e-9 and results["response-time"].passed is True
    assert results["rollback-time"].value == 2.5 and results["rollback-time"].passed is True
    assert results["uptime"].passed is True  # 99.97% average beats the 99.9% target
    assert abs(results["uptime"].value - (29 + 0.99) / 30) < 1e-9


def test_failing_numbers_fail(plan, store: Store):
    _record_launch(store, errors_per_interval=20, p95=4.0, ttr=0, ok=False)
    report = evaluate(plan, store)
    results = _by_id(report)
    assert results["error-rate"].passed is False and results["response-time"].passed is False
    assert results["rollback-time"].passed is False and "did not reach verified health" in results["rollback-time"].note
    assert report.verdict == "fail" and report.category_verdict("technical") == "fail"


def test_operational_and_business(plan, store: Store):
    store.update_state(launch_started_at=utcnow() - dt.timedelta(hours=1))
    for n in range(3):
        incident = store.open_incident("SEV-3", f"cause-{n}", "x", "auto")
        store.update_incident(incident, "a", "resolve", status="resolved", resolved_at=utcnow() + dt.timedelta(hours=2))
    store.record_verdict("user-adoption", "pass", "rita", note="+12%")
    store.record_verdict("complaints", "pass", "rita", value=7)
    results = _by_id(evaluate(plan, store))
    assert results["incidents"].value == 3 and results["incidents"].passed is False
    assert results["resolution-time"].passed is False and results["resolution-time"].value > 7000
    assert results["user-adoption"].passed is True and "rita" in results["user-adoption"].note
    assert results["complaints"].value == 7 and results["complaints"].passed is False
    assert results["feature-usage"].passed is None
