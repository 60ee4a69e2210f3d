"""Communication templates (war-room update, status-page update, enterprise email, all-clear,
status check, post-mortem skeleton): Jinja2 files in the plan's ``templates`` folder, rendered
with the incident's and the launch's data.

A template's first line may be ``Subject: ...`` (the message subject); the rest is the body.
Rendering is strict: a field the template uses but the data lacks is a ``TemplateError`` that
names the template, the line and the field (``incident.summary``) — never a blank in a message
sent to customers.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from launch_control.errors import UsageError

SUFFIXES = (".md.j2", ".txt.j2", ".j2", ".md", "")
DEFAULT_FOLDER = "templates"


class TemplateError(UsageError):
    """A template that cannot be rendered; the message names the file, line and missing field."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    template: str


def template_dir(plan: Any) -> Path:
    return plan.resolve(plan.templates or DEFAULT_FOLDER)


def find_template(plan: Any, name: str) -> Path:
    folder = template_dir(plan)
    for suffix in SUFFIXES:
        path = folder / f"{name}{suffix}"
        if path.is_file():
            return path
    available = sorted(p.name for p in folder.glob("*")) if folder.is_dir() else []
    raise TemplateError(
        f"no template {name!r} in {folder} (available: {', '.join(available) or 'none'}); "
        "add the file or fix the plan's 'templates' folder"
    )


def render(plan: Any, name: str, context: Mapping[str, Any]) -> Rendered:
    """Render the plan's template ``name`` (``war-room`` → ``war-room.md.j2``) with ``context``."""
    path = find_template(plan, name)
    return render_text(path.read_text(encoding="utf-8"), context, name=str(path))


def render_text(source: str, context: Mapping[str, Any], *, name: str = "<template>") -> Rendered:
    import jinja2

    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True, trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["duration"] = _duration_filter
    try:
        template = env.from_string(source)
        template.filename = name
        text = template.render(**context)
    except jinja2.UndefinedError as exc:
        line = _template_line(exc, name)
        field = _missing_field(exc, source, line)
        where = f"{name}, line {line}" if line else name
        given = ", ".join(sorted(context)) or "nothing"
        raise TemplateError(
            f"template {where}: missing field {field!r} ({exc.message}); "
            f"the data given has: {given}. Pass the field or remove it from the template."
        ) from exc
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template {name}, line {exc.lineno}: syntax error: {exc.message}") from exc
    subject, body = _split_subject(text)
    return Rendered(subject=subject, text=body.strip() + "\n", template=name)


def _split_subject(text: str) -> tuple[str, str]:
    first, _, rest = text.lstrip("\n").partition("\n")
    if first.lower().startswith("subject:"):
        return first.split(":", 1)[1].strip(), rest
    return "", text


def _template_line(exc: BaseException, name: str) -> int | None:
    # Jinja rewrites tracebacks so that template frames carry the template's file name and line.
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == name:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _missing_field(exc: Any, source: str, line: int | None) -> str:
    message = str(exc.message or "")
    if match := re.match(r"^'([^']+)' is undefined$", message):
        return match.group(1)
    match = re.search(r"has no attribute '([^']+)'", message) or re.search(r"has no element '([^']+)'", message)
    if not match:
        return message
    attribute = match.group(1)
    # Recover the dotted path (incident.summary) from the template line that failed.
    lines = source.splitlines()
    if line and 0 < line <= len(lines):
        found = re.search(rf"([A-Za-z_][\w.]*\.{re.escape(attribute)})\b", lines[line - 1])
        if found:
            return found.group(1)
    return attribute


def _duration_filter(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    from launch_control.plan.units import format_duration

    return format_duration(float(seconds))


# --- the data templates are rendered with ------------------------------------------------------


def local_time(plan: Any, when: dt.datetime | None) -> str:
    if when is None:
        return "—"
    return when.astimezone(plan.timeline.tz).strftime("%Y-%m-%d %H:%M %Z")


def launch_context(plan: Any, store: Any = None) -> dict[str, Any]:
    """Fields every template may use: launch, on_call, now, rollback, components."""
    from launch_control.respond import oncall

    now = dt.datetime.now(dt.UTC)
    context: dict[str, Any] = {
        "launch": {
            "name": plan.name,
            "product": plan.release.product,
            "version": plan.release.version,
            "stable_version": plan.release.stable_version,
            "timezone": plan.timeline.timezone,
        },
        "on_call": oncall.roster_by_role(plan),
        "now": local_time(plan, now),
        "rollback": None,
        "components": {},
    }
    if store is not None:
        state = store.state()
        context["launch"].update(phase=state["phase"], canary_weight=state["canary_weight"])
        rollbacks = store.rollbacks()
        if rollbacks:
            last = rollbacks[-1]
            context["rollback"] = {
                "reason": last["reason"],
                "started_at": local_time(plan, last["started_at"]),
                "ttr_seconds": last["ttr_seconds"],
                "ok": last["ok"],
                "target_version": last["target_version"],
            }
        from launch_control.respond.statuspage import component_states

        context["components"] = {c.id: c.status for c in component_states(plan, store)}
    return context


def incident_context(plan: Any, store: Any, incident: Mapping[str, Any], *, update: str = "") -> dict[str, Any]:
    """``launch_context`` plus ``incident``: its fields, policy, response times and what changed."""
    from launch_control.respond import oncall
    from launch_control.respond.severity import policy_for, response_times

    policy = policy_for(plan, incident["severity"])
    times = response_times(plan, incident)
    details = dict(incident.get("details") or {})
    escalated = oncall.person(plan, incident.get("escalated_to"))
    context = launch_context(plan, store)
    context["incident"] = {
        "id": incident["id"],
        "severity": incident["severity"],
        "cause": incident["cause"],
        "summary": incident["summary"],
        "status": incident["status"],
        "component": details.get("component", "api"),
        "opened_at": local_time(plan, incident["opened_at"]),
        "opened_by": incident["opened_by"],
        "acknowledged_at": local_time(plan, incident.get("acknowledged_at")),
        "acknowledged_by": incident.get("acknowledged_by") or "",
        "resolved_at": local_time(plan, incident.get("resolved_at")),
        "resolved_by": incident.get("resolved_by") or "",
        "note": details.get("note", ""),
        "description": policy.description if policy else "",
        "respond_within": policy.respond_within if policy else None,
        "rollback": bool(policy and policy.rollback),
        "escalated_to": escalated or None,
        "time_to_acknowledge": times.time_to_acknowledge,
        "time_to_resolve": times.time_to_resolve,
        "duration": times.duration,
        "acknowledge_met": times.acknowledge_met,
        # "event", not "update": Jinja would find dict.update before the key.
        "event": update or incident["status"],
        "history": [
            {**h, "at": local_time(plan, dt.datetime.fromisoformat(h["at"])) if h.get("at") else "—"}
            for h in details.get("history", [])
        ],
    }
    return context
