"""Durable records of a launch (SQLAlchemy Core): state, audit trail, checklist ticks, samples,
gate decisions, incidents, rollbacks, notifications, reviewers' verdicts, users, shared status.

A SQLite file by default (``$LAUNCH_CONTROL_DATA_DIR/launch-control.db``), PostgreSQL or any
SQLAlchemy URL via ``$LAUNCH_CONTROL_DATABASE_URL``. The schema is created and upgraded on open.
Several processes (console, flows, CLI) write at once: every record a person makes is an
append-only row (a tick and an un-tick are two rows), so concurrent writers never overwrite each
other; SQLite runs in WAL mode with ``BEGIN IMMEDIATE`` and a long busy timeout.

Times are timezone-aware UTC datetimes everywhere in this API.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from launch_control import retrying
from launch_control.control.state import LaunchState
from launch_control.errors import LaunchControlError

DATABASE_ENV = "LAUNCH_CONTROL_DATABASE_URL"
SCHEMA_VERSION = 2


class StoreError(LaunchControlError):
    """The store cannot be opened or written. The message says which database and what to do."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """Stores aware datetimes as UTC; reads them back aware (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware (UTC) datetime")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


metadata = sa.MetaData()
_id = lambda: sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)  # noqa: E731
_launch = lambda: sa.Column("launch_id", sa.String(64), nullable=False, index=True)  # noqa: E731

schema_info = sa.Table(
    "schema_info",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)

launch_state = sa.Table(
    "launch_state",
    metadata,
    sa.Column("launch_id", sa.String(64), primary_key=True),
    sa.Column("phase", sa.String(32), nullable=False, default="planned"),
    sa.Column("current_step", sa.Integer, nullable=True),
    sa.Column("canary_weight", sa.Float, nullable=False, default=0.0),
    sa.Column("step_started_at", UTCDateTime, nullable=True),
    sa.Column("frozen", sa.Boolean, nullable=False, default=False),
    sa.Column("degraded", sa.Boolean, nullable=False, default=False),
    sa.Column("paused", sa.Boolean, nullable=False, default=False),
    sa.Column("launch_started_at", UTCDateTime, nullable=True),
    sa.Column("extra", sa.JSON, nullable=False, default=dict),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False, default=0),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    _id(),
    _launch(),
    sa.Column("at", UTCDateTime, nullable=False, index=True),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(64), nullable=False, index=True),
    sa.Column("details", sa.JSON, nullable=False, default=dict),
)

checklist_ticks = sa.Table(
    "checklist_ticks",
    metadata,
    _id(),
    _launch(),
    sa.Column("item_id", sa.String(64), nullable=False, index=True),
    sa.Column("ticked", sa.Boolean, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("note", sa.Text, nullable=False, default=""),
)

check_results = sa.Table(
    "check_results",
    metadata,
    _id(),
    _launch(),
    sa.Column("item_id", sa.String(64), nullable=False, index=True),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("detail", sa.Text, nullable=False, default=""),
    sa.Column("at", UTCDateTime, nullable=False),
)

metric_samples = sa.Table(
    "metric_samples",
    metadata,
    _id(),
    _launch(),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("metric", sa.String(64), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Index("ix_samples_lookup", "launch_id", "metric", "at"),
)

gate_decisions = sa.Table(
    "gate_decisions",
    metadata,
    _id(),
    _launch(),
    sa.Column("at", UTCDateTime, nullable=False, index=True),
    sa.Column("step", sa.Integer, nullable=True),
    sa.Column("weight", sa.Float, nullable=True),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("severity", sa.String(8), nullable=True),
    sa.Column("details", sa.JSON, nullable=False, default=dict),
)

incidents = sa.Table(
    "incidents",
    metadata,
    _id(),
    _launch(),
    sa.Column("severity", sa.String(8), nullable=False),
    sa.Column("cause", sa.String(128), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, default="open"),
    sa.Column("opened_at", UTCDateTime, nullable=False),
    sa.Column("opened_by", sa.String(128), nullable=False),
    sa.Column("acknowledged_at", UTCDateTime, nullable=True),
    sa.Column("acknowledged_by", sa.String(128), nullable=True),
    sa.Column("resolved_at", UTCDateTime, nullable=True),
    sa.Column("resolved_by", sa.String(128), nullable=True),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    sa.Column("escalated_to", sa.String(64), nullable=True),
    sa.Column("details", sa.JSON, nullable=False, default=dict),
)
# One active (not resolved) incident per cause and launch, enforced by the database: two
# processes opening the same cause at once cannot both win (PostgreSQL and SQLite partial index).
ACTIVE_CAUSE_INDEX = sa.Index(
    "uq_incidents_active_cause",
    incidents.c.launch_id,
    incidents.c.cause,
    unique=True,
    postgresql_where=incidents.c.status != "resolved",
    sqlite_where=incidents.c.status != "resolved",
)

rollbacks = sa.Table(
    "rollbacks",
    metadata,
    _id(),
    _launch(),
    sa.Column("trigger", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("target_version", sa.String(64), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("traffic_switched_at", UTCDateTime, nullable=True),
    sa.Column("deployed_at", UTCDateTime, nullable=True),
    sa.Column("verified_at", UTCDateTime, nullable=True),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column("ttr_seconds", sa.Float, nullable=True),
    sa.Column("ok", sa.Boolean, nullable=True),
    sa.Column("details", sa.JSON, nullable=False, default=dict),
)

notifications = sa.Table(
    "notifications",
    metadata,
    _id(),
    _launch(),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("incident_id", sa.Integer, nullable=True),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=1),
    sa.Column("error", sa.Text, nullable=False, default=""),
    sa.Column("body", sa.Text, nullable=False, default=""),
)

verdicts = sa.Table(
    "verdicts",
    metadata,
    _id(),
    _launch(),
    sa.Column("criterion_id", sa.String(64), nullable=False, index=True),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("note", sa.Text, nullable=False, default=""),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
)

status = sa.Table(
    "status",
    metadata,
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("value", sa.JSON, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

timeline_events = sa.Table(
    "timeline_events",
    metadata,
    _id(),
    _launch(),
    sa.Column("entry_id", sa.String(64), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("flow_run_id", sa.String(64), nullable=True),
    sa.Column("detail", sa.Text, nullable=False, default=""),
)

# Upgrades from one schema version to the next: version → list of SQL statements.
# create_all() adds new tables by itself; these are for changes to existing ones.
MIGRATIONS: dict[int, list[str]] = {
    # 2: one active incident per cause. Older stores may hold duplicates: keep the oldest of each.
    2: [
        "UPDATE incidents SET status = 'resolved', resolved_by = 'schema-upgrade' WHERE status <> 'resolved' "
        "AND id NOT IN (SELECT MIN(id) FROM incidents WHERE status <> 'resolved' GROUP BY launch_id, cause)",
        "CREATE UNIQUE INDEX IF NOT EXISTS uq_incidents_active_cause ON incidents (launch_id, cause) "
        "WHERE status <> 'resolved'",
    ],
}


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


# Any fixed 64-bit number: every process migrating one PostgreSQL database takes this lock.
_MIGRATE_LOCK = 0x4C43_5354_4F52_45  # "LCSTORE"


def _lock_schema(conn: Connection) -> None:
    """Serialise schema changes between processes for the rest of ``conn``'s transaction.

    Two processes creating the tables of one empty PostgreSQL database at once race: both see no
    table, both CREATE, the loser fails with 'relation "schema_info" already exists'. An advisory
    transaction lock makes the second wait and then find the tables. SQLite needs nothing here:
    the store's transactions start with BEGIN IMMEDIATE, which already holds the file's write lock.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATE_LOCK})


def _row(row: sa.Row[Any] | None) -> dict[str, Any] | None:
    return dict(row._mapping) if row is not None else None


@dataclass(frozen=True)
class Sample:
    at: dt.datetime
    version: str
    metric: str
    value: float


class Store:
    """One launch's records in one database. Safe to share between threads; one per process."""

    def __init__(self, url: str | None = None, launch_id: str = "default", *, create: bool = True):
        self.url = _normalise(url or default_url())
        self.launch_id = launch_id
        self.engine = self._make_engine(self.url)
        if create:
            self.migrate()

    # --- connection plumbing ---------------------------------------------------------------------

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
    def _tx(self) -> Iterator[Connection]:
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

    def _audit_in(
        self, conn: Connection, actor: str, action: str, details: Mapping[str, Any], *, at: dt.datetime
    ) -> None:
        """The audit row of a change, written in the change's own transaction (both or neither)."""
        conn.execute(
            audit_events.insert().values(
                launch_id=self.launch_id, at=at, actor=actor, action=action, details=_jsonable(dict(details))
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

    def migrate(self) -> None:
        try:
            with self.engine.begin() as conn:
                _lock_schema(conn)
                metadata.create_all(conn)
                current = conn.execute(sa.select(schema_info.c.version)).scalar()
                if current is None:
                    conn.execute(schema_info.insert().values(id=1, version=SCHEMA_VERSION))
                    return
                for version in range(current + 1, SCHEMA_VERSION + 1):
                    for statement in MIGRATIONS.get(version, []):
                        conn.exec_driver_sql(statement)
                if current < SCHEMA_VERSION:
                    conn.execute(schema_info.update().values(version=SCHEMA_VERSION))
        except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
            if isinstance(exc, sa.exc.IntegrityError):  # another process created it first
                return
            raise StoreError(
                f"cannot open the launch store at {self.describe()}: {exc.orig}. "
                f"Check the URL in {DATABASE_ENV} (or the data directory's permissions)."
            ) from exc
        except sa.exc.IntegrityError:
            return

    def close(self) -> None:
        self.engine.dispose()

    def with_launch(self, launch_id: str) -> Store:
        """The same database, another launch's records (shares the connection pool)."""
        other = object.__new__(Store)
        other.url, other.launch_id, other.engine = self.url, launch_id, self.engine
        return other

    # --- launch state ------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = _row(conn.execute(launch_state.select().where(launch_state.c.launch_id == self.launch_id)).first())
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
            fields["extra"] = _jsonable(fields["extra"])
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

    # --- audit -------------------------------------------------------------------------------------

    def audit(self, actor: str, action: str, **details: Any) -> int:
        """Append an audit event: who did what, when. Returns its id."""
        if not actor:
            raise ValueError("an audit event needs an actor")
        with self._tx() as conn:
            result = conn.execute(
                audit_events.insert().values(
                    launch_id=self.launch_id, at=utcnow(), actor=actor, action=action, details=_jsonable(details)
                )
            )
            return int(result.inserted_primary_key[0])

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

    # --- checklist ---------------------------------------------------------------------------------

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

    # --- metric samples and gate decisions -----------------------------------------------------------

    def record_samples(self, samples: Iterable[Sample | Mapping[str, Any]]) -> int:
        rows = []
        for s in samples:
            data = s if isinstance(s, Mapping) else s.__dict__
            rows.append(
                {
                    "launch_id": self.launch_id,
                    "at": data["at"],
                    "version": data["version"],
                    "metric": data["metric"],
                    "value": float(data["value"]),
                }
            )
        if rows:
            with self._tx() as conn:
                conn.execute(metric_samples.insert(), rows)
        return len(rows)

    def samples(
        self,
        *,
        metrics: Sequence[str] | None = None,
        version: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> list[Sample]:
        """Samples in time order."""
        query = sa.select(
            metric_samples.c.at, metric_samples.c.version, metric_samples.c.metric, metric_samples.c.value
        ).where(metric_samples.c.launch_id == self.launch_id)
        if metrics:
            query = query.where(metric_samples.c.metric.in_(list(metrics)))
        if version:
            query = query.where(metric_samples.c.version == version)
        if since:
            query = query.where(metric_samples.c.at >= since)
        if until:
            query = query.where(metric_samples.c.at <= until)
        with self.engine.connect() as conn:
            return [Sample(*r) for r in conn.execute(query.order_by(metric_samples.c.at, metric_samples.c.id))]

    def sample_stats(
        self, metric: str, *, version: str | None = None, since: dt.datetime | None = None
    ) -> dict[str, float | int | None]:
        """count, sum, avg, min and max of one metric's samples, computed in the database."""
        c = metric_samples.c
        aggregates = (sa.func.count(c.value), sa.func.sum(c.value), sa.func.avg(c.value))
        query = sa.select(*aggregates, sa.func.min(c.value), sa.func.max(c.value))
        query = query.where(c.launch_id == self.launch_id, c.metric == metric)
        if version:
            query = query.where(c.version == version)
        if since:
            query = query.where(c.at >= since)
        with self.engine.connect() as conn:
            count, total, avg, low, high = conn.execute(query).one()
        numbers = {"sum": total, "avg": avg, "min": low, "max": high}
        return {"count": int(count), **{k: float(v) if v is not None else None for k, v in numbers.items()}}

    def record_decision(
        self,
        verdict: str,
        reason: str,
        *,
        step: int | None = None,
        weight: float | None = None,
        severity: str | None = None,
        details: Mapping[str, Any] | None = None,
        at: dt.datetime | None = None,
    ) -> int:
        with self._tx() as conn:
            result = conn.execute(
                gate_decisions.insert().values(
                    launch_id=self.launch_id,
                    at=at or utcnow(),
                    step=step,
                    weight=weight,
                    verdict=verdict,
                    reason=reason,
                    severity=severity,
                    details=_jsonable(dict(details or {})),
                )
            )
            return int(result.inserted_primary_key[0])

    def decisions(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Gate decisions, oldest first (the last ``limit`` when given)."""
        query = gate_decisions.select().where(gate_decisions.c.launch_id == self.launch_id)
        query = query.order_by(gate_decisions.c.id.desc())
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)][::-1]

    # --- incidents ------------------------------------------------------------------------------------

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
                    details=_jsonable(details),
                )
            )
            incident_id = int(result.inserted_primary_key[0])
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
            return _row(
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

    # --- rollbacks ---------------------------------------------------------------------------------------

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
            rollback_id = int(result.inserted_primary_key[0])
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
            fields["details"] = _jsonable(fields["details"])
        with self._tx() as conn:
            conn.execute(rollbacks.update().where(rollbacks.c.id == rollback_id).values(**fields))

    def rollbacks(self) -> list[dict[str, Any]]:
        """Rollbacks, oldest first."""
        with self.engine.connect() as conn:
            query = rollbacks.select().where(rollbacks.c.launch_id == self.launch_id).order_by(rollbacks.c.id)
            return [dict(r._mapping) for r in conn.execute(query)]

    # --- notifications --------------------------------------------------------------------------------------

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

    # --- reviewers' verdicts on success criteria -----------------------------------------------------------

    def record_verdict(
        self, criterion_id: str, verdict: str, actor: str, *, note: str = "", value: float | None = None
    ) -> None:
        if verdict not in ("pass", "fail", "pending"):
            raise ValueError(f"verdict must be pass, fail or pending (got {verdict!r})")
        with self._tx() as conn:
            now = utcnow()
            conn.execute(
                verdicts.insert().values(
                    launch_id=self.launch_id,
                    criterion_id=criterion_id,
                    verdict=verdict,
                    value=value,
                    note=note,
                    actor=actor,
                    at=now,
                )
            )
            self._audit_in(
                conn,
                actor,
                "criterion.verdict",
                {"criterion": criterion_id, "verdict": verdict, "note": note, "value": value},
                at=now,
            )

    def verdicts(self) -> dict[str, dict[str, Any]]:
        """criterion id → latest reviewer verdict."""
        return self._latest(verdicts, "criterion_id")

    # --- timeline ---------------------------------------------------------------------------------------------

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

    # --- users ------------------------------------------------------------------------------------------------

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
            return _row(conn.execute(users.select().where(users.c.name == name)).first())

    def users(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(users.select().order_by(users.c.name))]

    # --- shared status (degradation, live flags) ---------------------------------------------------------------

    def set_status(self, key: str, value: Any) -> None:
        """Set a shared status value every process can read (e.g. ``degradation``).

        One statement (INSERT ... ON CONFLICT DO UPDATE): two processes creating the same key at
        once both succeed, the later one's value stays."""
        self._put_status(key, value, overwrite=True)

    def add_status(self, key: str, value: Any) -> bool:
        """Set ``key`` only if it is absent (atomic); True when this call created it."""
        return self._put_status(key, value, overwrite=False)

    def _put_status(self, key: str, value: Any, *, overwrite: bool) -> bool:
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        row = {"key": key, "value": _jsonable(value), "updated_at": utcnow()}
        stmt = insert(status).values(**row)
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


def _jsonable(value: Any) -> Any:
    """Round-trip through JSON so datetimes and other values are stored as plain data."""
    return json.loads(json.dumps(value, default=str))


def open_store(url: str | None = None, launch_id: str = "default") -> Store:
    return Store(url, launch_id)
