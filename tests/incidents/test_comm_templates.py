"""Communication templates: every shipped template renders with an incident's data; a missing
field is a clear error naming the template, line and field (StrictUndefined)."""

from __future__ import annotations

import pytest

from launch_control.respond.incidents import IncidentManager
from launch_control.respond.templates import TemplateError, incident_context, launch_context, render, render_text

INCIDENT_TEMPLATES = ["war-room", "status-page", "enterprise-email", "all-clear", "post-mortem"]


@pytest.fixture
def resolved_context(plan, sqlite_store):
    manager = IncidentManager(plan, sqlite_store)
    incident_id = manager.report("canary:latency_p95", "SEV-2", "p95 6.2 s on canary")
    manager.acknowledge(incident_id, "priya")
    manager.resolve(incident_id, "priya", "cache warmed")
    return incident_context(plan, sqlite_store, sqlite_store.incident(incident_id), update="resolved")


@pytest.mark.parametrize("name", INCIDENT_TEMPLATES)
def test_every_incident_template_renders(plan, resolved_context, name):
    rendered = render(plan, name, resolved_context)
    assert rendered.subject, f"{name} has no Subject line"
    assert rendered.template.endswith(f"{name}.md.j2")
    for bad in ("None", "{{", "}}", "Undefined"):
        assert bad not in rendered.subject + rendered.text, f"{name}: {bad!r} leaked into the message"
    assert "PromptForge" in rendered.subject + rendered.text


def test_post_mortem_skeleton_has_times_and_sections(plan, resolved_context):
    text = render(plan, "post-mortem", resolved_context).text
    for heading in ("## Summary", "## Impact", "## Timeline", "## Root cause", "## Action items"):
        assert heading in text
    assert "| Time to acknowledge |" in text and "target 15m, met" in text
    assert "SEV-2: p95 6.2 s on canary" in text and "resolved: cache warmed" in text


def test_status_check_template(plan, sqlite_store):
    check = {"title": "Status check", "phase": "intensive", "verdict": "ok", "requests": 1200,
             "error_rate": "0.40%", "latency_p95": "0.210s", "active_incidents": 0, "worst": None, "breaches": []}
    rendered = render(plan, "status-check", {**launch_context(plan, sqlite_store), "check": check})
    assert rendered.subject == "PromptForge v3.0.0 status check — Status check (ok)"
    assert "1200 requests, error rate 0.40%" in rendered.text and "api operational" in rendered.text


def test_missing_nested_field_names_the_field_and_line():
    with pytest.raises(TemplateError) as err:
        render_text("Subject: hi\nline two\nSeverity {{ incident.severity }}: {{ incident.summary }}\n",
                    {"incident": {"severity": "SEV-1"}}, name="war-room.md.j2")
    message = str(err.value)
    assert "war-room.md.j2, line 3" in message
    assert "missing field 'incident.summary'" in message
    assert "the data given has: incident" in message


def test_missing_top_level_field():
    with pytest.raises(TemplateError, match=r"missing field 'launch'"):
        render_text("{{ launch.version }}", {})


def test_shipped_template_with_missing_field(plan, resolved_context):
    context = {**resolved_context, "incident": {k: v for k, v in resolved_context["incident"].items()
                                                if k != "summary"}}
    with pytest.raises(TemplateError) as err:
        render(plan, "enterprise-email", context)
    assert "enterprise-email.md.j2, line 1" in str(err.value) and "'incident.summary'" in str(err.value)


def test_unknown_template_lists_the_available_ones(plan):
    with pytest.raises(TemplateError, match=r"no template 'press-release'.*available: .*war-room\.md\.j2"):
        render(plan, "press-release", {})


def test_syntax_error_is_reported_with_line():
    with pytest.raises(TemplateError, match=r"line 2: syntax error"):
        render_text("ok\n{% if %}\n", {}, name="t.j2")
