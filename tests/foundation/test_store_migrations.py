"""Schema creation and upgrades on SQLite and PostgreSQL: from an empty database, from the previous
schema, and with several processes opening one fresh database at the same moment."""

from __future__ import annotations

import multiprocessing
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from launch_control.store.db import Store


@pytest.fixture
def fresh_pg(pg_url: str) -> Iterator[str]:
    """A brand-new, empty PostgreSQL database for one test (the session's database is already migrated)."""
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    name = f"lc_mig_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield pg_url.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


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


def test_concurrent_migrate_on_an_empty_database(empty_url: str):
    """Six processes opening one empty database at once: every one opens it (PostgreSQL used to
    fail the losers with 'relation "schema_info" already exists')."""
    ctx = multiprocessing.get_context("spawn")
    start_at = time.time() + 4.0
    workers = [ctx.Process(target=_migrate_at, args=(empty_url, start_at, w)) for w in range(6)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(120)
    assert [p.exitcode for p in workers] == [0] * 6
    store = Store(empty_url, "race")
    assert store.count_events("opened") == 6
    store.close()
