"""Rollbacks: when each stage happened and how long recovery took; starting one marks the launch
state ended so a running engine stops."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from launch_control.store.connection import Repository, new_id
from launch_control.store.schema import jsonable, launch_state, rollbacks


class RollbackRecords(Repository):
    """Rollbacks of one launch."""

    def start_rollback(
        self, *, trigger: str, reason: str, actor: str, target_version: str, started_at: dt.datetime
    ) -> int:
        with self._tx() as conn:
            result = conn.execute(
                rollbacks.insert().values(
                    launch_id=self.launch_id,
                    trigger=trigger,
                    reason=reason,
                    actor=actor,
                    target_version=target_version,
                    started_at=started_at,
                    details={},
                )
            )
            rollback_id = new_id(result)
            # Who ended the ramp and why, on the launch state itself: a running engine reads it
            # on its next interval and ends with "rolled back by <actor>: <reason>".
            current = conn.execute(
                sa.select(launch_state.c.extra).where(launch_state.c.launch_id == self.launch_id)
            ).first()
            if current is not None:
                ended = {"by": actor, "reason": reason, "trigger": trigger, "at": started_at.isoformat()}
                conn.execute(
                    launch_state.update()
                    .where(launch_state.c.launch_id == self.launch_id)
                    .values(extra={**(current[0] or {}), "ended": ended}, revision=launch_state.c.revision + 1,
                            updated_at=started_at)
                )  # fmt: skip
            self._audit_in(
                conn,
                actor,
                "rollback.start",
                {"rollback": rollback_id, "trigger": trigger, "reason": reason, "target": target_version},
                at=started_at,
            )
        return rollback_id

    def update_rollback(self, rollback_id: int, **fields: Any) -> None:
        if "details" in fields:
            fields["details"] = jsonable(fields["details"])
        with self._tx() as conn:
            conn.execute(rollbacks.update().where(rollbacks.c.id == rollback_id).values(**fields))

    def rollbacks(self) -> list[dict[str, Any]]:
        """Rollbacks, oldest first."""
        with self.engine.connect() as conn:
            query = rollbacks.select().where(rollbacks.c.launch_id == self.launch_id).order_by(rollbacks.c.id)
            return [dict(r._mapping) for r in conn.execute(query)]
