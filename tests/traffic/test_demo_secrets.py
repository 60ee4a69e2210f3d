"""``launch-control demo`` keeps the admin token out of files others can read: the demo plan does
not hold it (the router resolves it from the 0600 token file, as every local tool does), and the
plan and the data directory are private to the user."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from types import SimpleNamespace

from launch_control.commands.demo import demo_plan
from launch_control.config import ensure_admin_token, token_file, write_private


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_demo_plan_holds_no_token_and_is_private(plan, tmp_path) -> None:
    os.umask(0o022)  # the usual umask: what a plain write_text would have made 0644
    token = ensure_admin_token()
    assert mode(token_file()) == 0o600 and mode(token_file().parent) == 0o700
    stack = SimpleNamespace(
        gateway_url="http://127.0.0.1:18080",
        stable_url="http://127.0.0.1:18101",
        canary_url="http://127.0.0.1:18102",
        admin_token=token,
    )
    parsed, path = demo_plan(plan, stack, tmp_path / "demo")
    text = path.read_text()
    assert token not in text, "the demo plan must not hold the admin token in clear"
    assert mode(path) == 0o600
    from launch_control.config import resolve_token

    settings = parsed.rollback.router.model_dump(exclude_none=True)
    assert "token" not in settings
    assert resolve_token(settings) == token  # the router finds it through token_env / the token file


def test_write_private_tightens_an_existing_file(tmp_path) -> None:
    path = tmp_path / "old.yaml"
    path.write_text("x")
    path.chmod(0o644)
    write_private(path, "secret")
    assert mode(path) == 0o600 and path.read_text() == "secret"
