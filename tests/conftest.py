"""Shared fixtures: the default plan, stores on SQLite and the machine's PostgreSQL, Redis, ports.

A test that needs a service this machine does not have skips with the reason — except under
``CI=true``, where a missing service is a failure (CI must exercise everything).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("LAUNCH_CONTROL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("LAUNCH_CONTROL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# Session-scoped fixtures run before the per-test data dir below: give them a private one too
# (a loaded plan is remembered in the data dir as the last good plan).
os.environ["LAUNCH_CONTROL_DATA_DIR"] = tempfile.mkdtemp(prefix="lc-test-data-")

# Quiet, offline Prefect for any test that imports it (see FIELD-NOTES.md).
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY", "false")
os.environ.setdefault("PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS", "false")


def unavailable(reason: str) -> None:
    """Skip on a developer's machine, fail under CI: CI must run every test."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"required service unavailable under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def service_unavailable():
    """``unavailable`` for test modules: ``from conftest import`` would find their own directory's conftest."""
    return unavailable


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test writes the developer's own store or reads their environment's plan."""
    monkeypatch.setenv("LAUNCH_CONTROL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("LAUNCH_CONTROL_DATABASE_URL", raising=False)
    monkeypatch.delenv("LAUNCH_CONTROL_PLAN", raising=False)
    monkeypatch.delenv("LAUNCH_CONTROL_REDIS_URL", raising=False)


@pytest.fixture(scope="session")
def plan():
    from launch_control.store.lastgood import load_plan

    return load_plan()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    import sqlalchemy as sa

    from launch_control.store.db import _normalise

    admin_url = _normalise(POSTGRES_URL)
    try:
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any driver error means: no PostgreSQL here
        unavailable(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}")
    admin.dispose()
    with new_pg_database(admin_url, "lc_test") as url:
        yield url


@contextlib.contextmanager
def new_pg_database(admin_url: str, prefix: str) -> Iterator[str]:
    """Create an empty PostgreSQL database next to ``admin_url``'s, yield its URL, drop it after."""
    import sqlalchemy as sa

    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def fresh_pg(pg_url: str) -> Iterator[str]:
    """A brand-new, empty PostgreSQL database for one test (the session's ``pg_url`` is already migrated)."""
    with new_pg_database(pg_url, "lc_fresh") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(store_url: str):
    """A store on SQLite and (second parametrisation) on PostgreSQL, with its own launch id."""
    from launch_control.store.db import Store

    s = Store(store_url, launch_id=f"test-{uuid.uuid4().hex[:8]}")
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path: Path):
    from launch_control.store.db import Store

    s = Store(f"sqlite:///{tmp_path / 'store.db'}", launch_id="promptforge-v3")
    yield s
    s.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable(f"Redis not reachable at {REDIS_URL}: {exc}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix unique to this test; its keys are deleted afterwards."""
    import redis

    prefix = f"lc-test:{uuid.uuid4().hex[:8]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"*{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for running the CLI in a subprocess against a private store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAUNCH_CONTROL_")}
    env["LAUNCH_CONTROL_DATA_DIR"] = str(tmp_path / "data")
    env["LAUNCH_CONTROL_ACTOR"] = "tester"
    return env


def run_cli(*args: str, env: dict[str, str], timeout: float = 60, entry: str = "launch-control", stdin: str = ""):
    """Run ``launch-control`` (or ``emergency-rollback``) as a user would; returns CompletedProcess."""
    script = Path(sys.executable).parent / entry
    return subprocess.run(
        [str(script), *args], env=env, capture_output=True, text=True, timeout=timeout, input=stdin, cwd=ROOT
    )


@pytest.fixture
def cli(cli_env: dict[str, str]):
    def _run(*args: str, entry: str = "launch-control", timeout: float = 60, stdin: str = ""):
        return run_cli(*args, env=cli_env, timeout=timeout, entry=entry, stdin=stdin)

    return _run
