"""Sign-in for the console: local accounts (argon2) in the sidebar, or OIDC through ``st.login``.

The signed-in person is kept in ``st.session_state["lc_user"]`` (local) or read from ``st.user``
(OIDC). Anonymous visitors can read; every change needs a login with the right role.
"""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from launch_control.auth import User, authenticate, oidc_user

MAX_FAILURES = 5
LOCKOUT_SECONDS = 30.0


def oidc_enabled() -> bool:
    """An ``[auth]`` section in the secrets: only then may ``st.user.is_logged_in`` be read."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all: Streamlit raises rather than answering False
        return False


def _oidc_logged_in() -> bool:
    try:
        return bool(st.user.is_logged_in)
    except Exception:  # Authlib missing or a half-configured provider: treat as signed out
        return False


def current_user(store: Any) -> User | None:
    data = st.session_state.get("lc_user")
    if data:
        return User(**data)
    if oidc_enabled() and _oidc_logged_in():
        return oidc_user(store, st.user.to_dict())
    return None


def _sign_in(store: Any, name: str, password: str) -> None:
    now = time.monotonic()
    locked_until = st.session_state.get("lc_locked_until", 0.0)
    if now < locked_until:
        st.session_state["lc_login_error"] = f"Too many failed attempts; try again in {locked_until - now:.0f} s."
        return
    user = authenticate(store, name.strip(), password)
    if user is None:
        failures = st.session_state.get("lc_failures", 0) + 1
        st.session_state["lc_failures"] = failures
        if failures >= MAX_FAILURES:
            st.session_state["lc_locked_until"] = now + LOCKOUT_SECONDS
            st.session_state["lc_failures"] = 0
        store.audit("anonymous", "console.login_failed", name=name.strip()[:128])
        st.session_state["lc_login_error"] = "Wrong name or password."
        return
    st.session_state["lc_failures"] = 0
    st.session_state["lc_login_error"] = None
    st.session_state["lc_user"] = {"name": user.name, "role": user.role, "source": user.source}
    store.audit(user.actor, "console.login", role=user.role)


def _sign_out(store: Any, user: User) -> None:
    store.audit(user.actor, "console.logout")
    st.session_state["lc_user"] = None
    if user.source == "oidc":
        st.logout()


def sidebar(store: Any) -> User | None:
    """The account box in the sidebar; returns the signed-in person (or None)."""
    user = current_user(store)
    with st.sidebar:
        if user is not None:
            st.markdown(f"Signed in as **{user.name}** · {user.role}")
            st.button("Sign out", key="lc_sign_out", on_click=_sign_out, args=(store, user))
            return user
        st.caption("Reading anonymously. Sign in to act.")
        if oidc_enabled():
            st.button("Sign in with SSO", key="lc_sso", on_click=st.login, type="primary")
        with st.expander("Local account", expanded=not oidc_enabled()), st.form("lc_login", border=False):
            name = st.text_input("Name", key="lc_login_name")
            password = st.text_input("Password", type="password", key="lc_login_password")
            if st.form_submit_button("Sign in"):
                _sign_in(store, name, password)
                if st.session_state.get("lc_user"):
                    st.rerun()
        if error := st.session_state.get("lc_login_error"):
            st.error(error)
    return None


def user() -> User | None:
    """The person signed in for this run (set by app.py)."""
    data = st.session_state.get("lc_current_user")
    return User(**data) if data else None


def require(permission: str, what: str) -> User | None:
    """The signed-in person if they may ``permission``; else a plain note and None."""
    who = user()
    if who is None:
        st.info(f"Sign in (sidebar) to {what}.", icon="🔒")
        return None
    if not who.can(permission):
        st.info(f"Your role ({who.role}) cannot {what}.", icon="🔒")
        return None
    return who
