"""The launch store through the standard library's sqlite3, for the hot commands.

``emergency-rollback`` and ``--status`` must answer near the interpreter's start-up time, and
importing SQLAlchemy alone costs ~0.45 s. ``LiteStore`` reads and writes the *same* SQLite file,
tables, columns and phase names as ``launch_control.store.db.Store`` (datetimes as SQLAlchemy stores
them: naive UTC text ``YYYY-MM-DD HH:MM:SS.ffffff``; JSON as ``json.dumps`` text; booleans 0/1),
with the same locking (WAL, BEGIN IMMEDIATE, 60 s busy timeout), for the few calls the rollback
and the status line make. ``open_hot_store`` returns the full ``Store`` for PostgreSQL URLs or a
database that does not exist yet (creating the schema is ``Store``'s job).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from launch_control.errors import LaunchControlError

DATABASE_ENV = "LAUNCH_CONTROL_DATABASE_URL"
_STATE_FIELDS = (
    "phase", "current_step", "canary_weight", "step_started_at", "frozen", "degraded", "paused",
    "launch_started_at", "extra",
)  # fmt: skip
_TIMES = set(
    [
        "at",
        "started_at",
        "traffic_switched_at",
        "deployed_at",
        "verified_at",
        "finished_at",
        "opened_at",
        "acknowledged_at",
        "resolved_at",
        "last_seen_at",
        "step_started_at",
        "launch_started_at",
        "updated_at",
    ]
)
_JSON = {"details", "extra", "value"}
_BOOLS = {"frozen", "degraded", "paused", "ok", "ticked", "disabled"}


class LiteStoreError(LaunchControlError):
    """The SQLite store could not be read or written (the message names the file)."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///PATH`` URL, else None (PostgreSQL, in-memory, …)."""
    if not url.startswith("sqlite") or ":///" not in url:
        return None
    path = url.split(":///", 1)[1].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def default_url() -> str:
    if url := os.environ.get(DATABASE_ENV):
        return url
    from launch_control.config import data_dir

    return f"sqlite:///{data_dir() / 'launch-control.db'}"


def open_hot_store(launch_id: str, url: str | None = None) -> Any:
    """A ``LiteStore`` when the store is an existing SQLite file with the schema, else ``Store``."""
    url = url or default_url()
    path = sqlite_path(url)
    if path is not None and path.exists():
        try:
            lite = LiteStore(path, launch_id)
            if lite.has_schema():
                return lite
        except sqlite3.Error:
            pass
    from launch_control.store.db import Store

    return Store(url, launch_id=launch_id)


def _to_db(key: str, value: Any) -> Any:
    if value is None:
        return None
    if key in _TIMES and isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware (UTC) datetime")
        return value.astimezone(dt.UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    if key in _JSON:
        return json.dumps(json.loads(json.dumps(value, default=str)))
    if key in _BOOLS:
        return 1 if value else 0
    return value


def _from_db(key: str, value: Any) -> Any:
    if value is None:
        return None
    if key in _TIMES or key.endswith("_at"):
        return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
    if key in _JSON:
        return json.loads(value)
    if key in _BOOLS:
        return bool(value)
    return value


class LiteStore:
    """One launch's records in an existing SQLite store file, through sqlite3 (see module doc)."""

    def __init__(self, path: Path, launch_id: str):
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self.launch_id = launch_id
        # One connection per thread (the rollback banner writes from its own): transactions on a
        # shared sqlite3 connection would interleave; SQLite itself serialises the writers.
        self._local = threading.local()
        self._conn  # noqa: B018 - open now, so a bad file fails here

    @property
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            conn.execute("PRAGMA busy_timeout=60000")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def describe(self) -> str:
        return self.url

    def has_schema(self) -> bool:
        names = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return {"launch_state", "rollbacks", "audit_events", "status"} <= names

    def close(self) -> None:
        self._conn.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise LiteStoreError(f"cannot write to the launch store at {self.url}: {exc}") from exc

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        cursor = self._conn.execute(sql, args)
        names = [c[0] for c in cursor.description]
        return [{k: _from_db(k, v) for k, v in zip(names, row, strict=True)} for row in cursor.fetchall()]

    def _audit_in(
        self, conn: sqlite3.Connection, actor: str, action: str, details: dict[str, Any], at: dt.datetime
    ) -> int:
        cursor = conn.execute(
            "INSERT INTO audit_events (launch_id, at, actor, action, details) VALUES (?, ?, ?, ?, ?)",
            (self.launch_id, _to_db("at", at), actor, action, _to_db("details", details)),
        )
        return int(cursor.lastrowid or 0)

    # --- launch state ---------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        rows = self._rows("SELECT * FROM launch_state WHERE launch_id = ?", (self.launch_id,))
        if rows:
            return rows[0]
        return {
            "launch_id": self.launch_id, "phase": "planned", "current_step": None, "canary_weight": 0.0,
            "step_started_at": None, "frozen": False, "degraded": False, "paused": False,
            "launch_started_at": None, "extra": {}, "updated_at": None, "revision": 0,
        }  # fmt: skip

    def update_state(self, **fields: Any) -> dict[str, Any]:
        unknown = set(fields) - set(_STATE_FIELDS)
        if unknown:
            raise ValueError(f"unknown launch-state fields: {sorted(unknown)}")
        if "phase" in fields:  # a Phase (StrEnum) or its name: stored as the same plain string as Store's
            fields["phase"] = str(getattr(fields["phase"], "value", fields["phase"]))
        now = _to_db("updated_at", utcnow())
        with self._tx() as conn:
            exists = conn.execute("SELECT revision FROM launch_state WHERE launch_id = ?", (self.launch_id,)).fetchone()
            if exists is None:
                row = {"phase": "planned", "canary_weight": 0.0, "frozen": False, "degraded": False, "paused": False,
                       "extra": {}, **fields}  # fmt: skip
                names = ["launch_id", "updated_at", "revision", *row]
                values = [self.launch_id, now, 1, *(_to_db(k, v) for k, v in row.items())]
                conn.execute(
                    f"INSERT INTO launch_state ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", values
                )
            else:
                sets = "".join(f", {k} = ?" for k in fields)
                conn.execute(
                    f"UPDATE launch_state SET updated_at = ?, revision = revision + 1{sets} WHERE launch_id = ?",
                    [now, *(_to_db(k, v) for k, v in fields.items()), self.launch_id],
                )
        return self.state()

    # --- audit, rollbacks ------------------------------------------------------------------------

    def audit(self, actor: str, action: str, **details: Any) -> int:
        if not actor:
            raise ValueError("an audit event needs an actor")
        with self._tx() as conn:
            return self._audit_in(conn, actor, action, details, utcnow())

    def start_rollback(
        self, *, trigger: str, reason: str, actor: str, target_version: str, started_at: dt.datetime
    ) -> int:
        with self._tx() as conn:
            cursor = conn.execute(
                'INSERT INTO rollbacks (launch_id, "trigger", reason, actor, target_version, started_at, details) '
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (self.launch_id, trigger, reason, actor, target_version, _to_db("started_at", started_at), "{}"),
            )
            rollback_id = int(cursor.lastrowid or 0)
            # As Store.start_rollback: who ended the ramp and why, on the launch state itself (a
            # running engine reads it on its next interval).
            current = conn.execute("SELECT extra FROM launch_state WHERE launch_id = ?", (self.launch_id,)).fetchone()
            if current is not None:
                ended = {"by": actor, "reason": reason, "trigger": trigger, "at": started_at.isoformat()}
                extra = {**(json.loads(current[0]) if current[0] else {}), "ended": ended}
                conn.execute(
                    "UPDATE launch_state SET extra = ?, revision = revision + 1, updated_at = ? WHERE launch_id = ?",
                    (_to_db("extra", extra), _to_db("updated_at", started_at), self.launch_id),
                )
            details = {"rollback": rollback_id, "trigger": trigger, "reason": reason, "target": target_version}
            self._audit_in(conn, actor, "rollback.start", details, started_at)
        return rollback_id

    def update_rollback(self, rollback_id: int, **fields: Any) -> None:
        if not fields:
            return
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self._tx() as conn:
            conn.execute(
                f"UPDATE rollbacks SET {sets} WHERE id = ?", [*(_to_db(k, v) for k, v in fields.items()), rollback_id]
            )

    def rollbacks(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM rollbacks WHERE launch_id = ? ORDER BY id", (self.launch_id,))

    # --- what --status shows -----------------------------------------------------------------------

    def decisions(self, limit: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM gate_decisions WHERE launch_id = ? ORDER BY id DESC"
        rows = self._rows(sql + (f" LIMIT {int(limit)}" if limit else ""), (self.launch_id,))
        return rows[::-1]

    def incidents(self, *, status: str | None = None) -> list[dict[str, Any]]:
        rows = self._rows("SELECT * FROM incidents WHERE launch_id = ? ORDER BY id", (self.launch_id,))
        if status == "active":
            return [r for r in rows if r["status"] != "resolved"]
        return [r for r in rows if status is None or r["status"] == status]

    def notifications(self, incident_id: int | None = None) -> list[dict[str, Any]]:
        rows = self._rows("SELECT * FROM notifications WHERE launch_id = ? ORDER BY id", (self.launch_id,))
        return [r for r in rows if incident_id is None or r["incident_id"] == incident_id]

    # --- shared status (the rollback banner) -------------------------------------------------------

    def set_status(self, key: str, value: Any) -> None:
        now = _to_db("updated_at", utcnow())
        with self._tx() as conn:
            cursor = conn.execute(
                "UPDATE status SET value = ?, updated_at = ? WHERE key = ?", (_to_db("value", value), now, key)
            )
            if cursor.rowcount == 0:
                conn.execute(
                    "INSERT INTO status (key, value, updated_at) VALUES (?, ?, ?)", (key, _to_db("value", value), now)
                )

    def get_status(self, key: str) -> Any:
        row = self._conn.execute("SELECT value FROM status WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])
