"""The console's plan and store, built once per process and shared by every session.

The store is ``Store(launch_id=plan.launch_id)`` on ``$LAUNCH_CONTROL_DATABASE_URL`` (or the SQLite
file in ``$LAUNCH_CONTROL_DATA_DIR``); the plan comes from ``$LAUNCH_CONTROL_PLAN`` (or the shipped
plan). Both are ``st.cache_resource`` entries keyed by their location, so tests that point the
environment somewhere else get their own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import streamlit as st

from launch_control.plan.model import Plan, plan_path
from launch_control.store.db import Store, default_url
from launch_control.store.lastgood import load_plan

REFRESH_ENV = "LAUNCH_CONTROL_CONSOLE_REFRESH"


@dataclass(frozen=True)
class Context:
    plan: Plan
    store: Store


@st.cache_resource(show_spinner=False)
def _plan(path: str, mtime: float) -> Plan:
    return load_plan(path)


@st.cache_resource(show_spinner=False)
def _store(url: str, launch_id: str) -> Store:
    return Store(url, launch_id=launch_id)


def context() -> Context:
    """The plan and the store; raises PlanError / StoreError with a message to show."""
    path = plan_path()
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        mtime = 0.0
    plan = _plan(str(path), mtime)
    return Context(plan, _store(default_url(), plan.launch_id))


def refresh_seconds() -> float | None:
    """How often live parts refresh (``$LAUNCH_CONTROL_CONSOLE_REFRESH``, default 5 s; 0 turns it off)."""
    try:
        value = float(os.environ.get(REFRESH_ENV, "5"))
    except ValueError:
        value = 5.0
    return value if value > 0 else None


def get() -> Context:
    """The context stored in session state by app.py for this run."""
    ctx: Any = st.session_state.get("lc_context")
    if ctx is None:
        ctx = context()
    return ctx
