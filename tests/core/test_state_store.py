"""The launch state in the store: compare-and-swap on the revision (exactly one of two racing
writers wins), the audit row in the same transaction, and the rollback naming who ended the ramp."""

from __future__ import annotations

import threading

from launch_control.control.state import Phase
from launch_control.store.db import Store, utcnow


def test_compare_and_set_lets_exactly_one_racing_writer_win(tmp_path):
    url = f"sqlite:///{tmp_path / 'cas.db'}"
    Store(url, "t").update_state(phase="ramping")
    start = Store(url, "t").launch_state()
    wins: list[str] = []
    barrier = threading.Barrier(4)

    def writer(name: str) -> None:
        store = Store(url, "t")  # each its own connection pool, as separate processes would have
        barrier.wait()
        if store.compare_and_set(start.revision, extra={"engine": {"token": name}}) is not None:
            wins.append(name)

    threads = [threading.Thread(target=writer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    after = Store(url, "t").launch_state()
    assert after.revision == start.revision + 1 and after.lease.token == wins[0]


def test_compare_and_set_writes_its_audit_row_and_refuses_a_stale_revision(sqlite_store):
    first = sqlite_store.compare_and_set(0, audit=("lena", "launch.pause", {"reason": "r"}), phase=Phase.PAUSED)
    assert first is not None and first.phase is Phase.PAUSED and first.revision == 1
    assert sqlite_store.compare_and_set(0, phase="ramping") is None  # the row exists now
    assert sqlite_store.compare_and_set(5, phase="ramping") is None
    assert sqlite_store.count_events("launch.pause") == 1


def test_rollback_start_records_who_ended_the_ramp(sqlite_store):
    sqlite_store.update_state(phase="ramping", extra={"time_scale": 60})
    sqlite_store.start_rollback(trigger="manual", reason="bad", actor="cli:lena", target_version="v1",
                                started_at=utcnow())
    state = sqlite_store.launch_state()
    assert state.ended_by == "cli:lena" and state.ended_reason == "bad" and state.time_scale == 60
