"""The launch plan: the shipped plan loads and round-trips; broken plans name file, field, reason."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from launch_control.plan.model import DEFAULT_PLAN, PlanError, dump_plan, parse_plan
from launch_control.plan.units import format_duration, parse_duration, parse_fraction, parse_percent, parse_rate
from launch_control.store.lastgood import load_plan


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_PLAN.read_text())


def test_default_plan_encodes_promptforge_v3(plan):
    assert plan.release.version == "v3.0.0" and plan.release.stable_version == "v2.9.0"
    assert plan.release.branch == "main" and plan.release.tag_name == "v3.0.0"
    assert [(s.weight, s.hold) for s in plan.canary.steps] == [(1, 1800), (5, 3600), (25, 7200), (100, 0)]
    er = plan.analysis.metrics["error_rate"]
    assert (er.sev3, er.sev2, er.sev1) == (0.05, 0.10, 0.20)
    rt = plan.analysis.metrics["latency_avg"]
    assert (rt.sev3, rt.sev2, rt.sev1) == (3, 5, 10)
    assert plan.analysis.metrics["cpu"].sev3 == 0.80 and plan.analysis.metrics["memory"].sev3 == 0.85
    assert plan.rollback.ttr_budget == 120
    limits = {p.path: (p.rate, p.window) for p in plan.rate_limits.policies}
    assert limits == {"/api/gpt-test": (60, 60), "/api/run/*": (60, 60), "/api/analytics": (120, 60)}
    assert all(p.burst > 0 for p in plan.rate_limits.policies)
    times = [e.at.strftime("%H:%M") for e in plan.timeline.entries]
    assert times[:8] == ["08:00", "08:30", "09:00", "09:30", "10:00", "11:00", "13:00", "14:00"]
    assert times[8:] == ["16:00", "18:00", "20:00", "22:00", "00:00"] and plan.timeline.entries[-1].day == 1
    assert [(p.name, p.start, p.end) for p in plan.timeline.post_launch] == [
        ("intensive", 0, 86400),
        ("extended", 86400, 172800),
        ("stabilization", 172800, 259200),
    ]
    groups = {item.group for _, item in plan.checklist.items()}
    assert {
        "Infrastructure readiness",
        "Code quality and security checks",
        "Documentation updates",
        "Communication preparation",
    } <= groups
    assert {c.id for c in plan.success_criteria.technical} == {"error-rate", "response-time", "uptime", "rollback-time"}
    assert plan.incident_response.severities["SEV-1"].rollback is True
    assert plan.incident_response.severities["SEV-1"].respond_within == 300
    assert [p.role for p in plan.on_call.roster] == ["primary", "secondary", "engineering-lead", "cto"]


def test_default_plan_round_trips(plan):
    again = parse_plan(dump_plan(plan), "round-trip")
    assert again.model_dump() == plan.model_dump()
    # and through YAML text, as a person would save it
    text = yaml.safe_dump(dump_plan(plan))
    assert parse_plan(yaml.safe_load(text), "yaml").model_dump() == plan.model_dump()


def test_threshold_breach_levels(plan):
    er = plan.analysis.metrics["error_rate"]
    assert er.breached(0.04) is None
    assert er.breached(0.06) == "sev3" and er.breached(0.12) == "sev2" and er.breached(0.25) == "sev1"
    avail = plan.analysis.metrics["availability"]
    assert avail.breached(0.2) == "sev1" and avail.breached(1.0) is None


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    target: Any = data
    for key in keys[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    last = keys[-1]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value


def _delete(data: dict[str, Any], path: str) -> None:
    keys = path.split(".")
    target: Any = data
    for key in keys[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    del target[keys[-1]]


BROKEN: list[tuple[str, str, Any, str, str]] = [
    # (case, path, value or "<delete>", expected field path in message, expected words)
    ("falling weights", "canary.steps.2.weight", "3%", "canary.steps", "must rise"),
    ("weight over 100", "canary.steps.3.weight", "150%", "canary.steps[3].weight", "between 0 and 100"),
    ("last step not 100", "canary.steps.3.weight", "90%", "canary.steps", "last step must send 100%"),
    ("unknown key", "canary.stpes", [], "canary.stpes", "unknown key"),
    ("bad duration", "canary.steps.0.hold", "30 minutes", "canary.steps[0].hold", "expected a duration"),
    ("negative duration", "analysis.interval", -5, "analysis.interval", "cannot be negative"),
    ("bad timezone", "timeline.timezone", "Mars/Olympus", "timeline.timezone", "unknown time zone"),
    ("missing stable version", "release.stable_version", "<delete>", "release.stable_version", "required"),
    ("same versions", "release.stable_version", "v3.0.0", "(top level)", "must differ"),
    (
        "duplicate checklist ids",
        "checklist.launch-day.1.id",
        "day-verification",
        "checklist",
        "duplicate checklist item",
    ),
    ("threshold of wrong type", "analysis.metrics.error_rate.sev2", "lots", "analysis", "metrics.error_rate.sev2"),
    (
        "latency threshold not a duration",
        "analysis.metrics.latency_p95.sev3",
        "fast",
        "analysis",
        "expected a duration",
    ),
    ("unknown metric", "analysis.metrics.happiness", {"sev3": "5%"}, "analysis", "unknown metric"),
    # One rule for weights and ratios: a bare number from 0 to 1 is ambiguous (5% or 0.05%?).
    ("bare ratio below 1", "analysis.metrics.error_rate.sev3", 0.05, "analysis", "write it with a % sign (5% or 0.05%"),
    (
        "bad rate",
        "rate_limits.policies.0.limit",
        "sixty per minute",
        "rate_limits.policies[0].limit",
        "expected a rate",
    ),
    ("negative burst", "rate_limits.policies.0.burst", -1, "rate_limits.policies[0].burst", "greater than or equal"),
    ("phase names unknown policy", "rate_limits.phases", {"emergency": {"nope": "50%"}}, "rate_limits", "nope"),
    ("bad clock time", "timeline.entries.0.at", "8 o'clock", "timeline.entries[0].at", "clock time"),
    ("unknown timeline action", "timeline.entries.0.action", "dance", "timeline.entries[0].action", "Input should be"),
    ("canary_step without step", "timeline.entries.4.step", 9, "(top level)", "step must index canary.steps"),
    ("unknown notify channel", "incident_response.severities.SEV-3.notify", ["pager"], "(top level)", "no channel"),
    ("escalation to unknown role", "on_call.escalation.0.to", "intern", "on_call", "no one in the roster"),
    (
        "http check without url",
        "checklist.pre-launch.0.check",
        {"type": "http"},
        "checklist.pre-launch[0].check",
        "needs",
    ),
    ("criterion target wrong unit", "success_criteria.technical.1.target", "quick", "success_criteria", "target"),
    (
        "criterion unknown measure",
        "success_criteria.technical.0.measure",
        "vibes",
        "success_criteria",
        "unknown measure",
    ),
    ("bad identifier", "checklist.launch-day.0.id", "Has Spaces", "checklist.launch-day[0].id", "pattern"),
    ("empty steps", "canary.steps", [], "canary.steps", "at least 1"),
    (
        "promotion margin below tolerance",
        "analysis.sequential.error_rate_promotion_margin",
        "0.2%",
        "analysis.sequential",
        "error_rate_promotion_margin (0.2%) is below error_rate_tolerance (0.5%)",
    ),
]


@pytest.mark.parametrize(("case", "path", "value", "where", "words"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_plan_names_file_field_and_reason(tmp_path: Path, raw, case, path, value, where, words):
    data = copy.deepcopy(raw)
    if value == "<delete>":
        _delete(data, path)
    else:
        _set(data, path, value)
    bad = tmp_path / f"{case.replace(' ', '-')}.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(PlanError) as info:
        load_plan(bad)
    message = str(info.value)
    assert str(bad) in message
    assert where in message, message
    assert words in message, message


def test_not_yaml_and_missing_file(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("release: [unclosed\n")
    with pytest.raises(PlanError, match=r"(?s)bad.yaml.*line 2.*not valid YAML"):
        load_plan(bad)
    with pytest.raises(PlanError, match="no such file"):
        load_plan(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(PlanError, match="a plan is a YAML mapping"):
        load_plan(tmp_path / "list.yaml")


def test_plan_from_environment(tmp_path: Path, raw, monkeypatch):
    data = copy.deepcopy(raw)
    data["name"] = "other-team"
    data["release"]["version"] = "v9.9.9"
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("LAUNCH_CONTROL_PLAN", str(path))
    assert load_plan().release.version == "v9.9.9"
    assert load_plan().launch_id == "other-team"


@pytest.mark.parametrize(
    ("text", "seconds"), [("30m", 1800), ("1h", 3600), ("2h", 7200), ("1h30m", 5400), ("250ms", 0.25), (90, 90)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_units_refuse_nonsense():
    for bad in ("", "h", "5 parsecs", "1x", True):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert parse_percent("5%") == 5 and parse_percent(25) == 25
    assert parse_fraction("5%") == pytest.approx(0.05) and parse_fraction(0.2) == 0.2
    assert parse_rate("60/min") == (60, 60) and parse_rate("10/s") == (10, 1) and parse_rate("120/1m") == (120, 60)
    assert format_duration(5400) == "1h30m" and format_duration(0.25) == "250ms"
    with pytest.raises(ValueError):
        parse_percent("abc")
