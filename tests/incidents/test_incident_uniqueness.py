"""One active incident per cause, even when processes open it at the same moment: the database's
partial unique index decides (PostgreSQL and SQLite), and the loser gets the winner's incident."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import uuid

import pytest
import sqlalchemy as sa

from launch_control.respond.incidents import IncidentManager
from launch_control.store.db import SCHEMA_VERSION, Store


def _open_many(url: str, launch_id: str, cause: str, start: threading.Barrier | None, out: list) -> None:
    store = Store(url, launch_id=launch_id)
    if start is not None:
        start.wait()
    out.append(store.open_or_get_incident("SEV-2", cause, "error rate above 10%", "monitor"))
    store.close()


def test_threads_opening_one_cause_get_one_incident(store) -> None:
    threads, results = 12, []
    start = threading.Barrier(threads)
    workers = [
        threading.Thread(target=_open_many, args=(store.url, store.launch_id, "gate:error_rate", start, results))
        for _ in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    ids = {incident_id for incident_id, _ in results}
    assert len(results) == threads and len(ids) == 1, results
    assert sum(created for _, created in results) == 1
    active = store.incidents(status="active")
    assert [i["cause"] for i in active] == ["gate:error_rate"]


def _process_opens(url: str, launch_id: str, start, queue) -> None:
    from launch_control.store.lastgood import load_plan

    store = Store(url, launch_id=launch_id)
    manager = IncidentManager(load_plan(), store, rollback=None)
    start.wait()
    queue.put(manager.report("probe:availability", "SEV-2", "health probes failing"))


def test_processes_opening_one_cause_on_postgresql_count_once(pg_url) -> None:
    launch_id = f"race-{uuid.uuid4().hex[:8]}"
    Store(pg_url, launch_id=launch_id).close()  # schema created once, before the race
    context = multiprocessing.get_context("spawn")
    start, queue = context.Barrier(4), context.Queue()
    procs = [context.Process(target=_process_opens, args=(pg_url, launch_id, start, queue)) for _ in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    assert [proc.exitcode for proc in procs] == [0, 0, 0, 0]
    ids = {queue.get(timeout=5) for _ in procs}
    store = Store(pg_url, launch_id=launch_id)
    everything = store.incidents()
    assert len(ids) == 1 and len(everything) == 1, everything  # no duplicate, not even a resolved twin
    # the losers touched the winner's incident (the report counter is read-modify-write: racing
    # touches may count once — the incident itself is what must not be duplicated)
    assert everything[0]["details"]["reports"] >= 2


def test_resolved_cause_can_open_again(store) -> None:
    first, created = store.open_or_get_incident("SEV-3", "gate:latency", "slow", "monitor")
    assert created
    assert store.open_or_get_incident("SEV-3", "gate:latency", "slow", "monitor") == (first, False)
    store.update_incident(first, "alice", "resolve", status="resolved")
    second, created = store.open_or_get_incident("SEV-3", "gate:latency", "slow again", "monitor")
    assert created and second != first


def test_an_old_store_with_duplicates_is_upgraded(tmp_path) -> None:
    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    Store(url, launch_id="old").close()
    with sqlite3.connect(path) as conn:  # what an older release could leave behind
        conn.execute("DROP INDEX uq_incidents_active_cause")
        conn.execute("UPDATE schema_info SET version = 1")
        conn.execute("DROP TABLE alembic_version")  # it predates Alembic
        for _ in range(2):
            conn.execute(
                "INSERT INTO incidents (launch_id, severity, cause, summary, status, opened_at, opened_by, "
                "last_seen_at, details) VALUES ('old', 'SEV-2', 'dup', 's', 'open', '2026-01-01 00:00:00', "
                "'x', '2026-01-01 00:00:00', '{}')"
            )
    store = Store(url, launch_id="old")
    assert [i["id"] for i in store.incidents(status="active")] == [1]  # the oldest kept, the twin resolved
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version FROM schema_info")).scalar() == SCHEMA_VERSION
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO incidents (launch_id, severity, cause, summary, status, opened_at, opened_by, "
                "last_seen_at, details) VALUES ('old', 'SEV-2', 'dup', 's', 'open', '2026-01-01 00:00:00', "
                "'x', '2026-01-01 00:00:00', '{}')"
            )
        )
