"""Notifications: every delivery attempt, sent, failed or skipped, with its channel and incident."""

from __future__ import annotations

from typing import Any

from launch_control.store.connection import Repository
from launch_control.store.schema import notifications, utcnow


class NotificationRecords(Repository):
    """Notification attempts of one launch."""

    def record_notification(
        self,
        channel: str,
        kind: str,
        ok: bool,
        *,
        incident_id: int | None = None,
        attempts: int = 1,
        error: str = "",
        body: str = "",
    ) -> None:
        with self._tx() as conn:
            conn.execute(
                notifications.insert().values(
                    launch_id=self.launch_id,
                    at=utcnow(),
                    channel=channel,
                    kind=kind,
                    incident_id=incident_id,
                    ok=ok,
                    attempts=attempts,
                    error=error,
                    body=body,
                )
            )

    def notifications(self, incident_id: int | None = None) -> list[dict[str, Any]]:
        query = notifications.select().where(notifications.c.launch_id == self.launch_id)
        if incident_id is not None:
            query = query.where(notifications.c.incident_id == incident_id)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query.order_by(notifications.c.id))]
