"""Shared status every process reads (degradation per source, live flags): one row per key,
written by one atomic upsert."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from launch_control.store.connection import Repository
from launch_control.store.schema import jsonable, status, utcnow


class StatusRecords(Repository):
    """Shared status values (not per launch)."""

    def set_status(self, key: str, value: Any) -> None:
        """Set a shared status value every process can read (e.g. ``degradation``).

        One statement (INSERT ... ON CONFLICT DO UPDATE): two processes creating the same key at
        once both succeed, the later one's value stays."""
        self._put_status(key, value, overwrite=True)

    def add_status(self, key: str, value: Any) -> bool:
        """Set ``key`` only if it is absent (atomic); True when this call created it."""
        return self._put_status(key, value, overwrite=False)

    def _put_status(self, key: str, value: Any, *, overwrite: bool) -> bool:
        # ON CONFLICT is dialect-specific SQL: each dialect's own insert() (both have the same methods).
        stmt: Any
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as postgresql_insert

            stmt = postgresql_insert(status)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(status)
        stmt = stmt.values(key=key, value=jsonable(value), updated_at=utcnow())
        if overwrite:
            stmt = stmt.on_conflict_do_update(
                index_elements=[status.c.key],
                set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=[status.c.key])
        with self._tx() as conn:
            return conn.execute(stmt).rowcount > 0

    def get_status(self, key: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(status.c.value).where(status.c.key == key)).scalar()

    def status_under(self, prefix: str) -> dict[str, Any]:
        """Every status value whose key starts with ``prefix`` (e.g. one row per degradation source)."""
        query = sa.select(status.c.key, status.c.value).where(status.c.key.startswith(prefix, autoescape=True))
        with self.engine.connect() as conn:
            return {row.key: row.value for row in conn.execute(query)}
