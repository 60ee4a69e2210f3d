"""The store's one connection owner: the engine for a database URL (SQLite tuned for several
processes, PostgreSQL through psycopg 3), its transactions and schema upgrades; and
``Repository``, the base of the per-aggregate record classes that share it.

A SQLite file by default (``$LAUNCH_CONTROL_DATA_DIR/launch-control.db``), PostgreSQL or any
SQLAlchemy URL via ``$LAUNCH_CONTROL_DATABASE_URL``. SQLite runs in WAL mode with
``BEGIN IMMEDIATE`` and a long busy timeout, so concurrent writers queue instead of failing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from launch_control import retrying
from launch_control.errors import LaunchControlError
from launch_control.store.schema import audit_events, jsonable
from launch_control.store.upgrade import upgrade

DATABASE_ENV = "LAUNCH_CONTROL_DATABASE_URL"


class StoreError(LaunchControlError):
    """The store cannot be opened or written. The message says which database and what to do."""


def default_url() -> str:
    if url := os.environ.get(DATABASE_ENV):
        return url
    from launch_control.config import data_dir

    return f"sqlite:///{data_dir() / 'launch-control.db'}"


def _normalise(url: str) -> str:
    # A bare postgresql:// URL would pick psycopg2, which we do not install; we ship psycopg 3.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _enable_wal(cursor: Any, *, patience: float = 30.0) -> None:
    """Switch the file to WAL, retrying while another process switches it at the same moment.

    Two connections changing a new file's journal mode at once both hold a read lock and want an
    exclusive one; SQLite answers the loser "database is locked" at once, without its busy
    timeout (waiting would deadlock). `make demo` opens one fresh file from five processes at
    start-up and lost a service to it. WAL is stored in the file, so the retry is usually a no-op.
    """
    retrying.call(
        lambda _left: cursor.execute("PRAGMA journal_mode=WAL"), attempts=None, base_delay=0.01, max_delay=0.5,
        total_timeout=patience, retry_on=(sqlite3.OperationalError,), retryable=lambda exc: "locked" in str(exc),
        reraise=True,
    )  # fmt: skip


class Database:
    """One database's engine (a pool shared by threads; one per process) and its schema."""

    def __init__(self, url: str | None = None):
        self.url = _normalise(url or default_url())
        self.engine = self._make_engine(self.url)

    @staticmethod
    def _make_engine(url: str) -> Engine:
        if url.startswith("sqlite"):
            path = url.split(":///", 1)[1] if ":///" in url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

            @sa.event.listens_for(engine, "connect")
            def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
                # Let SQLAlchemy's begin event issue BEGIN IMMEDIATE: writers queue on the lock
                # instead of failing with "database is locked" when upgrading a read lock.
                dbapi_connection.isolation_level = None
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA busy_timeout=60000")
                _enable_wal(cursor)
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.close()

            @sa.event.listens_for(engine, "begin")
            def _sqlite_begin(conn: Connection) -> None:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

            return engine
        return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise StoreError(
                f"cannot write to the launch store at {self.describe()}: {exc.orig}. "
                f"Check that the database is reachable or set {DATABASE_ENV}."
            ) from exc

    def describe(self) -> str:
        """The URL without a password, for messages."""
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    def migrate(self) -> None:
        """Create or upgrade the schema (``launch_control.store.upgrade``); a clear error when unreachable."""
        try:
            upgrade(self.engine)
        except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
            raise StoreError(
                f"cannot open the launch store at {self.describe()}: {exc.orig}. "
                f"Check the URL in {DATABASE_ENV} (or the data directory's permissions)."
            ) from exc

    def close(self) -> None:
        self.engine.dispose()


def row_dict(row: sa.Row[Any] | None) -> dict[str, Any] | None:
    return dict(row._mapping) if row is not None else None


def new_id(result: sa.CursorResult[Any]) -> int:
    """The id the database gave the row an INSERT just wrote."""
    key = result.inserted_primary_key
    assert key is not None, "not the result of a single-row INSERT"
    return int(key[0])


class Repository:
    """Records of one aggregate for one launch, over a shared ``Database``."""

    def __init__(self, db: Database, launch_id: str):
        self.db = db
        self.launch_id = launch_id

    @property
    def engine(self) -> Engine:
        return self.db.engine

    def _tx(self) -> contextlib.AbstractContextManager[Connection]:
        return self.db.transaction()

    def _audit_in(
        self, conn: Connection, actor: str, action: str, details: Mapping[str, Any], *, at: dt.datetime
    ) -> None:
        """The audit row of a change, written in the change's own transaction (both or neither)."""
        conn.execute(
            audit_events.insert().values(
                launch_id=self.launch_id, at=at, actor=actor, action=action, details=jsonable(dict(details))
            )
        )

    def _latest(self, table: sa.Table, key: str) -> dict[str, dict[str, Any]]:
        """key → the newest row per key of an append-only table (the current state of its history)."""
        newest = sa.select(sa.func.max(table.c.id)).where(table.c.launch_id == self.launch_id).group_by(table.c[key])
        with self.engine.connect() as conn:
            return {
                row._mapping[key]: dict(row._mapping)
                for row in conn.execute(table.select().where(table.c.id.in_(newest)))
            }
