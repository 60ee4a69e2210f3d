"""Login and roles: local accounts (argon2) through the sidebar form, OIDC through st.user; no
control without a login; every sign-in audited."""

from __future__ import annotations

import pytest
from conftest import APP, PAGES

from launch_control.web.auth import NO_PASSWORD, add_user, authenticate, oidc_configured


def test_passwords_are_hashed_and_checked(empty_store):
    add_user(empty_store, "lena", "lead", "long-enough-pw")
    row = empty_store.user("lena")
    assert row["password_hash"].startswith("$argon2") and "long-enough-pw" not in row["password_hash"]
    assert authenticate(empty_store, "lena", "long-enough-pw").role == "lead"
    assert authenticate(empty_store, "lena", "wrong-password") is None
    assert authenticate(empty_store, "nobody", "long-enough-pw") is None
    add_user(empty_store, "sso@example.com", "lead", None, oidc=True)
    assert empty_store.user("sso@example.com")["password_hash"] == NO_PASSWORD
    assert authenticate(empty_store, "sso@example.com", NO_PASSWORD) is None


def test_bad_accounts_are_refused(empty_store):
    from launch_control.errors import UsageError

    with pytest.raises(UsageError, match="role"):
        add_user(empty_store, "x", "admin", "long-enough-pw")
    with pytest.raises(UsageError, match="at least 8"):
        add_user(empty_store, "x", "lead", "short")
    with pytest.raises(UsageError, match="user name"):
        add_user(empty_store, "bad name", "lead", "long-enough-pw")


def test_login_form_signs_in_and_audits(empty_store, console):
    add_user(empty_store, "lena", "lead", "long-enough-pw")
    at = console("overview")
    assert at.session_state["lc_current_user"] is None
    at.text_input(key="lc_login_name").input("lena")
    at.text_input(key="lc_login_password").input("wrong-password")
    next(b for b in at.button if b.label == "Sign in").click().run()
    assert at.session_state["lc_user"] is None
    assert any("Wrong name or password" in e.value for e in at.error)
    assert empty_store.events(action="console.login_failed")[0]["details"]["name"] == "lena"
    at.text_input(key="lc_login_password").input("long-enough-pw")
    next(b for b in at.button if b.label == "Sign in").click().run()
    assert at.session_state["lc_user"]["name"] == "lena"
    assert empty_store.events(action="console.login")[0]["actor"] == "lena"
    at.switch_page(PAGES["controls"]).run()  # registered now that a lead is signed in
    assert [t.value for t in at.title] == ["Controls"]


@pytest.mark.parametrize("role", ["viewer", "reviewer", None])
def test_controls_absent_without_a_lead_login(empty_store, console, role):
    at = console("overview", role=role)
    at.switch_page(PAGES["controls"]).run()  # the URL answers, with a refusal and no control
    assert "launch leads only" in " ".join(i.value for i in at.info)
    assert not [t for t in at.text_input if "reason" in (t.key or "")]
    for page in PAGES:
        at.switch_page(PAGES[page]).run()
        keys = [b.key or "" for b in at.button]
        assert not [k for k in keys if k.endswith("-go") or k.startswith(("ack-", "resolve-", "check-"))], page


@pytest.mark.parametrize("role", ["viewer", None])
def test_controls_page_itself_refuses_without_a_lead(empty_store, role):
    """Even run directly (not through the navigation), the page shows no control."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP.parent / PAGES["controls"]), default_timeout=30)
    if role:
        at.session_state["lc_current_user"] = {"name": "vic", "role": role, "source": "local"}
    at.run()
    assert not at.exception
    assert not at.button and not at.text_input
    assert "launch leads only" in at.info[0].value


def test_oidc_user_gets_role_from_users_table(empty_store, console):
    from streamlit.testing.v1 import AppTest

    add_user(empty_store, "lead@example.com", "lead", None, oidc=True)
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.secrets["auth"] = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "x",
                          "client_id": "id", "client_secret": "secret",
                          "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}
    at.user = {"is_logged_in": True, "email": "lead@example.com", "name": "Lead"}
    at.run()
    assert not at.exception
    assert at.session_state["lc_current_user"] == {"name": "lead@example.com", "role": "lead", "source": "oidc"}
    at.switch_page(PAGES["controls"]).run()
    assert "oidc:lead@example.com" in " ".join(c.value for c in at.caption)

    stranger = AppTest.from_file(str(APP), default_timeout=30)
    stranger.secrets["auth"] = dict(at.secrets["auth"])
    stranger.user = {"is_logged_in": True, "email": "someone@example.com"}
    stranger.run()
    assert stranger.session_state["lc_current_user"]["role"] == "viewer"
    signed_out = AppTest.from_file(str(APP), default_timeout=30)
    signed_out.secrets["auth"] = dict(at.secrets["auth"])
    signed_out.user = {"is_logged_in": False}
    signed_out.run()
    assert signed_out.session_state["lc_current_user"] is None
    assert any(b.label == "Sign in with SSO" for b in signed_out.button)


def test_without_auth_config_st_user_is_never_read(empty_store, console, tmp_path):
    at = console("overview")  # AppTest's default st.user has no is_logged_in: reading it would raise
    assert not at.exception
    assert not any(b.label == "Sign in with SSO" for b in at.button)
    assert oidc_configured(tmp_path) is False
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text('[auth]\nredirect_uri = "x"\n')
    assert oidc_configured(tmp_path) is True


def test_session_tokens_are_signed_expire_and_end_at_sign_out(empty_store):
    from launch_control.web.auth import issue_token, read_token, session_secret, session_user

    add_user(empty_store, "lena", "lead", "long-enough-pw")
    secret = session_secret()
    assert secret == session_secret(), "the key is kept (0600 file in the data dir)"
    token, sid = issue_token(secret, "lena", 1_000.0, ttl=60)
    assert read_token(secret, token, 1_030.0).name == "lena"
    assert read_token(secret, token, 1_061.0) is None, "expired"
    assert read_token(b"another key", token, 1_030.0) is None, "signed with this server's key only"
    body, sig = token.split(".")
    assert read_token(secret, body[:-2] + "xx." + sig, 1_030.0) is None, "tampered"
    import time

    token, sid = issue_token(secret, "lena", time.time())
    user, _claims = session_user(empty_store, secret, token, time.time())
    assert user.role == "lead"
    empty_store.put_user("lena", "viewer", empty_store.user("lena")["password_hash"])
    assert session_user(empty_store, secret, token, time.time())[0].role == "viewer", "role read from the store"
    empty_store.audit("lena", "console.logout", sid=sid)
    assert session_user(empty_store, secret, token, time.time()) is None, "signed out: the token is refused"


def test_lockout_per_account_and_per_client_is_in_the_store(empty_store, monkeypatch):
    import time

    from launch_control.web import auth

    add_user(empty_store, "lena", "lead", "long-enough-pw")
    now = time.time()
    for _ in range(auth.MAX_FAILURES):
        user, message = auth.sign_in(empty_store, "lena", "wrong-password", "10.0.0.1", now)
        assert user is None and message == "Wrong name or password."
    user, message = auth.sign_in(empty_store, "lena", "long-enough-pw", "10.0.0.2", now)
    assert user is None and "locked" in message, "the right password from another client is refused too"
    refused = empty_store.events(action="console.login_refused")
    assert refused and refused[0]["details"]["client"] == "10.0.0.2", "attempts during lockout are audited"
    later = time.time() + auth.lockout_seconds() + 1  # after every recorded failure, however slow the hashing
    assert auth.sign_in(empty_store, "lena", "long-enough-pw", "10.0.0.2", later)[0].name == "lena"
    # Rows are stamped with the real clock: judge the client's failures at the real time too.
    for i in range(auth.MAX_CLIENT_FAILURES):
        auth.sign_in(empty_store, f"guess{i}", "wrong-password", "10.9.9.9", time.time())
    user, message = auth.sign_in(empty_store, "lena", "long-enough-pw", "10.9.9.9", time.time())
    assert user is None and "from this address" in message
