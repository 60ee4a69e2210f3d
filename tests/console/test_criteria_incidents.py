"""Success criteria show pass/fail matching the recorded data; reviewers' verdicts are audited;
incidents are acknowledged and resolved from the console by a lead."""

from __future__ import annotations

import datetime as dt

ORDER = ("technical", "operational", "business")  # as the page lays them out


def _table(at, category: str):
    headings = [s.value.split(" ")[0].lower() for s in at.subheader if s.value.split(" ")[0].lower() in ORDER]
    assert headings == list(ORDER)
    return at.dataframe[ORDER.index(category)].value


def _result(table, title: str) -> str:
    return table.set_index("criterion").loc[title, "result"]


def test_criteria_match_the_recorded_data(full_store, plan, console):
    from launch_control.review.criteria import evaluate

    at = console("criteria")
    assert not at.exception
    report = evaluate(plan, full_store)
    for category in ("technical", "operational", "business"):
        table = _table(at, category)
        for r in report.category(category):
            assert _result(table, r.title).endswith(r.status), r.title
            assert table.set_index("criterion").loc[r.title, "value"] == r.shown_value
    technical = _table(at, "technical")
    assert _result(technical, "Error rate below 5%") == "✅ pass"
    assert _result(technical, "Rollback time below 2 minutes") == "✅ pass"
    assert technical.set_index("criterion").loc["Rollback time below 2 minutes", "value"] == "38.20s"
    assert _result(_table(at, "business"), "User adoption") == "✅ pass"  # rita's verdict


def test_a_slow_rollback_fails_its_criterion(full_store, console):
    now = dt.datetime.now(dt.UTC)
    rb = full_store.start_rollback(trigger="gate", reason="slow", actor="engine", target_version="v2.9.0",
                                   started_at=now - dt.timedelta(minutes=5))
    full_store.update_rollback(rb, finished_at=now, verified_at=now, ttr_seconds=300.0, ok=True)
    at = console("criteria")
    assert _result(_table(at, "technical"), "Rollback time below 2 minutes") == "❌ fail"
    assert any("Overall verdict: **FAIL**" in e.value for e in at.error)


def test_empty_store_is_pending(empty_store, console):
    at = console("criteria")
    assert any("PENDING" in i.value for i in at.info)
    assert _result(_table(at, "technical"), "Error rate below 5%") == "⏳ pending"


def test_reviewer_records_a_business_verdict(empty_store, console):
    at = console("criteria", role="reviewer", name="rita")
    at.selectbox[0].set_value("feature-usage")
    at.radio[0].set_value("fail")
    at.text_area[0].input("usage flat after week one")
    next(b for b in at.button if b.label == "Record verdict").click().run()
    assert not at.exception
    verdict = empty_store.verdicts()["feature-usage"]
    assert (verdict["verdict"], verdict["actor"]) == ("fail", "rita")
    assert verdict["note"] == "usage flat after week one"
    assert empty_store.events(action="criterion.verdict")[0]["actor"] == "rita"
    assert _result(_table(at, "business"), "Feature usage") == "❌ fail"
    assert any("Recorded **fail** for feature-usage as rita" in m.value for m in at.success), "feedback stays"


def test_lead_cannot_enter_verdicts(empty_store, console):
    at = console("criteria", role="lead")
    assert not [b for b in at.button if b.label == "Record verdict"]


def test_lead_acknowledges_and_resolves_an_incident(empty_store, console):
    incident = empty_store.open_incident("SEV-2", "error_rate", "canary 5xx at 12%", "engine")
    at = console("incidents", role="lead", name="lena")
    at.button(key=f"ack-{incident}").click().run()
    row = empty_store.incident(incident)
    assert row["status"] == "acknowledged" and row["acknowledged_by"] == "lena"
    assert any("acknowledged by lena" in s.value for s in at.success)
    at.text_input(key=f"note-{incident}").input("bad config reverted")
    at.button(key=f"resolve-{incident}").click().run()
    row = empty_store.incident(incident)
    assert row["status"] == "resolved" and row["resolved_by"] == "lena"
    assert row["details"]["note"] == "bad config reverted"
    assert empty_store.events(action="incident.resolve")[0]["actor"] == "lena"


def test_viewer_sees_incidents_but_cannot_act(empty_store, console):
    incident = empty_store.open_incident("SEV-3", "latency", "p95 high", "engine")
    at = console("incidents", role="viewer")
    assert at.dataframe[0].value["#"].iloc[0] == incident
    assert not [b for b in at.button if (b.key or "").startswith(("ack-", "resolve-"))]


def test_open_sev1_does_not_default_to_all_clear(empty_store, console):
    empty_store.open_incident("SEV-1", "error_rate", "canary error rate 27%", "engine")
    at = console("incidents", role="lead")
    assert not at.exception
    template = next(s for s in at.selectbox if s.label == "Template")
    assert template.value == "war-room", "an open SEV-1 opens the war-room template, not an all-clear"
    template.set_value("all-clear").run()
    assert any("still open" in w.value and "would be false" in w.value for w in at.warning)


def test_timeline_says_stopped_after_a_rollback(empty_store, plan, console):
    from launch_control.store.db import utcnow

    entry = next(e for e in plan.timeline.entries if e.action == "canary_ramp")
    empty_store.record_timeline(entry.id, "running", flow_run_id="00000000-0000-0000-0000-00000000000a")
    empty_store.update_state(phase="rolled_back", launch_started_at=utcnow())
    at = console("timeline")
    table = at.dataframe[0].value
    row = table[table["entry"] == entry.title].iloc[0]
    assert row["status"] == "stopped", "a rolled-back launch's ramp is not 'running' any more"
    assert "running" not in list(table["status"])
