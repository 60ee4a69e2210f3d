"""The store's tables (SQLAlchemy Core), the UTC time convention and the legacy schema version.

Every repository module (``launch_control.store.<aggregate>``) reads and writes these tables; the
Alembic revisions in ``launch_control/store/migrations`` create and change them. ``schema_info``
is the previous code's own version marker, kept so that older releases' databases are recognised.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa

# The hand-written upgrades' last version, still written to ``schema_info``; Alembic revisions follow it.
SCHEMA_VERSION = 2


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


def jsonable(value: Any) -> Any:
    """Round-trip through JSON so datetimes and other values are stored as plain data."""
    return json.loads(json.dumps(value, default=str))
