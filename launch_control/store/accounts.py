"""Accounts: the console's users, their role and password hash (shared by every launch)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from launch_control.store.connection import Repository, row_dict
from launch_control.store.schema import users, utcnow


class AccountRecords(Repository):
    """Console users."""

    def put_user(self, name: str, role: str, password_hash: str) -> None:
        with self._tx() as conn:
            existing = conn.execute(sa.select(users.c.name).where(users.c.name == name)).scalar()
            if existing:
                conn.execute(users.update().where(users.c.name == name).values(role=role, password_hash=password_hash))
            else:
                conn.execute(
                    users.insert().values(name=name, role=role, password_hash=password_hash, created_at=utcnow())
                )

    def user(self, name: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            return row_dict(conn.execute(users.select().where(users.c.name == name)).first())

    def users(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(users.select().order_by(users.c.name))]
