"""The launch state: one row per launch with a revision every write bumps (compare-and-set),
and the timeline entries' progress."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from launch_control.control.state import LaunchState
from launch_control.store.connection import Repository, row_dict
from launch_control.store.schema import jsonable, launch_state, timeline_events, utcnow


class LaunchStateRecords(Repository):
    """The launch state row and timeline events of one launch."""

    def state(self) -> dict[str, Any]:
        with self.engine.connect() as conn:
            query = launch_state.select().where(launch_state.c.launch_id == self.launch_id)
            row = row_dict(conn.execute(query).first())
        if row is None:
            return {
                "launch_id": self.launch_id,
                "phase": "planned",
                "current_step": None,
                "canary_weight": 0.0,
                "step_started_at": None,
                "frozen": False,
                "degraded": False,
                "paused": False,
                "launch_started_at": None,
                "extra": {},
                "updated_at": None,
                "revision": 0,
            }
        return row

    def update_state(self, **fields: Any) -> dict[str, Any]:
        """Set some fields of the launch state (others unchanged); returns the new state."""
        unknown = set(fields) - set(launch_state.c.keys())
        if unknown:
            raise ValueError(f"unknown launch-state fields: {sorted(unknown)}")
        with self._tx() as conn:
            exists = conn.execute(
                sa.select(launch_state.c.revision).where(launch_state.c.launch_id == self.launch_id)
            ).scalar()
            now = utcnow()
            if exists is None:
                defaults = {
                    "phase": "planned",
                    "canary_weight": 0.0,
                    "frozen": False,
                    "degraded": False,
                    "paused": False,
                    "extra": {},
                }
                conn.execute(
                    launch_state.insert().values(
                        launch_id=self.launch_id, updated_at=now, revision=1, **{**defaults, **fields}
                    )
                )
            else:
                conn.execute(
                    launch_state.update()
                    .where(launch_state.c.launch_id == self.launch_id)
                    .values(updated_at=now, revision=launch_state.c.revision + 1, **fields)
                )
        return self.state()

    def launch_state(self) -> LaunchState:
        """The launch state, typed (``launch_control.control.state``)."""
        return LaunchState.from_row(self.state())

    def compare_and_set(
        self,
        revision: int,
        *,
        audit: tuple[str, str, Mapping[str, Any]] | None = None,
        **fields: Any,
    ) -> LaunchState | None:
        """Set fields only if the row is still at ``revision``; None when someone wrote first.

        The engine's lease and every operation write through this: read, decide, write with the
        revision read, and on None read again and decide again. ``audit`` = (actor, action,
        details) is written in the same transaction, so the change and its audit row go together.
        """
        unknown = set(fields) - set(launch_state.c.keys())
        if unknown:
            raise ValueError(f"unknown launch-state fields: {sorted(unknown)}")
        if "phase" in fields:
            fields["phase"] = str(getattr(fields["phase"], "value", fields["phase"]))
        if "extra" in fields:
            fields["extra"] = jsonable(fields["extra"])
        now = utcnow()
        try:
            with self._tx() as conn:
                if revision == 0:
                    exists = conn.execute(
                        sa.select(launch_state.c.revision).where(launch_state.c.launch_id == self.launch_id)
                    ).scalar()
                    if exists is not None:
                        return None
                    defaults = {"phase": "planned", "canary_weight": 0.0, "frozen": False, "degraded": False,
                                "paused": False, "extra": {}}  # fmt: skip
                    conn.execute(
                        launch_state.insert().values(
                            launch_id=self.launch_id, updated_at=now, revision=1, **{**defaults, **fields}
                        )
                    )
                else:
                    result = conn.execute(
                        launch_state.update()
                        .where(launch_state.c.launch_id == self.launch_id, launch_state.c.revision == revision)
                        .values(updated_at=now, revision=revision + 1, **fields)
                    )
                    if result.rowcount != 1:
                        return None
                if audit is not None:
                    self._audit_in(conn, audit[0], audit[1], audit[2], at=now)
        except sa.exc.IntegrityError:  # another writer inserted the row first
            return None
        return self.launch_state()

    def record_timeline(self, entry_id: str, status: str, *, flow_run_id: str | None = None, detail: str = "") -> None:
        """Mark a timeline entry ``running`` / ``done`` / ``failed`` / ``skipped`` (with its flow run)."""
        with self._tx() as conn:
            conn.execute(
                timeline_events.insert().values(
                    launch_id=self.launch_id,
                    entry_id=entry_id,
                    status=status,
                    at=utcnow(),
                    flow_run_id=flow_run_id,
                    detail=detail,
                )
            )

    def timeline_events(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            query = timeline_events.select().where(timeline_events.c.launch_id == self.launch_id)
            return [dict(r._mapping) for r in conn.execute(query.order_by(timeline_events.c.id))]
