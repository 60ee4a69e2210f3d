"""The review report: one self-contained HTML file (no network) with timeline, charts with SEV
limits and step markers, gate decisions, rollbacks with TTR, incidents with response times,
checklist completion and the success-criteria verdict; and ``launch-control report --out``."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

from launch_control.respond.incidents import IncidentManager
from launch_control.review.report import render_report
from launch_control.store.db import utcnow

MIN = dt.timedelta(minutes=1)


def populate(plan, store):
    t0 = utcnow() - 90 * MIN
    rows = []
    for i in range(60):
        at = t0 + i * MIN
        for role, err in (("stable", 0.004), ("canary", 0.006 if i < 40 else 0.25)):
            rows += [{"at": at, "version": role, "metric": "error_rate", "value": err},
                     {"at": at, "version": role, "metric": "latency_p95", "value": 0.2 + i / 1000},
                     {"at": at, "version": role, "metric": "requests", "value": 300}]
    store.record_samples(rows)
    store.record_decision("pass", "error rate 0.6% within limits", step=0, weight=1, at=t0 + 10 * MIN)
    store.record_decision("pass", "error rate 0.6% within limits", step=1, weight=5, at=t0 + 30 * MIN)
    store.record_decision("fail", "canary error rate 25% > SEV-1 limit 20%", step=1, weight=5, severity="SEV-1",
                          at=t0 + 41 * MIN)
    rollback_id = store.start_rollback(trigger="gate", reason="SEV-1 error rate", actor="engine",
                                       target_version="v2.9.0", started_at=t0 + 41 * MIN)
    store.update_rollback(rollback_id, ttr_seconds=3.42, ok=True, verified_at=t0 + 41 * MIN + dt.timedelta(seconds=3))
    manager = IncidentManager(plan, store)
    incident_id = manager.report("canary:error_rate", "SEV-1", "canary error rate 25%")
    manager.acknowledge(incident_id, "priya")
    manager.resolve(incident_id, "priya", "rolled back")
    store.tick("infra-capacity", "sre-bob")
    store.tick("code-tests-green", "lead-ann")
    store.record_check("infra-capacity", True, "200 OK")
    store.record_timeline("pre-launch-verification", "running")
    store.record_timeline("pre-launch-verification", "done", detail="all checks green")
    store.record_notification("war-room", "incident.open", True, incident_id=incident_id, body="x")
    store.record_notification("enterprise-email", "incident.open", False, incident_id=incident_id, attempts=0,
                              error="skipped: not configured")
    return incident_id


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_report_has_every_section_and_no_network(plan, store):
    incident_id = populate(plan, store)
    html = render_report(plan, store)
    parser = Tags()
    parser.feed(html)
    tags = [t for t, _ in parser.tags]
    # self-contained: no scripts, no links, no external references of any kind
    assert "script" not in tags and "link" not in tags and "img" not in tags and "iframe" not in tags
    assert not re.search(r"https?://", html)
    assert not any(k in ("src", "href") for _, attrs in parser.tags for k in attrs)

    for section in ("criteria", "timeline", "metrics", "decisions", "rollbacks", "incidents", "notifications",
                    "checklist"):
        assert f"<section id='{section}'>" in html
    # incident with its response times against the SEV-1 target
    row = re.search(rf"<tr id='incident-{incident_id}'>.*?</tr>", html).group(0)
    assert "SEV-1" in row and "canary error rate 25%" in row and "priya" in row and "5m" in row
    assert row.count("✓") == 2  # acknowledged and resolved within 5 minutes
    # rollback TTR against the budget
    assert "3.42 s" in html and "within budget" in html and "TTR budget 2m" in html
    # charts: inline SVG lines per version, SEV limits and step markers
    assert html.count("<svg") >= 2 and "<polyline" in html
    assert "SEV-1 20%" in html and ">5%</text>" in html and ">rollback TTR 3.4 s</text>" in html
    # gate decisions with reasons
    assert "canary error rate 25% &gt; SEV-1 limit 20%" in html
    # checklist completion, timeline actual vs planned, notifications, criteria verdicts
    assert "pre-launch: 2/10 (20%)" in html
    assert "all checks green" in html
    assert re.search(r"<td>enterprise-email</td><td class='num'>0</td><td class='num'>0</td><td class='num'>1</td>",
                     html)
    assert "Technical" in html and "Rollback time below 2 minutes" in html and "Operational" in html


def test_empty_launch_still_renders(plan, sqlite_store):
    html = render_report(plan, sqlite_store)
    assert "No incidents." in html and "No rollbacks." in html and "No metric samples were recorded." in html


def run_cli_inline(capsys, *argv):
    """The real CLI entry in this process (the subprocess start-up costs ~2 s on a busy machine)."""
    from launch_control.cli import _guarded, run

    code = _guarded(lambda: run(list(argv)))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_incident_commands_and_report(cli, capsys, tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("LAUNCH_CONTROL_ACTOR", "tester")
    # one real subprocess: the installed entry point works end to end
    result = cli("incident", "open", "--severity", "sev2", "--summary", "checkout errors", "--wait", "2")
    assert result.returncode == 0, result.stderr
    assert "#1 SEV-2 open: checkout errors" in result.stdout
    monkeypatch.setenv("LAUNCH_CONTROL_DATA_DIR", str(tmp_path / "data"))  # the subprocess's store

    assert run_cli_inline(capsys, "incident", "ack", "1")[0] == 0
    code, out, _ = run_cli_inline(capsys, "incident", "resolve", "1", "--note", "fixed the config")
    assert code == 0 and "resolved" in out
    code, out, _ = run_cli_inline(capsys, "incident", "list", "--all", "--json")
    (incident,) = json.loads(out)
    assert incident["status"] == "resolved" and incident["acknowledged_by"] == "tester"
    assert incident["response"]["acknowledge_met"] is True and incident["response"]["target"] == 900

    code, _, err = run_cli_inline(capsys, "incident", "ack", "99")
    assert code == 2 and "error: no incident #99" in err
    code, _, err = run_cli_inline(capsys, "incident", "open", "--severity", "SEV-5", "--summary", "x")
    assert code == 2 and "unknown severity 'SEV-5'" in err

    code, out, _ = run_cli_inline(capsys, "incident", "postmortem", "1")
    assert code == 0 and "# Post-mortem: checkout errors" in out

    report = tmp_path / "report.html"
    code, _, err = run_cli_inline(capsys, "report", "--out", str(report))
    assert code == 0, err
    html = report.read_text()
    assert "<tr id='incident-1'>" in html and "checkout errors" in html
    code, _, err = run_cli_inline(capsys, "report", "--out", str(tmp_path))
    assert code == 2 and "is a directory" in err

    code, out, _ = run_cli_inline(capsys, "statuspage", "--json")
    assert code == 0 and json.loads(out)["status"]["indicator"] == "none"
    code, out, _ = run_cli_inline(capsys, "incident", "oncall", "--json")
    sev1 = json.loads(out)[0]
    assert sev1["rollback"] is True
    assert [s["role"] for s in sev1["escalation"]] == ["secondary", "engineering-lead", "cto"]


def test_report_axis_follows_millisecond_latency(store, plan):
    """3 ms latencies get a millisecond axis (the 3 s / 10 s limits are listed off-scale, not drawn)."""
    from launch_control.review.report import render_report

    t0 = dt.datetime(2026, 3, 3, 12, 0, tzinfo=dt.UTC)
    store.update_state(launch_started_at=t0)
    store.record_samples([{"at": t0 + i * MIN, "version": role, "metric": "latency_p95", "value": 0.003}
                          for i in range(30) for role in ("stable", "canary")])
    html = render_report(plan, store)
    chart = html[html.index('aria-label="latency_p95"'):]
    chart = chart[: chart.index("</svg>")]
    assert "3.45 ms" in chart, "the axis top is just above the data"
    assert "off-scale above: SEV-3 3 s, SEV-2 5 s, SEV-1 10 s" in chart
    assert ">12:00:00<" not in chart or ">12:29:00<" in chart, "the axis does not read one time at both ends"
