"""Schema creation and upgrades on SQLite and PostgreSQL: from an empty database, from the previous
schema, and with several processes opening one fresh database at the same moment."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from launch_control.store.db import SCHEMA_VERSION, Store
from launch_control.store.schema import audit_events, incidents, metadata, schema_info
from launch_control.store.upgrade import HEAD, MIGRATIONS_DIR


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    return request.getfixturevalue("fresh_pg")


def _migrate_at(url: str, start_at: float, worker: int) -> None:
    while time.time() < start_at:  # every process opens the empty database in the same instant
        pass
    store = Store(url, "race")
    store.audit(f"worker-{worker}", "opened")
    store.close()


def _open_at_once(url: str, processes: int) -> list[int | None]:
    """Spawn ``processes`` processes that open the store at ``url`` in the same instant; their exit codes."""
    ctx = multiprocessing.get_context("spawn")
    start_at = time.time() + 4.0
    workers = [ctx.Process(target=_migrate_at, args=(url, start_at, w)) for w in range(processes)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(120)
    return [p.exitcode for p in workers]


def test_concurrent_migrate_on_an_empty_database(empty_url: str):
    """Six processes opening one empty database at once: every one opens it (PostgreSQL used to
    fail the losers with 'relation "schema_info" already exists')."""
    assert _open_at_once(empty_url, 6) == [0] * 6
    store = Store(empty_url, "race")
    assert store.count_events("opened") == 6
    store.close()


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _scalar(url: str, sql: str):
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar()
    finally:
        engine.dispose()


def test_an_empty_database_gets_every_table_at_head(empty_url: str):
    store = Store(empty_url, "fresh")
    store.tick("docs-api", "alice")
    assert store.checklist()["docs-api"]["actor"] == "alice"
    store.close()
    assert _tables(empty_url) == set(metadata.tables) | {"alembic_version"}
    assert _scalar(empty_url, "SELECT version_num FROM alembic_version") == HEAD
    # the previous code's own marker stays current, so an older release opening it finds nothing to do
    assert _scalar(empty_url, "SELECT version FROM schema_info") == SCHEMA_VERSION


def test_the_migrations_match_the_tables(empty_url: str):
    """Alembic's autogenerate finds nothing to add or change: a table or column added to
    store/schema.py without a revision fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    Store(empty_url, "fresh").close()
    engine = sa.create_engine(empty_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    engine.dispose()
    assert diff == []


def test_head_is_alembics_head():
    from alembic.script import ScriptDirectory

    assert ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head() == HEAD


def _previous_schema(url: str, version: int) -> None:
    """What the previous code left: its tables (create_all), its schema_info row, no alembic_version."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        metadata.create_all(conn)
        conn.execute(schema_info.insert().values(id=1, version=version))
        if version < 2:  # version 1 had no unique index on active incidents, so duplicates could exist
            conn.execute(sa.text("DROP INDEX uq_incidents_active_cause"))
        for at in ("2026-01-01 00:00:00", "2026-01-01 00:05:00"):
            conn.execute(
                incidents.insert().values(
                    launch_id="old", severity="SEV-2", cause="gate:errors" if version < 2 else f"c-{at}",
                    summary="s", status="open", opened_at=dt.datetime.fromisoformat(at + "+00:00"),
                    opened_by="x", last_seen_at=dt.datetime.fromisoformat(at + "+00:00"), details={},
                )
            )  # fmt: skip
        conn.execute(
            audit_events.insert().values(
                launch_id="old", at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), actor="alice", action="kept", details={}
            )
        )
    engine.dispose()


@pytest.mark.parametrize("version", [1, 2])
def test_a_database_of_the_previous_code_is_upgraded_in_place(empty_url: str, version: int):
    _previous_schema(empty_url, version)
    store = Store(empty_url, "old")
    assert store.count_events("kept") == 1, "its rows are kept"
    active = store.incidents(status="active")
    assert len(active) == (1 if version < 2 else 2)  # version 1's duplicate resolved, the oldest kept
    store.close()
    assert _scalar(empty_url, "SELECT version_num FROM alembic_version") == HEAD
    assert _scalar(empty_url, "SELECT version FROM schema_info") == SCHEMA_VERSION
    assert _tables(empty_url) == set(metadata.tables) | {"alembic_version"}


def test_a_previous_database_missing_a_table_gets_it(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _previous_schema(url, 2)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE timeline_events"))
    engine.dispose()
    store = Store(url, "old")
    store.record_timeline("go-live", "done")
    assert [e["status"] for e in store.timeline_events()] == ["done"]
    assert store.count_events("kept") == 1


def test_an_up_to_date_database_opens_without_importing_alembic(tmp_path: Path):
    """Every process opens the store (the emergency rollback on PostgreSQL too): at head, opening
    it is one version read, and Alembic is never imported."""
    url = f"sqlite:///{tmp_path / 'current.db'}"
    Store(url).close()
    probe = (
        f"import sys; from launch_control.store.db import Store; s = Store({url!r}); s.audit('a', 'opened'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_concurrent_upgrade_of_a_previous_database(empty_url: str):
    """Four processes opening a database of the previous code at once: one upgrades it (the
    duplicate active incident resolved once), the others wait for the lock and find it current."""
    _previous_schema(empty_url, 1)
    assert _open_at_once(empty_url, 4) == [0] * 4
    store = Store(empty_url, "old")
    assert len(store.incidents(status="active")) == 1 and len(store.incidents()) == 2
    assert store.with_launch("race").count_events("opened") == 4
    store.close()
    assert _scalar(empty_url, "SELECT version_num FROM alembic_version") == HEAD


def test_a_database_a_newer_release_upgraded_still_opens(empty_url: str):
    """An older release (one kept for emergency rollbacks, say) opens a database whose revision it
    does not know: it leaves the schema alone instead of failing."""
    Store(empty_url, "new").close()
    engine = sa.create_engine(empty_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'from-a-newer-release'"))
    engine.dispose()
    store = Store(empty_url, "new")
    store.audit("alice", "opened")
    assert store.count_events("opened") == 1
    store.close()
    assert _scalar(empty_url, "SELECT version_num FROM alembic_version") == "from-a-newer-release"
