"""Sign-in for the console: local accounts (argon2) in the sidebar, or OIDC through ``st.login``.

A local sign-in holds across reloads and tabs: the server signs a short token
(``launch_control.web.auth.issue_token``, HMAC-SHA256 with the 0600 key in the data directory) and the
browser keeps it in the ``lc_session`` cookie (SameSite=Strict, expiring with the token). The
cookie is read back with Streamlit's own ``st.context.cookies`` and written with Streamlit's own
``st.html(..., unsafe_allow_javascript=True)``: both ship with Streamlit itself, so no third-party
cookie component (most are unmaintained forks) sits between a lead and the controls.

The sign-in button works through a callback, which Streamlit runs before the script whatever
else is re-running (the live fragments refresh every few seconds): a click is never dropped.
Lockout (per account and per client address) lives in the store's audit trail, so a reload or a
new browser does not reset it, and every attempt — refused ones too — is audited.
"""

from __future__ import annotations

import json
import time
from typing import Any

import streamlit as st

from launch_control.web import auth
from launch_control.web.auth import User, oidc_user

COOKIE = "lc_session"


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


def client() -> str:
    """The browser's address as the server saw it (the per-client lockout key)."""
    try:
        address = st.context.ip_address
    except Exception:
        address = None
    if not address:
        try:
            address = (st.context.headers.get("X-Forwarded-For") or "").split(",")[0].strip() or None
        except Exception:
            address = None
    return address or "local"


def _cookie_token() -> str | None:
    try:
        return st.context.cookies.get(COOKIE)
    except Exception:  # AppTest and bare scripts have no request
        return None


def _remember(user: User) -> None:
    st.session_state["lc_user"] = {"name": user.name, "role": user.role, "source": user.source}


def current_user(store: Any) -> User | None:
    data = st.session_state.get("lc_user")
    if data:
        return User(**data)
    token = _cookie_token()
    if token and not st.session_state.get("lc_signed_out"):
        found = auth.session_user(store, auth.session_secret(), token, time.time())
        if found is not None:
            user, claims = found
            _remember(user)
            st.session_state["lc_sid"] = claims.sid
            return user
    if oidc_enabled() and _oidc_logged_in():
        return oidc_user(store, st.user.to_dict())
    return None


def _sign_in(store: Any) -> None:
    """The form's callback: runs before the next script run, so it cannot be lost to a refresh."""
    name = str(st.session_state.get("lc_login_name") or "")
    password = str(st.session_state.get("lc_login_password") or "")
    st.session_state["lc_login_password"] = ""
    user, message = auth.sign_in(store, name, password, client(), time.time())
    if user is None:
        st.session_state["lc_login_error"] = message
        return
    token, sid = auth.issue_token(auth.session_secret(), user.name, time.time())
    st.session_state.update(lc_login_error=None, lc_signed_out=False, lc_token=token, lc_sid=sid)
    _remember(user)


def _sign_out(store: Any, user: User) -> None:
    store.audit(user.actor, "console.logout", sid=st.session_state.get("lc_sid"), client=client())
    st.session_state.update(lc_user=None, lc_token=None, lc_sid=None, lc_signed_out=True, lc_clear_cookie=True)
    if user.source == "oidc":
        st.logout()


def _cookie_script(value: str, max_age: int) -> None:
    # SameSite=Strict: the token never rides along on a request another site starts.
    cookie = json.dumps(f"{COOKIE}={value}; Path=/; Max-Age={max_age}; SameSite=Strict")
    st.html(f"<script>document.cookie = {cookie};</script>", unsafe_allow_javascript=True)


def sidebar(store: Any) -> User | None:
    """The account box in the sidebar; returns the signed-in person (or None)."""
    user = current_user(store)
    with st.sidebar:
        if user is not None:
            if token := st.session_state.get("lc_token"):
                _cookie_script(token, int(auth.session_ttl()))
            st.markdown(f"Signed in as **{user.name}** · {user.role}")
            st.button("Sign out", key="lc_sign_out", on_click=_sign_out, args=(store, user))
            return user
        if st.session_state.pop("lc_clear_cookie", False):
            _cookie_script("", 0)
        st.caption("Reading anonymously. Sign in to act.")
        if oidc_enabled():
            st.button("Sign in with SSO", key="lc_sso", on_click=st.login, type="primary")
        with st.expander("Local account", expanded=not oidc_enabled()), st.form("lc_login", border=False):
            st.text_input("Name", key="lc_login_name")
            st.text_input("Password", type="password", key="lc_login_password")
            st.form_submit_button("Sign in", on_click=_sign_in, args=(store,))
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
        st.info(f"Sign in (sidebar) to {what}.", icon=":material/lock:")
        return None
    if not who.can(permission):
        st.info(f"Your role ({who.role}) cannot {what}.", icon=":material/lock:")
        return None
    return who
