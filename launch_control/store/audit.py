"""The audit trail: who did what, when; append-only rows (the ones a change writes in its own
transaction go through ``Repository._audit_in``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from launch_control.store.connection import Repository, new_id
from launch_control.store.schema import audit_events, jsonable, utcnow


class AuditRecords(Repository):
    """Audit events of one launch."""

    def audit(self, actor: str, action: str, **details: Any) -> int:
        """Append an audit event: who did what, when. Returns its id."""
        if not actor:
            raise ValueError("an audit event needs an actor")
        with self._tx() as conn:
            result = conn.execute(
                audit_events.insert().values(
                    launch_id=self.launch_id, at=utcnow(), actor=actor, action=action, details=jsonable(details)
                )
            )
            return new_id(result)

    def events(
        self, *, action: str | None = None, since: dt.datetime | None = None, limit: int | None = 200
    ) -> list[dict[str, Any]]:
        """Audit events, newest first."""
        query = audit_events.select().where(audit_events.c.launch_id == self.launch_id)
        if action:
            query = query.where(audit_events.c.action == action)
        if since:
            query = query.where(audit_events.c.at >= since)
        query = query.order_by(audit_events.c.id.desc())
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def count_events(self, action: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(audit_events).where(audit_events.c.launch_id == self.launch_id)
        if action:
            query = query.where(audit_events.c.action == action)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)
