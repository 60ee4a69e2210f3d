"""Console test fixtures: a store with a full launch's data (copied from one built per session),
an empty store, and AppTest runners that sign in as a role."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "console" / "app.py"
PAGES = {
    "overview": "pages/launch/overview.py",
    "checklist": "pages/launch/checklist.py",
    "timeline": "pages/launch/timeline.py",
    "metrics": "pages/observe/metrics.py",
    "rate_limits": "pages/observe/rate_limits.py",
    "incidents": "pages/respond/incidents.py",
    "controls": "pages/respond/controls.py",
    "criteria": "pages/review/criteria.py",
}


@pytest.fixture(scope="session")
def full_launch_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file holding a whole launch (72 h of 1-minute samples), built once."""
    from launch_control.console.lib.sample_launch import write_full_launch

    from launch_control.store.db import Store
    from launch_control.store.lastgood import load_plan

    path = tmp_path_factory.mktemp("full") / "full.db"
    plan = load_plan()
    store = Store(f"sqlite:///{path}", launch_id=plan.launch_id)
    write_full_launch(store, plan, resolution=60)
    store.close()  # the last connection closing checkpoints the WAL into the file
    return path


def _use_db(path: Path, monkeypatch: pytest.MonkeyPatch):
    from launch_control.store.db import Store
    from launch_control.store.lastgood import load_plan

    url = f"sqlite:///{path}"
    monkeypatch.setenv("LAUNCH_CONTROL_DATABASE_URL", url)
    monkeypatch.setenv("LAUNCH_CONTROL_CONSOLE_REFRESH", "0")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    return Store(url, launch_id=load_plan().launch_id)


@pytest.fixture
def full_store(full_launch_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    copy = tmp_path / "console.db"
    shutil.copyfile(full_launch_db, copy)
    for suffix in ("-wal", "-shm"):
        if Path(f"{full_launch_db}{suffix}").exists():
            shutil.copyfile(f"{full_launch_db}{suffix}", f"{copy}{suffix}")
    store = _use_db(copy, monkeypatch)
    yield store
    store.close()


@pytest.fixture
def empty_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    store = _use_db(tmp_path / "empty.db", monkeypatch)
    yield store
    store.close()


@pytest.fixture
def console() -> Callable[..., object]:
    """``console("checklist", role="lead")`` → an AppTest that has rendered that page."""
    from streamlit.testing.v1 import AppTest

    def open_page(page: str, *, role: str | None = None, name: str | None = None, timeout: float = 30):
        at = AppTest.from_file(str(APP), default_timeout=timeout)
        if role is not None:
            at.session_state["lc_user"] = {"name": name or f"{role}-user", "role": role, "source": "local"}
        at.run()
        if page != "overview":
            at.switch_page(PAGES[page]).run()
        return at

    return open_page
