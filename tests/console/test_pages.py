"""Every console page renders with an empty store and with a full launch's data, and shows it."""

from __future__ import annotations

import pytest
from conftest import PAGES

TITLES = {
    "overview": "Launch overview",
    "checklist": "Launch checklist",
    "timeline": "Launch-day timeline",
    "metrics": "Metrics",
    "rate_limits": "Rate limits",
    "incidents": "Incidents and runbook",
    "controls": "Controls",
    "criteria": "Success criteria",
}


def _ok(at) -> None:
    assert not at.exception, at.exception[0].message + "\n" + "\n".join(at.exception[0].stack_trace)


@pytest.mark.parametrize("page", list(PAGES))
@pytest.mark.parametrize("data", ["full_store", "empty_store"])
def test_every_page_renders(page, data, request, console):
    request.getfixturevalue(data)
    at = console(page, role="lead")
    _ok(at)
    assert [t.value for t in at.title] == [TITLES[page]]


def metrics_by_label(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _markdown(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_overview_shows_the_launch(full_store, console):
    at = console("overview")
    _ok(at)
    header = _markdown(at)
    assert "**Complete**" in header, header
    assert "Canary v3.0.0 **100%** · stable v2.9.0 0%" in header
    assert ":green[✓ 4: 100%]" in header, "every step done"
    assert "no hold running" in header, "no time left once the ramp ended"
    shown = metrics_by_label(at)
    assert shown["Last rollback TTR"] == "38.2 s"
    assert shown["Incidents"] == "1 open"
    assert "Latest gate verdict" in header and "**healthy**" in header
    assert any(e.label == "What the gate saw" for e in at.expander)


def test_overview_hold_countdown(empty_store, plan, console):
    from launch_control.store.db import utcnow

    empty_store.update_state(phase="ramping", current_step=1, canary_weight=5.0, step_started_at=utcnow())
    at = console("overview")
    _ok(at)
    header = _markdown(at)
    assert "**▶ 2: 5%**" in header, "the current step is highlighted"
    assert "hold:" in header and "left" in header


def test_header_warns_when_traffic_differs_from_the_step(empty_store, console):
    empty_store.update_state(phase="ramping", current_step=1, canary_weight=60.0)
    at = console("metrics")
    assert any("serves 60% but step 2 is 5%" in w.value for w in at.warning)


def test_overview_empty_store(empty_store, console):
    at = console("overview")
    _ok(at)
    assert "**Planned**" in _markdown(at)
    assert metrics_by_label(at)["Last rollback TTR"] == "no rollback yet"
    assert any("No gate has judged" in c.value for c in at.caption)


def test_degradation_banner_emergency_and_dismiss(empty_store, console):
    from launch_control.protect.degrade import StoreBoard, set_degraded

    set_degraded(StoreBoard(empty_store), "live model outage", retry_after=30, emergency=True, source="breaker:model")
    at = console("overview")
    _ok(at)
    assert len(at.error) == 1
    text = at.error[0].value
    assert "EMERGENCY" in text and "live model outage" in text and "Next retry in" in text
    dismiss = next(b for b in at.button if b.label == "Dismiss")
    dismiss.click().run()
    assert not at.error, "a dismissed banner stays hidden for the session"


def test_degradation_banner_warning_when_not_emergency(empty_store, console):
    from launch_control.protect.degrade import StoreBoard, clear_degraded, set_degraded

    board = StoreBoard(empty_store)
    set_degraded(board, "simulated answers: model slow", retry_after=None)
    at = console("overview")
    assert len(at.warning) == 1 and "simulated answers" in at.warning[0].value and not at.error
    clear_degraded(board)
    at.run()
    assert not at.warning


def test_metrics_charts_with_limits_and_markers(full_store, console):
    at = console("metrics")
    _ok(at)
    charts = at.get("plotly_chart")
    assert len(charts) == 6
    import json

    error_chart = json.loads(charts[0].proto.spec)
    names = {trace["name"] for trace in error_chart["data"]}
    assert {"stable mean", "canary mean"} <= names, "the launch window (the default) shows both versions"
    texts = [a["text"] for a in error_chart["layout"]["annotations"]]
    assert "step 1%" in texts and "step 100%" in texts and texts.count("step 25%") == 1, "each step marked once"
    for limit in ("SEV-3 5%", "SEV-2 10%", "SEV-1 20%"):  # drawn when in range, else noted as off-scale
        assert limit in texts or any(t.startswith("off-scale above: ") and limit in t for t in texts), limit
    top = error_chart["layout"]["yaxis"]["range"][1]
    drawn = [line for line in ("SEV-3 5%", "SEV-2 10%", "SEV-1 20%") if line in texts]
    assert all(float(line.split()[1].rstrip("%")) <= top for line in drawn), "only limits inside the axis are drawn"
    at.radio(key="metrics_range").set_value("Last hour").run()
    _ok(at)
    error_chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert {t["name"] for t in error_chart["data"]} <= {"canary mean", "canary peak"}, "the release takes it all"
    at.radio(key="metrics_range").set_value("72 hours").run()
    _ok(at)
    error_chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    points = sum(len(trace["x"]) for trace in error_chart["data"] if trace["name"].endswith("mean"))
    assert 0 < points <= 2 * 400, "72 h are drawn downsampled"
    texts = [a["text"] for a in error_chart["layout"]["annotations"]]
    assert any(t.startswith("rollback TTR 38.2 s") for t in texts), "the rollback is marked with its TTR"
    csv_button = at.get("download_button")
    assert csv_button


def test_metrics_empty(empty_store, console):
    at = console("metrics")
    _ok(at)
    assert any("No metric samples" in i.value for i in at.info)


def test_timeline_planned_against_actual(full_store, console):
    import json

    at = console("timeline")
    _ok(at)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = [trace["name"] for trace in spec["data"]]
    assert names[0] == "planned" and "actual · done" in names
    table = at.dataframe[0].value
    assert list(table["status"]).count("done") == 13
    assert table["flow run"].iloc[0] == "00000000-0000-0000-0000-000000000001"


def test_timeline_links_to_prefect_ui(full_store, console, monkeypatch):
    monkeypatch.setenv("PREFECT_UI_URL", "http://127.0.0.1:4200")
    at = console("timeline")
    _ok(at)
    table = at.dataframe[0].value
    assert table["flow run"].iloc[0] == "http://127.0.0.1:4200/runs/flow-run/00000000-0000-0000-0000-000000000001"


def test_incidents_log_roster_and_templates(full_store, console):
    at = console("incidents")
    _ok(at)
    log = at.dataframe[0].value
    assert list(log["status"]) == ["open", "resolved"]
    roster = next(d.value for d in at.dataframe if "contact" in d.value.columns)
    assert "Priya Raman" in list(roster["name"])
    code = at.code
    # Incident #2 is still open: the war-room message is offered first, never an all-clear.
    assert next(s for s in at.selectbox if s.label == "Template").value == "war-room"
    assert code and "incident #2" in code[0].value and "Stable error rate above 5%" in code[0].value


def test_rate_limits_say_plainly_when_no_data(empty_store, console, monkeypatch):
    monkeypatch.setenv("LAUNCH_CONTROL_RATELIMIT_METRICS_URLS", "http://127.0.0.1:9/metrics")
    at = console("rate_limits")
    _ok(at)
    infos = [i.value for i in at.info]
    assert any(i.startswith("No rate-limit data") for i in infos)
    assert any(i.startswith("No per-org data") for i in infos)


def test_overview_draws_the_sequential_evidence_of_the_current_step(empty_store, plan, console):
    import datetime as dt
    import json

    from launch_control.ramp.analysis import Gate
    from launch_control.ramp.observations import Observation, VersionWindow

    # A real gate's verdicts, recorded as the engine records them: step 2, a canary at 5 % errors.
    gate = Gate(plan.analysis)
    t0 = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
    for minute in range(6):
        verdict = gate.judge(Observation(at=t0, interval=60, stable=VersionWindow(requests=2850, errors=28),
                                         canary=VersionWindow(requests=150, errors=7 if minute < 5 else 9)))
        empty_store.record_decision(verdict.outcome, verdict.reason, step=1, weight=5.0, details=verdict.details,
                                    at=t0 + dt.timedelta(minutes=minute))
        if verdict.rollback:
            break
    at = console("overview")
    _ok(at)
    chart = json.loads(next(c for c in at.get("plotly_chart") if "evidence" in c.proto.spec).proto.spec)
    assert chart["layout"]["title"]["text"] == "Sequential test evidence, step 2"
    assert chart["layout"]["yaxis"]["type"] == "log"
    harm = next(t for t in chart["data"] if t["name"] == "error rate: evidence of harm")
    assert len(harm["y"]) == minute + 1 and harm["y"][-1] > harm["y"][0]  # a bad canary: evidence of harm grows
    assert any("decides at 20 (1/alpha)" in a["text"] for a in chart["layout"]["annotations"])


def test_overview_without_sequential_evidence_draws_no_evidence_chart(empty_store, console):
    empty_store.record_decision("pass", "canary healthy", step=0, weight=1.0, details={})
    at = console("overview")
    _ok(at)
    assert not any("evidence" in c.proto.spec for c in at.get("plotly_chart"))
