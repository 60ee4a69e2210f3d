"""The degradation status under concurrent writers: one entry per source, written atomically.

Eight processes (spawn) change their own source at once — four set theirs 50 times, four set and
clear theirs 50 times, ending cleared — on a SQLite file, on PostgreSQL and on Redis. The status
must end with exactly the four kept sources, each with its last reason. A whole-blob
read-modify-write (the status before issue 18) fails this: a writer that read the blob before
another's write puts it back without that write, losing set entries or reviving cleared ones.
"""

from __future__ import annotations

import multiprocessing
import time
import uuid
from typing import Any

import pytest

from launch_control.protect.boards import MemoryBoard, RedisBoard, SharedBoard, StoreBoard
from launch_control.protect.status import (
    STATUS_KEY,
    active_entries,
    clear_degraded,
    read_status,
    set_degraded,
)

WORKERS = 8
ROUNDS = 50


def _board(spec: tuple[str, str, str]) -> Any:
    kind, url, prefix = spec
    if kind == "store":
        from launch_control.store.db import Store

        return StoreBoard(Store(url, launch_id=prefix))
    return RedisBoard(url, prefix=prefix, timeout=5.0)


def _worker(spec: tuple[str, str, str], source: str, keep: bool, start: Any) -> None:
    board = _board(spec)
    start.wait(60)  # every process starts writing at the same moment
    for n in range(ROUNDS):
        set_degraded(board, f"{source} round {n}", source=source)
        if not keep:
            clear_degraded(board, source)


def _run_writers(spec: tuple[str, str, str], tag: str) -> dict[str, str]:
    """Run the eight writers; returns {kept source: its expected last reason}."""
    _board(spec)  # create the schema first: eight processes creating a fresh PostgreSQL schema race on it
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    sources = [f"{tag}-w{i}" for i in range(WORKERS)]
    keep = {s: i % 2 == 0 for i, s in enumerate(sources)}
    procs = [ctx.Process(target=_worker, args=(spec, s, keep[s], start)) for s in sources]
    for p in procs:
        p.start()
    time.sleep(1.0)  # let the interpreters import before the gun
    start.set()
    for p in procs:
        p.join(180)
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    return {s: f"{s} round {ROUNDS - 1}" for s in sources if keep[s]}


def _assert_exactly(board: Any, tag: str, expected: dict[str, str]) -> None:
    entries = {s: e for s, e in active_entries(board).items() if s.startswith(f"{tag}-")}
    assert {s: e["reason"] for s, e in entries.items()} == expected
    status = read_status(board)
    assert set(expected) <= set(status.sources)


def test_concurrent_writers_sqlite_file(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'status.db'}"
    tag = uuid.uuid4().hex[:8]
    expected = _run_writers(("store", url, f"test-{tag}"), tag)
    _assert_exactly(_board(("store", url, "reader")), tag, expected)


def test_concurrent_writers_postgresql(pg_url: str) -> None:
    tag = uuid.uuid4().hex[:8]  # sources unique to this test: the session database is shared
    expected = _run_writers(("store", pg_url, f"test-{tag}"), tag)
    board = _board(("store", pg_url, "reader"))
    _assert_exactly(board, tag, expected)
    for source in expected:
        clear_degraded(board, source)
    assert not any(s.startswith(f"{tag}-") for s in active_entries(board))


def test_concurrent_writers_redis(redis_url: str, redis_prefix: str) -> None:
    tag = uuid.uuid4().hex[:8]
    expected = _run_writers(("redis", redis_url, redis_prefix), tag)
    _assert_exactly(RedisBoard(redis_url, prefix=redis_prefix), tag, expected)  # redis_prefix deletes the keys


def test_one_source_per_row_and_clear_touches_only_its_own(sqlite_store) -> None:
    board = StoreBoard(sqlite_store)
    set_degraded(board, "live model outage", source="breaker:api", retry_after=30)
    set_degraded(board, "maintenance", source="manual")
    assert set(sqlite_store.status_under(f"{STATUS_KEY}:")) == {"degradation:breaker:api", "degradation:manual"}
    before = sqlite_store.get_status("degradation:breaker:api")
    clear_degraded(board, "manual")
    assert sqlite_store.get_status("degradation:breaker:api") == before  # never rewritten by another source
    assert read_status(board).sources == ("breaker:api",)
    assert sqlite_store.get_status(STATUS_KEY)["reason"] == "live model outage"  # the summary follows


def test_old_whole_blob_is_migrated_on_read(sqlite_store) -> None:
    # what the store held before issue 18: one blob with every source's entry inside
    sqlite_store.set_status(
        STATUS_KEY,
        {
            "degraded": True,
            "reason": "outage",
            "entries": {
                "breaker:api": {"reason": "outage", "emergency": False, "since": "2026-01-01T00:00:00+00:00"},
                "manual": {"reason": "maintenance", "emergency": True, "since": "2026-01-01T00:05:00+00:00"},
            },
            "_written_at": 100.0,
        },
    )
    board = StoreBoard(sqlite_store)
    status = read_status(board)
    assert status.sources == ("breaker:api", "manual") and status.reason == "maintenance"
    assert sqlite_store.get_status("degradation:manual")["reason"] == "maintenance"
    clear_degraded(board, "manual")
    assert read_status(board).sources == ("breaker:api",)  # the old blob does not bring it back
    assert read_status(board).since == "2026-01-01T00:00:00+00:00"


def test_clear_while_redis_down_is_not_undone_by_its_stale_copy(sqlite_store, redis_url, redis_prefix) -> None:
    from launch_control.web.servers import free_port

    store_board, redis_board = StoreBoard(sqlite_store), RedisBoard(redis_url, prefix=redis_prefix)
    set_degraded(SharedBoard(store_board, redis_board), "outage", source="manual")
    set_degraded(SharedBoard(store_board, redis_board), "other", source="rollback")
    dead = SharedBoard(store_board, RedisBoard(f"redis://127.0.0.1:{free_port()}/0", timeout=0.05))
    time.sleep(0.01)
    clear_degraded(dead, "manual")  # Redis still holds the old 'manual' entry
    assert read_status(SharedBoard(store_board, redis_board)).sources == ("rollback",)


def test_clear_all_keeps_a_source_set_afterwards() -> None:
    board = MemoryBoard()
    set_degraded(board, "a", source="one")
    set_degraded(board, "b", source="two")
    assert not clear_degraded(board, None).degraded
    assert set_degraded(board, "c", source="three").sources == ("three",)


@pytest.mark.parametrize("kind", ["memory", "store"])
def test_same_reason_keeps_since(kind: str, sqlite_store) -> None:
    board = MemoryBoard() if kind == "memory" else StoreBoard(sqlite_store)
    first = set_degraded(board, "outage", source="manual")
    again = set_degraded(board, "outage", source="manual", retry_after=5)
    assert again.since == first.since and again.retry_after == 5
