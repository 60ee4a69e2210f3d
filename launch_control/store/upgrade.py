"""Schema upgrades on open: Alembic revisions (``launch_control/store/migrations``) applied under
a lock, after a cheap version read so that an up-to-date database never imports Alembic.

Importing Alembic adds ~75 ms to a process (``python -X importtime``, median of five: the store
212 ms, with ``alembic.command`` 288 ms), and every process opens the store — the emergency
rollback on PostgreSQL included.
So ``upgrade`` first reads ``alembic_version`` with one plain query; only a database behind
``HEAD`` takes the lock (PostgreSQL: an advisory transaction lock; SQLite: the ``BEGIN IMMEDIATE``
every store transaction starts with), reads again (another process may have just upgraded it)
and runs ``alembic upgrade head`` on that connection, in that transaction. A revision this
code does not know (a newer release upgraded the database) is left alone, as before Alembic.

A database the previous code made has ``schema_info`` (its own version counter) and no
``alembic_version``: the old hand-written statements bring it to their last version, then the
baseline revision adds only the tables it lacks — it is stamped, its rows untouched.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from launch_control.store.schema import SCHEMA_VERSION

# The newest revision in migrations/versions (a test checks that Alembic agrees).
HEAD = "0001"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# The previous code's upgrades, version → statements, applied to its databases before the baseline
# (up to SCHEMA_VERSION, the last one it had).
LEGACY_MIGRATIONS: dict[int, list[str]] = {
    # 2: one active incident per cause. Older stores may hold duplicates: keep the oldest of each.
    2: [
        "UPDATE incidents SET status = 'resolved', resolved_by = 'schema-upgrade' WHERE status <> 'resolved' "
        "AND id NOT IN (SELECT MIN(id) FROM incidents WHERE status <> 'resolved' GROUP BY launch_id, cause)",
        "CREATE UNIQUE INDEX IF NOT EXISTS uq_incidents_active_cause ON incidents (launch_id, cause) "
        "WHERE status <> 'resolved'",
    ],
}

# Any fixed 64-bit number: every process upgrading one PostgreSQL database takes this lock.
_LOCK_KEY = 0x4C43_5354_4F52_45  # "LCSTORE"


def upgrade(engine: Engine) -> bool:
    """Bring the database to ``HEAD``; False when it already was (nothing imported, nothing locked)."""
    if _version(engine) == HEAD:
        return False
    with engine.begin() as conn:
        _lock(conn)
        tables = set(sa.inspect(conn).get_table_names())
        current = None
        if "alembic_version" in tables:
            current = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        if current == HEAD:
            return False  # another process upgraded it while this one waited for the lock
        if "schema_info" in tables and "alembic_version" not in tables:
            _upgrade_legacy(conn)
        return _alembic_upgrade(conn, current)


def _version(engine: Engine) -> str | None:
    """The revision recorded in the database, or None (no ``alembic_version`` table yet)."""
    with engine.connect() as conn:
        try:
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        except sa.exc.ProgrammingError:  # PostgreSQL: no such table
            return None
        except sa.exc.OperationalError as exc:  # SQLite says "no such table"; anything else is real
            if "no such table" in str(exc.orig):
                return None
            raise


def _lock(conn: Connection) -> None:
    """Serialise schema changes between processes for the rest of ``conn``'s transaction.

    Two processes creating the tables of one empty PostgreSQL database at once race: both see no
    table, both CREATE, the loser fails with 'relation ... already exists'. An advisory transaction
    lock makes the second wait and then find the tables. SQLite needs nothing here: the store's
    transactions start with BEGIN IMMEDIATE, which already holds the file's write lock.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


def _upgrade_legacy(conn: Connection) -> None:
    current = conn.exec_driver_sql("SELECT version FROM schema_info").scalar()
    if current is None:  # the previous code wrote its row after creating the tables
        return
    for version in range(current + 1, SCHEMA_VERSION + 1):
        for statement in LEGACY_MIGRATIONS.get(version, []):
            conn.exec_driver_sql(statement)
    if current < SCHEMA_VERSION:
        conn.exec_driver_sql(f"UPDATE schema_info SET version = {SCHEMA_VERSION}")


def _alembic_upgrade(conn: Connection, current: str | None) -> bool:
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = conn
    if current is not None and current not in {
        script.revision for script in ScriptDirectory.from_config(config).walk_revisions()
    }:
        # A newer release upgraded this database (its revision is not among ours): leave it as it is,
        # as the hand-written upgrades did with a newer version number — an older release, say one
        # kept for emergency rollbacks, must still open it.
        return False
    command.upgrade(config, "head")
    return True
