"""Checklist ticks (a tick and an un-tick are two rows, both audited) and automatic check results."""

from __future__ import annotations

from typing import Any

from launch_control.store.connection import Repository
from launch_control.store.schema import check_results, checklist_ticks, utcnow


class ChecklistRecords(Repository):
    """Checklist ticks and check results of one launch; the latest row per item is its state."""

    def tick(self, item_id: str, actor: str, *, ticked: bool = True, note: str = "") -> None:
        """Tick (or un-tick) a checklist item; both are kept, and audited."""
        with self._tx() as conn:
            now = utcnow()
            conn.execute(
                checklist_ticks.insert().values(
                    launch_id=self.launch_id, item_id=item_id, ticked=ticked, actor=actor, at=now, note=note
                )
            )
            self._audit_in(
                conn, actor, "checklist.tick" if ticked else "checklist.untick", {"item": item_id, "note": note}, at=now
            )

    def checklist(self) -> dict[str, dict[str, Any]]:
        """item id → its latest tick row (``ticked``, ``actor``, ``at``, ``note``)."""
        return self._latest(checklist_ticks, "item_id")

    def record_check(self, item_id: str, ok: bool, detail: str = "") -> None:
        with self._tx() as conn:
            conn.execute(
                check_results.insert().values(
                    launch_id=self.launch_id, item_id=item_id, ok=ok, detail=detail, at=utcnow()
                )
            )

    def check_results(self) -> dict[str, dict[str, Any]]:
        """item id → its latest automatic check result."""
        return self._latest(check_results, "item_id")
