"""One real Prefect server for the session (``prefect server start`` on a free loopback port,
``PREFECT_HOME`` in a temporary directory) for the engine's Prefect integration tests.

(The flow tests live here, not in tests/flows: a ``tests/flows`` directory would shadow the
``flows`` package as a namespace package whenever ``tests/`` is on sys.path.)"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):

    from launch_control.flows.server import PrefectServer, PrefectServerError

    server = PrefectServer(tmp_path_factory.mktemp("prefect-home"), timeout=90)
    try:
        server.start()
    except PrefectServerError as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"prefect server did not start: {exc}")
        pytest.skip(f"prefect server did not start: {exc}")
    saved = {k: os.environ.get(k) for k in server.env()}
    os.environ.update(server.env())
    yield server
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    server.stop()
