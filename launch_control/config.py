"""Where Launch Control keeps its files and secrets on this machine, and the default ports.

Environment variables (all optional; the embedded defaults run everything on one laptop):
  LAUNCH_CONTROL_PLAN          plan file (default: the shipped checklist/promptforge-v3.yaml)
  LAUNCH_CONTROL_DATA_DIR      data directory (default: $XDG_DATA_HOME/launch-control, i.e.
                               ~/.local/share/launch-control)
  LAUNCH_CONTROL_DATABASE_URL  store URL (default: SQLite file in the data directory)
  LAUNCH_CONTROL_REDIS_URL     Redis for rate limits and shared status (default: in-memory)
  LAUNCH_CONTROL_ADMIN_TOKEN   token for the gateway's and demo's admin APIs
  LAUNCH_CONTROL_ACTOR         who the CLI acts as in the audit trail (default: cli:<login>)
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from launch_control.errors import UsageError

DATA_DIR_ENV = "LAUNCH_CONTROL_DATA_DIR"
ADMIN_TOKEN_ENV = "LAUNCH_CONTROL_ADMIN_TOKEN"
REDIS_URL_ENV = "LAUNCH_CONTROL_REDIS_URL"

PORTS = {"gateway": 8080, "stable": 8101, "canary": 8102, "model": 8103, "console": 8501, "prefect": 4200}


def data_dir() -> Path:
    """``$LAUNCH_CONTROL_DATA_DIR``, else the user's data directory. Not the working directory: the
    on-call engineer's ``emergency-rollback`` must find the store and token the launch wrote,
    whichever directory the command is run from."""
    if explicit := os.environ.get(DATA_DIR_ENV):
        return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "launch-control"


def token_file() -> Path:
    return data_dir() / "admin-token"


def ensure_admin_token() -> str:
    """The admin token for a local stack: the env var, else the data dir's token file (created 0600)."""
    if token := os.environ.get(ADMIN_TOKEN_ENV):
        return token
    path = token_file()
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by this user only (0600, also when it existed before):
    for files that may hold a token or point at one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an older file keeps its mode through O_CREAT: set it
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def resolve_token(settings: Mapping[str, Any]) -> str:
    """An adapter's admin token: ``token`` in its settings, else the env var named by ``token_env``
    (default LAUNCH_CONTROL_ADMIN_TOKEN), else the local stack's token file."""
    if settings.get("token"):
        return str(settings["token"])
    env_name = str(settings.get("token_env") or ADMIN_TOKEN_ENV)
    if token := os.environ.get(env_name):
        return token
    path = token_file()
    if path.exists():
        return path.read_text().strip()
    raise UsageError(
        f"no admin token: set {env_name}, or start the local stack (launch-control up) which writes {path}"
    )
