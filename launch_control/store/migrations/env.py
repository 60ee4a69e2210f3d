"""Alembic's environment for the store: migrate the connection the store hands over (under its
schema lock, in its transaction), or — from the ``alembic`` command line — a database URL given
as ``-x url=...``, else ``$LAUNCH_CONTROL_DATABASE_URL``, else the default SQLite file.

This directory holds Alembic scripts, not a Python package (no ``__init__.py``: nothing imports
it; ``launch_control.store.upgrade`` applies ``versions/`` on open). A new revision, from the
checkout against a database at the current head::

    .venv/bin/alembic -x url=sqlite:///path/to.db revision --autogenerate -m "what changes"

then raise ``HEAD`` in ``launch_control/store/upgrade.py``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from launch_control.store.connection import Database
from launch_control.store.schema import metadata


def _migrate(connection: Connection) -> None:
    # SQLite cannot ALTER most things in place: batch mode lets future revisions change columns there.
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
    with context.begin_transaction():  # inside the store's transaction this is a no-op
        context.run_migrations()


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    database = Database(context.get_x_argument(as_dictionary=True).get("url"))
    with database.engine.begin() as conn:
        _migrate(conn)
    database.close()


run()
