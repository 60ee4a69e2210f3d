"""Fixtures for the protection tests (helpers live in protection_helpers.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from protection_helpers import REDIS_SERVER, PrivateRedis


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A redis-server of our own on a free port (never the machine's 6379), stopped afterwards."""
    if not Path(REDIS_SERVER).exists():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("redis-server binary required under CI")
        pytest.skip("redis-server binary not installed")
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()
