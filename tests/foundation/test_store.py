"""The store on SQLite and PostgreSQL: records round-trip, nothing is lost with several writers."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import sqlite3
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from launch_control.store.db import SCHEMA_VERSION, Sample, Store, StoreError, utcnow


def test_state_defaults_and_updates(store: Store):
    assert store.state()["phase"] == "planned" and store.state()["canary_weight"] == 0
    store.update_state(phase="canary", current_step=1, canary_weight=5.0)
    state = store.update_state(paused=True, extra={"time_scale": 60})
    assert (state["phase"], state["current_step"], state["canary_weight"], state["paused"]) == ("canary", 1, 5.0, True)
    assert state["extra"] == {"time_scale": 60} and state["revision"] == 2
    with pytest.raises(ValueError, match="unknown launch-state fields"):
        store.update_state(colour="red")


def test_audit_is_append_only_with_actor_and_time(store: Store):
    before = utcnow()
    first = store.audit("alice", "traffic.set", weight=25, reason="looks good")
    second = store.audit("bob", "rollback", reason="errors")
    events = store.events()
    assert [e["id"] for e in events] == [second, first]  # newest first
    assert events[1]["actor"] == "alice" and events[1]["details"] == {"weight": 25, "reason": "looks good"}
    assert events[1]["at"] >= before and events[1]["at"].tzinfo is not None
    assert store.count_events("rollback") == 1
    with pytest.raises(ValueError, match="actor"):
        store.audit("", "anonymous")


def test_ticks_and_unticks_keep_history(store: Store):
    store.tick("infra-capacity", "alice", note="dashboards green")
    store.tick("docs-api", "bob")
    store.tick("infra-capacity", "carol", ticked=False, note="capacity alarm")
    state = store.checklist()
    assert state["infra-capacity"]["ticked"] is False and state["infra-capacity"]["actor"] == "carol"
    assert state["docs-api"]["ticked"] is True and state["docs-api"]["actor"] == "bob"
    actions = [e["action"] for e in store.events()]
    assert actions.count("checklist.tick") == 2 and actions.count("checklist.untick") == 1


def test_samples_decisions_and_stats(store: Store):
    t0 = utcnow() - dt.timedelta(minutes=5)
    store.record_samples(
        [
            Sample(t0 + dt.timedelta(minutes=i), role, "error_rate", 0.01 * (i + 1))
            for i in range(5)
            for role in ("stable", "canary")
        ]
    )
    assert len(store.samples(metrics=["error_rate"], version="canary")) == 5
    recent = store.samples(since=t0 + dt.timedelta(minutes=3))
    assert {s.value for s in recent} == {0.04, 0.05}
    stats = store.sample_stats("error_rate", version="canary")
    assert stats["count"] == 5 and stats["max"] == pytest.approx(0.05) and stats["avg"] == pytest.approx(0.03)
    store.record_decision(
        "fail",
        "canary error rate 12.4% > 10% (SEV-2), 2 of 2 intervals",
        step=1,
        weight=5,
        severity="SEV-2",
        details={"error_rate": 0.124},
    )
    (decision,) = store.decisions()
    assert decision["severity"] == "SEV-2" and decision["details"] == {"error_rate": 0.124}


def test_incidents_rollbacks_notifications_verdicts(store: Store):
    incident = store.open_incident("SEV-2", "canary.error_rate", "errors at 12%", "auto")
    store.update_incident(
        incident, "alice", "acknowledge", status="acknowledged", acknowledged_at=utcnow(), acknowledged_by="alice"
    )
    assert store.incidents(status="active")[0]["acknowledged_by"] == "alice"
    store.update_incident(incident, "alice", "resolve", status="resolved", resolved_at=utcnow(), resolved_by="alice")
    assert store.incidents(status="active") == [] and store.incidents(status="resolved")[0]["id"] == incident
    with pytest.raises(KeyError):
        store.update_incident(99999, "x", "resolve", status="resolved")

    started = utcnow()
    rollback = store.start_rollback(
        trigger="auto", reason="gate failed", actor="engine", target_version="v2.9.0", started_at=started
    )
    store.update_rollback(
        rollback,
        traffic_switched_at=started + dt.timedelta(seconds=0.2),
        verified_at=started + dt.timedelta(seconds=1.5),
        finished_at=started + dt.timedelta(seconds=1.5),
        ttr_seconds=1.5,
        ok=True,
        details={"stages": ["traffic", "verify"]},
    )
    (row,) = store.rollbacks()
    assert row["ttr_seconds"] == 1.5 and row["ok"] is True and row["details"] == {"stages": ["traffic", "verify"]}

    store.record_notification("war-room", "incident", False, incident_id=incident, attempts=3, error="timeout")
    assert store.notifications(incident)[0]["error"] == "timeout"
    store.record_verdict("user-adoption", "pass", "rita", note="+12% weekly actives")
    store.record_verdict("user-adoption", "fail", "sam", note="recount")
    assert store.verdicts()["user-adoption"]["actor"] == "sam"
    with pytest.raises(ValueError):
        store.record_verdict("x", "maybe", "sam")
    actions = {e["action"] for e in store.events(limit=None)}
    assert {
        "incident.open",
        "incident.acknowledge",
        "incident.resolve",
        "rollback.start",
        "criterion.verdict",
    } <= actions


def test_status_users_timeline(store: Store):
    store.set_status(f"degradation-{store.launch_id}", {"reason": "model down"})
    store.set_status(f"degradation-{store.launch_id}", {"reason": "breaker open"})
    assert store.get_status(f"degradation-{store.launch_id}") == {"reason": "breaker open"}
    assert store.get_status("never-set") is None
    name = f"user-{store.launch_id}"
    store.put_user(name, "viewer", "hash1")
    store.put_user(name, "lead", "hash2")
    assert store.user(name)["role"] == "lead"
    store.record_timeline("canary-1", "running", flow_run_id="abc")
    store.record_timeline("canary-1", "done")
    assert [e["status"] for e in store.timeline_events()] == ["running", "done"]


def test_launches_are_isolated(store: Store):
    other = store.with_launch(store.launch_id + "-other")
    store.audit("a", "x")
    assert other.count_events() == 0 and store.count_events() == 1


def _write_events(url: str, launch_id: str, worker: int, count: int) -> None:
    store = Store(url, launch_id)
    for i in range(count):
        store.audit(f"worker-{worker}", "load.test", n=i)
        if i % 100 == 0:
            store.tick(f"item-{worker}", f"worker-{worker}", ticked=bool(i % 200))
    store.close()


def test_two_processes_writing_lose_nothing(store: Store):
    """Two processes writing 1,000 audit events each leave exactly 2,000 rows (and all ticks)."""
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_write_events, args=(store.url, store.launch_id, w, 1000)) for w in (1, 2)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(180)
        assert p.exitcode == 0
    assert store.count_events("load.test") == 2000
    per_worker = {a: 0 for a in ("worker-1", "worker-2")}
    for e in store.events(action="load.test", limit=None):
        per_worker[e["actor"]] += 1
    assert per_worker == {"worker-1": 1000, "worker-2": 1000}
    assert store.count_events("checklist.tick") + store.count_events("checklist.untick") == 20


def _open_at(directory: str, start_at: float, worker: int, files: int) -> None:
    for i in range(files):
        while time.time() < start_at + 0.15 * i:  # every process opens brand-new file i in the same instant
            pass
        store = Store(f"sqlite:///{directory}/new-{i}.db", "race")
        store.audit(f"worker-{worker}", "opened")
        store.close()


def test_many_processes_creating_a_new_sqlite_store_at_once(tmp_path: Path):
    """`make demo` starts the services, the gateway and the engine at once on a fresh data directory;
    two connections switching a new file to WAL at the same moment made one fail at once with
    "database is locked" (SQLite does not wait there: it would deadlock), and a service died."""
    ctx = multiprocessing.get_context("spawn")
    files, start_at = 40, time.time() + 4.0
    workers = [ctx.Process(target=_open_at, args=(str(tmp_path), start_at, w, files)) for w in range(3)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(120)
    assert [p.exitcode for p in workers] == [0, 0, 0]
    assert all(Store(f"sqlite:///{tmp_path}/new-{i}.db", "race").count_events("opened") == 3 for i in range(files))


def test_schema_is_created_and_upgraded(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    Store(url).close()
    # pretend an older release made this file: schema version 0, from before Alembic
    with sqlite3.connect(tmp_path / "old.db") as conn:
        conn.execute("UPDATE schema_info SET version = 0")
        conn.execute("DROP TABLE alembic_version")
    store = Store(url)
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version FROM schema_info")).scalar() == SCHEMA_VERSION
    store.audit("a", "still works")
    assert store.count_events() == 1


def test_unreachable_database_is_a_clear_error():
    with pytest.raises(StoreError, match="cannot open the launch store"):
        Store("postgresql://nobody@127.0.0.1:1/none")


def test_data_dir_does_not_depend_on_the_working_directory(tmp_path: Path, monkeypatch):
    from launch_control.config import data_dir

    monkeypatch.delenv("LAUNCH_CONTROL_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    first = data_dir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert data_dir() == first == tmp_path / "xdg" / "launch-control"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_dir() == tmp_path / "home" / ".local" / "share" / "launch-control"


def test_default_location_is_data_dir(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("LAUNCH_CONTROL_DATA_DIR", str(tmp_path / "d"))
    store = Store()
    assert (tmp_path / "d" / "launch-control.db").exists()
    assert store.describe().startswith("sqlite:///")
