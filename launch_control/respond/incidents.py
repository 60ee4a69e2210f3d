"""Incidents: opened automatically (failing gates, post-launch monitoring) or by people, with the
plan's SEV policy — notify its channels, page on-call, roll back on a SEV-1.

``IncidentManager.report(cause, severity, summary)`` keeps one active incident per cause: a
repeat report touches it (``last_seen_at``), a higher severity escalates it. ``sweep()``
auto-resolves incidents whose cause has been quiet for ``auto_resolve_after`` and escalates
unacknowledged ones along the on-call ladder (see ``launch_control.respond.oncall``). Time to
acknowledge and to resolve are measured against the severity's ``respond_within``.

Severities are written ``SEV-1`` (most severe) … ``SEV-3``; ``sev1`` / ``SEV1`` / ``1`` are
accepted and normalised.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from launch_control.errors import UsageError
from launch_control.respond.severity import (  # the severity policy's home; re-exported for callers
    SEVERITIES,
    ResponseTimes,
    normalise_severity,
    policy_for,
    rank,
    response_times,
)

__all__ = [
    "AUDIENCES", "SEVERITIES", "TEMPLATES", "IncidentManager", "ResponseTimes",
    "normalise_severity", "policy_for", "rank", "response_times",
]  # fmt: skip

log = logging.getLogger(__name__)

# Which template each audience gets for each kind of message.
TEMPLATES = {
    "team": {"incident.resolve": "all-clear", "default": "war-room"},
    "public": {"default": "status-page"},
    "customers": {"default": "enterprise-email"},
}
# Which audiences hear about each kind of message (customers only on open/escalate/resolve).
AUDIENCES = {
    "incident.open": ("team", "public", "customers"),
    "incident.escalate": ("team", "public", "customers"),
    "incident.page": ("team",),
    "incident.ack": ("team", "public"),
    "incident.resolve": ("team", "public", "customers"),
}


class IncidentManager:
    """Opens, escalates, acknowledges and resolves incidents per the plan; notifies; rolls back.

    ``notifier``: a ``launch_control.respond.notify.Notifier`` (None: record only). ``rollback``: a
    callable ``rollback(reason)`` run once per SEV-1 incident whose policy says ``rollback: true``.
    """

    def __init__(
        self,
        plan: Any,
        store: Any,
        notifier: Any = None,
        rollback: Callable[[str], Any] | None = None,
    ):
        self.plan = plan
        self.store = store
        self.notifier = notifier
        self.rollback = rollback
        self._lock = threading.RLock()

    @property
    def auto_resolve_after(self) -> float | None:
        return self.plan.incident_response.auto_resolve_after if self.plan.incident_response else None

    # --- reporting ----------------------------------------------------------------------------

    def active(self, cause: str | None = None) -> list[dict[str, Any]]:
        found = self.store.incidents(status="active")
        return [i for i in found if cause is None or i["cause"] == cause]

    def report(
        self,
        cause: str,
        severity: str,
        summary: str,
        actor: str = "auto",
        *,
        component: str = "api",
        auto_resolve: bool = True,
    ) -> int:
        """Open an incident for ``cause``, or touch/escalate the active one; returns its id.

        ``auto_resolve=False`` for incidents people open: no signal will touch them again, so
        the quiet period must not close them.
        """
        severity = normalise_severity(severity)
        if not cause or not summary:
            raise UsageError("an incident needs a cause (e.g. gate:error_rate) and a summary")
        with self._lock:
            existing = self.active(cause)
            if existing:
                return self._touch(existing[0], severity, summary, actor)
            now = self.store_now()
            incident_id, created = self.store.open_or_get_incident(
                severity,
                cause,
                summary,
                actor,
                component=component,
                auto_resolve=auto_resolve,
                reports=1,
                history=[{"at": now.isoformat(), "severity": severity, "summary": summary}],
            )
            if not created:  # another process opened this cause a moment ago: it is that one
                twin = self.store.incident(incident_id)
                assert twin is not None
                return self._touch(twin, severity, summary, actor)
            # A store from before the unique index (not upgraded yet): keep the oldest twin.
            twins = self.active(cause)
            if twins and twins[0]["id"] != incident_id:
                self.store.update_incident(
                    incident_id, actor, "resolve", status="resolved", resolved_at=now, resolved_by=actor,
                    details={**(self.store.incident(incident_id) or {}).get("details", {}),
                             "note": f"duplicate of #{twins[0]['id']}"},
                )
                return self._touch(twins[0], severity, summary, actor)
            incident = self.store.incident(incident_id)
            assert incident is not None
            self.announce("incident.open", incident)
            self._maybe_rollback(incident, summary)
            return incident_id

    def _touch(self, incident: dict[str, Any], severity: str, summary: str, actor: str) -> int:
        details = dict(incident["details"] or {})
        details["reports"] = int(details.get("reports", 1)) + 1
        now = self.store_now()
        if rank(severity) < rank(incident["severity"]):
            history = [*details.get("history", []), {"at": now.isoformat(), "severity": severity, "summary": summary}]
            details.update(history=history, escalated_from=incident["severity"])
            updated = self.store.update_incident(
                incident["id"], actor, "escalate", severity=severity, summary=summary, last_seen_at=now,
                details=details,
            )
            self.announce("incident.escalate", updated, update=f"escalated from {incident['severity']} to {severity}")
            self._maybe_rollback(updated, summary)
        else:
            self.store.update_incident(incident["id"], actor, "touch", last_seen_at=now, details=details)
        return int(incident["id"])

    def _maybe_rollback(self, incident: dict[str, Any], summary: str) -> None:
        policy = policy_for(self.plan, incident["severity"])
        details = dict(incident["details"] or {})
        if not (policy and policy.rollback) or details.get("rollback") or self.rollback is None:
            return
        reason = f"{incident['severity']} incident #{incident['id']}: {summary}"
        details["rollback"] = {"requested_at": self.store_now().isoformat(), "reason": reason}
        self.store.update_incident(incident["id"], "auto", "rollback", details=details)
        try:
            result = self.rollback(reason)
            outcome = {"ok": bool(getattr(result, "ok", True)), "ttr_seconds": getattr(result, "ttr_seconds", None)}
        except Exception as exc:  # the rollback owner records its own failure; we note it here
            log.exception("rollback for incident #%s failed", incident["id"])
            outcome = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        details["rollback"].update(outcome)
        self.store.update_incident(incident["id"], "auto", "touch", details=details)

    # --- people -------------------------------------------------------------------------------

    def _get(self, incident_id: int) -> dict[str, Any]:
        incident = self.store.incident(int(incident_id))
        if incident is None:
            raise UsageError(f"no incident #{incident_id}; list them with: launch-control incident list")
        return incident

    def acknowledge(self, incident_id: int, actor: str) -> dict[str, Any]:
        """Someone owns it now: stops on-call escalation. Acknowledging twice changes nothing."""
        with self._lock:
            incident = self._get(incident_id)
            if incident["status"] == "resolved":
                raise UsageError(f"incident #{incident_id} is already resolved")
            if incident["status"] == "acknowledged":
                return incident
            now = self.store_now()
            updated = self.store.update_incident(
                incident_id, actor, "acknowledge", status="acknowledged", acknowledged_at=now, acknowledged_by=actor
            )
            self.announce("incident.ack", updated, update=f"acknowledged by {actor}")
            return updated

    def resolve(self, incident_id: int, actor: str, note: str = "", *, at: dt.datetime | None = None) -> dict[str, Any]:
        with self._lock:
            incident = self._get(incident_id)
            if incident["status"] == "resolved":
                return incident
            details = {**(incident["details"] or {}), "note": note} if note else incident["details"]
            updated = self.store.update_incident(
                incident_id, actor, "resolve", status="resolved", resolved_at=at or self.store_now(),
                resolved_by=actor, details=details,
            )
            self.announce("incident.resolve", updated, update=f"resolved by {actor}" + (f": {note}" if note else ""))
            return updated

    # --- time passing -------------------------------------------------------------------------

    def sweep(self, now: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Auto-resolve quiet incidents; escalate unacknowledged ones. Returns what was done."""
        from launch_control.respond import oncall

        now = now or self.store_now()
        done: list[dict[str, Any]] = []
        quiet = self.auto_resolve_after
        with self._lock:
            for incident in self.active():
                details = incident["details"] or {}
                idle = (now - incident["last_seen_at"]).total_seconds()
                if quiet is not None and details.get("auto_resolve") and idle >= quiet:
                    from launch_control.plan.units import format_duration

                    note = f"auto-resolved: {incident['cause']} quiet for {format_duration(idle)}"
                    self.resolve(incident["id"], "auto", note, at=now)
                    done.append({"incident": incident["id"], "action": "resolve", "note": note})
                    continue
                policy = policy_for(self.plan, incident["severity"])
                step = oncall.due_step(self.plan, incident, policy.respond_within if policy else None, now)
                if step is not None:
                    updated = self.store.update_incident(incident["id"], "auto", "page", escalated_to=step.role)
                    who = f"{step.name} ({step.role}) {step.contact}".strip()
                    self.announce("incident.page", updated, update=f"not acknowledged in time — escalated to {who}")
                    done.append({"incident": incident["id"], "action": "page", "to": step.role})
        return done

    # --- notifications ------------------------------------------------------------------------

    def announce(self, kind: str, incident: Mapping[str, Any], *, update: str = "") -> None:
        """Render each audience's template and send it to the severity's channels (background)."""
        if self.notifier is None:
            return
        policy = policy_for(self.plan, incident["severity"])
        names = list(policy.notify) if policy else []
        groups: dict[str, list[str]] = {}
        for name in names:
            audience = self._audience(name)
            if audience in AUDIENCES.get(kind, ("team",)):
                groups.setdefault(audience, []).append(name)
        if not groups:
            return
        try:
            from launch_control.respond.templates import incident_context

            context = incident_context(self.plan, self.store, incident, update=update)
        except Exception as exc:
            log.exception("incident context for #%s", incident["id"])
            context = {"error": str(exc)}
        from launch_control.respond.notify.base import audience_context

        for audience, channels in groups.items():
            # Rendered from the audience's allow-listed fields only: a template cannot leak either.
            seen = audience_context(context, audience)
            subject, text = self._render(audience, kind, incident, seen)
            self.notifier.send(
                kind, subject, text, channels=channels, incident_id=int(incident["id"]),
                context={"incident": seen.get("incident", {}), "components": seen.get("components", {})},
            )

    def _audience(self, channel: str) -> str:
        try:
            return str(self.notifier.channel(channel).audience)
        except Exception:  # unknown or misconfigured: the notifier records the failure itself
            return "team"

    def _render(
        self, audience: str, kind: str, incident: Mapping[str, Any], context: Mapping[str, Any]
    ) -> tuple[str, str]:
        from launch_control.respond.templates import render

        table = TEMPLATES[audience]
        name = table.get(kind, table["default"])
        try:
            rendered = render(self.plan, name, context)
            subject = rendered.subject or f"[{incident['severity']}] {incident['summary']}"
            return subject, rendered.text
        except Exception as exc:  # a broken template must not silence an incident: send plain text
            log.error("template %s failed: %s", name, exc)
            self.store.audit("auto", "notify.template_error", template=name, error=str(exc), incident=incident["id"])
            if audience != "team":  # the plain fallback must not leak what the template leaves out
                subject = f"[{incident['severity']}] {self.plan.release.product}: incident {incident['status']}"
                return subject, f"Incident #{incident['id']} is {incident['status']}. Next update within 30 minutes."
            subject = f"[{incident['severity']}] {self.plan.release.product}: {incident['summary']}"
            text = (
                f"Incident #{incident['id']} ({incident['status']}): {incident['summary']}\n"
                f"Cause: {incident['cause']}\n(template {name!r} could not be rendered: {exc})"
            )
            return subject, text

    @staticmethod
    def store_now() -> dt.datetime:
        from launch_control.store.db import utcnow

        return utcnow()


def production_manager(plan: Any, store: Any, *, notifier: Any = None, actor: str = "incident") -> IncidentManager:
    """The manager the engine, monitoring and CLI use: the plan's notifier and the real rollback."""
    if notifier is None:
        from launch_control.respond.notify import Notifier

        notifier = Notifier(plan, store)

    def rollback(reason: str) -> Any:
        from launch_control.ramp.rollback import emergency_rollback

        return emergency_rollback(plan, store, reason=reason, actor=actor, trigger="incident")

    return IncidentManager(plan, store, notifier=notifier, rollback=rollback)
