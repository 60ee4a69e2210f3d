"""Durable records of a launch (SQLAlchemy Core): state, audit trail, checklist ticks, samples,
gate decisions, incidents, rollbacks, notifications, reviewers' verdicts, users, shared status.

``Store`` is the facade every caller uses: one ``Database`` (the connection owner,
``launch_control.store.connection``) and the records of each aggregate, one module each
(``launchstate``, ``audit``, ``checklist``, ``samples``, ``decisions``, ``incidents``,
``rollbacks``, ``notifications``, ``accounts``, ``status``). It inherits their methods rather than
forwarding each of them, so ``store.tick(...)`` and friends keep their names and signatures.

The schema is created and upgraded on open. Several processes (console, flows, CLI) write at once:
every record a person makes is an append-only row (a tick and an un-tick are two rows), so
concurrent writers never overwrite each other. Times are timezone-aware UTC datetimes everywhere.
"""

from __future__ import annotations

from launch_control.store.accounts import AccountRecords
from launch_control.store.audit import AuditRecords
from launch_control.store.checklist import ChecklistRecords
from launch_control.store.connection import DATABASE_ENV, Database, StoreError, _normalise, default_url
from launch_control.store.decisions import DecisionRecords
from launch_control.store.incidents import IncidentRecords
from launch_control.store.launchstate import LaunchStateRecords
from launch_control.store.notifications import NotificationRecords
from launch_control.store.rollbacks import RollbackRecords
from launch_control.store.samples import Sample, SampleRecords
from launch_control.store.schema import (
    ACTIVE_CAUSE_INDEX,
    SCHEMA_VERSION,
    audit_events,
    check_results,
    checklist_ticks,
    gate_decisions,
    incidents,
    launch_state,
    metadata,
    metric_samples,
    notifications,
    rollbacks,
    status,
    timeline_events,
    users,
    utcnow,
    verdicts,
)
from launch_control.store.status import StatusRecords

__all__ = [
    "ACTIVE_CAUSE_INDEX", "DATABASE_ENV", "SCHEMA_VERSION", "Database", "Sample", "Store", "StoreError",
    "_normalise", "audit_events", "check_results", "checklist_ticks", "default_url", "gate_decisions",
    "incidents", "launch_state", "metadata", "metric_samples", "notifications", "open_store", "rollbacks",
    "status", "timeline_events", "users", "utcnow", "verdicts",
]  # fmt: skip


class Store(
    LaunchStateRecords,
    AuditRecords,
    ChecklistRecords,
    SampleRecords,
    DecisionRecords,
    IncidentRecords,
    RollbackRecords,
    NotificationRecords,
    AccountRecords,
    StatusRecords,
):
    """One launch's records in one database. Safe to share between threads; one per process."""

    def __init__(self, url: str | None = None, launch_id: str = "default", *, create: bool = True):
        super().__init__(Database(url), launch_id)
        if create:
            self.migrate()

    @property
    def url(self) -> str:
        return self.db.url

    def describe(self) -> str:
        """The URL without a password, for messages."""
        return self.db.describe()

    def migrate(self) -> None:
        self.db.migrate()

    def close(self) -> None:
        self.db.close()

    def with_launch(self, launch_id: str) -> Store:
        """The same database, another launch's records (shares the connection pool)."""
        other = object.__new__(Store)
        super(Store, other).__init__(self.db, launch_id)
        return other


def open_store(url: str | None = None, launch_id: str = "default") -> Store:
    return Store(url, launch_id)
