"""On-call: the plan's roster and escalation ladder — who is told about an incident, and when
an unacknowledged incident is escalated to whom.

The ladder (``on_call.escalation``: ``after`` → role) is written for the most urgent case; for
every severity it starts when the severity's response target (``respond_within``) is missed
and keeps its spacing. With the PromptForge plan (5m → secondary, 15m → engineering-lead,
30m → cto): an unacknowledged SEV-1 reaches the secondary at 5 min, the engineering lead at
15 min, the CTO at 30 min; a SEV-2 (15 min target) at 15, 25 and 40 min; a SEV-3 (1 h) at
60, 70 and 85 min. The primary (the roster's first person) is on every incident from the start.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Step:
    at: float  # seconds after the incident opened
    role: str
    name: str
    contact: str


def roster_by_role(plan: Any) -> dict[str, dict[str, str]]:
    """role → {role, name, contact}; ``primary`` is always present (the roster's first person)."""
    people = {p.role: {"role": p.role, "name": p.name, "contact": p.contact} for p in plan.on_call.roster}
    if plan.on_call.roster and "primary" not in people:
        first = plan.on_call.roster[0]
        people["primary"] = {"role": first.role, "name": first.name, "contact": first.contact}
    people.setdefault("primary", {"role": "primary", "name": "(no one on call)", "contact": ""})
    return people


def person(plan: Any, role: str | None) -> dict[str, str] | None:
    if not role:
        return None
    return roster_by_role(plan).get(role) or {"role": role, "name": role, "contact": ""}


def escalation_schedule(plan: Any, respond_within: float | None) -> list[Step]:
    """When each escalation step fires for an incident with this response target."""
    ladder = list(plan.on_call.escalation)
    if not ladder:
        return []
    start = respond_within if respond_within is not None else ladder[0].after
    people = roster_by_role(plan)
    steps = []
    for rung in ladder:
        who = people.get(rung.to, {"name": rung.to, "contact": ""})
        steps.append(Step(start + (rung.after - ladder[0].after), rung.to, who["name"], who["contact"]))
    return steps


def due_step(plan: Any, incident: Mapping[str, Any], respond_within: float | None, now: dt.datetime) -> Step | None:
    """The next escalation step that is due now for an unacknowledged incident, or None.

    Steps are taken one at a time in order, so no one on the ladder is skipped even when a
    sweep runs late.
    """
    if incident.get("status") != "open":
        return None
    elapsed = (now - incident["opened_at"]).total_seconds()
    steps = escalation_schedule(plan, respond_within)
    roles = [s.role for s in steps]
    current = incident.get("escalated_to")
    position = roles.index(current) + 1 if current in roles else 0
    if position < len(steps) and elapsed >= steps[position].at:
        return steps[position]
    return None


def who_is_notified(plan: Any, severity: str) -> dict[str, Any]:
    """For a severity: its channels, the people paged first, and the escalation ladder."""
    from launch_control.respond.severity import policy_for

    policy = policy_for(plan, severity)
    primary = roster_by_role(plan)["primary"]
    return {
        "severity": severity,
        "channels": list(policy.notify) if policy else [],
        "respond_within": policy.respond_within if policy else None,
        "rollback": bool(policy and policy.rollback),
        "first": [primary],
        "escalation": [s.__dict__ for s in escalation_schedule(plan, policy.respond_within if policy else None)],
    }
