"""Incidents: at most one active per cause and launch (the database's partial unique index decides
between processes), each change audited as ``incident.<action>``."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from launch_control.store.connection import Repository, new_id, row_dict
from launch_control.store.schema import incidents, jsonable, utcnow


class IncidentRecords(Repository):
    """Incidents of one launch."""

    def open_incident(self, severity: str, cause: str, summary: str, actor: str, **details: Any) -> int:
        """A new open incident for ``cause`` — or, if one is already active, that one's id."""
        return self.open_or_get_incident(severity, cause, summary, actor, **details)[0]

    def open_or_get_incident(
        self, severity: str, cause: str, summary: str, actor: str, **details: Any
    ) -> tuple[int, bool]:
        """``(id, True)`` for a new incident; ``(id of the active one, False)`` when ``cause``
        already has one — also when another process opened it a moment ago (the unique index
        ``uq_incidents_active_cause`` decides; the loser gets the winner's incident)."""
        try:
            return self._insert_incident(severity, cause, summary, actor, details), True
        except sa.exc.IntegrityError:
            query = incidents.select().where(
                incidents.c.launch_id == self.launch_id, incidents.c.cause == cause, incidents.c.status != "resolved"
            )
            with self.engine.connect() as conn:
                row = conn.execute(query.order_by(incidents.c.id)).first()
            if row is None:  # resolved in between: open a fresh one
                return self._insert_incident(severity, cause, summary, actor, details), True
            return int(row._mapping["id"]), False

    def _insert_incident(self, severity: str, cause: str, summary: str, actor: str, details: dict[str, Any]) -> int:
        with self._tx() as conn:
            now = utcnow()
            result = conn.execute(
                incidents.insert().values(
                    launch_id=self.launch_id,
                    severity=severity,
                    cause=cause,
                    summary=summary,
                    status="open",
                    opened_at=now,
                    opened_by=actor,
                    last_seen_at=now,
                    details=jsonable(details),
                )
            )
            incident_id = new_id(result)
            self._audit_in(
                conn,
                actor,
                "incident.open",
                {"incident": incident_id, "severity": severity, "cause": cause, "summary": summary},
                at=now,
            )
        return incident_id

    def update_incident(self, incident_id: int, actor: str, action: str, **fields: Any) -> dict[str, Any]:
        """Change an incident (acknowledge, resolve, escalate, touch) and audit it as ``incident.<action>``."""
        unknown = set(fields) - set(incidents.c.keys())
        if unknown:
            raise ValueError(f"unknown incident fields: {sorted(unknown)}")
        with self._tx() as conn:
            result = conn.execute(
                incidents.update()
                .where(incidents.c.id == incident_id, incidents.c.launch_id == self.launch_id)
                .values(**fields)
            )
            if result.rowcount == 0:
                raise KeyError(f"no incident #{incident_id} in launch {self.launch_id!r}")
            if action != "touch":
                self._audit_in(conn, actor, f"incident.{action}", {"incident": incident_id, **fields}, at=utcnow())
        incident = self.incident(incident_id)
        assert incident is not None
        return incident

    def incident(self, incident_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            return row_dict(
                conn.execute(
                    incidents.select().where(incidents.c.id == incident_id, incidents.c.launch_id == self.launch_id)
                ).first()
            )

    def incidents(self, *, status: str | None = None) -> list[dict[str, Any]]:
        """Incidents, oldest first; ``status`` one of open / acknowledged / resolved, or ``active``."""
        query = incidents.select().where(incidents.c.launch_id == self.launch_id)
        if status == "active":
            query = query.where(incidents.c.status != "resolved")
        elif status:
            query = query.where(incidents.c.status == status)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query.order_by(incidents.c.id))]
