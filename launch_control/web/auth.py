"""Who may do what in the ops console: local accounts with argon2-hashed passwords, roles, OIDC.

Accounts live in the store's ``users`` table (``launch-control users add NAME --role ROLE``).
Roles:
  viewer    reads every page; changes nothing
  lead      runs the launch: controls (traffic, ramp, rollback), checklist ticks, incidents
  reviewer  enters business verdicts on the success criteria

With OIDC configured (an ``[auth]`` section in ``.streamlit/secrets.toml``), people sign in with
their identity provider through ``st.login``; their role comes from a users-table row named by
their e-mail (added with ``users add EMAIL --role ROLE --oidc``, which stores no usable password);
anyone else signed in is a viewer. This module has no Streamlit import: the console calls it.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from launch_control.errors import UsageError

Role = Literal["viewer", "lead", "reviewer"]
ROLES: tuple[Role, ...] = ("viewer", "lead", "reviewer")

# Permissions per role. "read" is implied for everyone signed in or not (the console is read-only
# for anonymous visitors); every other permission needs a login.
PERMISSIONS: dict[str, frozenset[str]] = {
    "viewer": frozenset(),
    "lead": frozenset({"control", "tick", "incident", "run_check"}),
    "reviewer": frozenset({"verdict"}),
}

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}$")
MIN_PASSWORD = 8
# Stored for accounts that sign in only through OIDC: never a valid argon2 hash.
NO_PASSWORD = "!oidc-only"


@dataclass(frozen=True)
class User:
    name: str
    role: str
    source: Literal["local", "oidc"] = "local"

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())

    @property
    def actor(self) -> str:
        """How this person appears in the audit trail."""
        return self.name if self.source == "local" else f"oidc:{self.name}"


def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher()


def hash_password(password: str) -> str:
    return str(_hasher().hash(password))


def verify_password(password_hash: str, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    try:
        return bool(_hasher().verify(password_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UsageError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    return role


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name or ""):
        raise UsageError(
            f"invalid user name {name!r}: use 1–128 letters, digits and . _ @ + - (starting with a letter or digit)"
        )
    return name


def add_user(store: Any, name: str, role: str, password: str | None, *, oidc: bool = False) -> User:
    """Create or update an account. ``oidc=True`` stores no usable password (OIDC sign-in only)."""
    check_name(name)
    check_role(role)
    if oidc:
        store.put_user(name, role, NO_PASSWORD)
        return User(name, role, "oidc")
    if password is None or len(password) < MIN_PASSWORD:
        raise UsageError(f"the password must have at least {MIN_PASSWORD} characters")
    store.put_user(name, role, hash_password(password))
    return User(name, role, "local")


# Verified against when the name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH: str | None = None


def authenticate(store: Any, name: str, password: str) -> User | None:
    """The account if ``name`` and ``password`` match an enabled local account, else None."""
    global _DUMMY_HASH
    row = store.user(name) if name else None
    if row is None or row.get("disabled") or row["password_hash"] == NO_PASSWORD:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = hash_password("not-a-real-password")
        verify_password(_DUMMY_HASH, password or "")
        return None
    if not verify_password(row["password_hash"], password or ""):
        return None
    return User(row["name"], row["role"], "local")


def oidc_user(store: Any, claims: Mapping[str, Any]) -> User:
    """The signed-in OIDC identity with its role (a users-table row by e-mail or name; else viewer)."""
    name = str(claims.get("email") or claims.get("preferred_username") or claims.get("name") or claims.get("sub"))
    row = store.user(name)
    role = row["role"] if row is not None and not row.get("disabled") else "viewer"
    return User(name, role, "oidc")


def secrets_paths(cwd: str | os.PathLike[str] | None = None) -> list[Path]:
    """Where Streamlit looks for secrets: the working directory's ``.streamlit``, then the home one."""
    base = Path(cwd) if cwd else Path.cwd()
    return [base / ".streamlit" / "secrets.toml", Path.home() / ".streamlit" / "secrets.toml"]


def oidc_configured(cwd: str | os.PathLike[str] | None = None) -> bool:
    """Whether a secrets file has an ``[auth]`` section (then the console offers ``st.login``)."""
    for path in secrets_paths(cwd):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            continue
        if isinstance(data.get("auth"), dict):
            return True
    return False


# --- sessions that survive a reload: HMAC-signed, expiring tokens ---------------------------------------
# The console keeps the token in a cookie (SameSite=Strict) and reads it back from the request
# (``st.context.cookies``). The token names the person and a session id; the role is read from
# the store each time, so a disabled account or a changed role takes effect on the next page load,
# and signing out records the session id so its token is refused from then on (every tab).

SECRET_ENV = "LAUNCH_CONTROL_CONSOLE_SECRET"
SESSION_TTL_ENV = "LAUNCH_CONTROL_SESSION_HOURS"
DEFAULT_SESSION_HOURS = 12.0


def session_secret() -> bytes:
    """The server's signing key: ``$LAUNCH_CONTROL_CONSOLE_SECRET``, else a 0600 file in the data dir."""
    import secrets

    from launch_control.config import data_dir

    if explicit := os.environ.get(SECRET_ENV):
        return explicit.encode()
    path = data_dir() / "console-secret"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another console process won the race: use its key
        return path.read_bytes().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(32) + "\n")
    return path.read_bytes().strip()


def session_ttl() -> float:
    try:
        hours = float(os.environ.get(SESSION_TTL_ENV, DEFAULT_SESSION_HOURS))
    except ValueError:
        hours = DEFAULT_SESSION_HOURS
    return max(60.0, hours * 3600.0)


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, body: str) -> str:
    import hashlib
    import hmac

    return _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())


def issue_token(secret: bytes, name: str, now: float, ttl: float | None = None) -> tuple[str, str]:
    """(token, session id) for ``name``, valid for ``ttl`` seconds from ``now`` (epoch seconds)."""
    import json
    import secrets

    sid = secrets.token_urlsafe(12)
    body = _b64(json.dumps({"n": name, "iat": int(now), "exp": int(now + (ttl or session_ttl())), "sid": sid},
                           separators=(",", ":")).encode())
    return f"{body}.{_sign(secret, body)}", sid


@dataclass(frozen=True)
class SessionClaims:
    name: str
    sid: str
    issued_at: float
    expires_at: float


def read_token(secret: bytes, token: str | None, now: float) -> SessionClaims | None:
    """The claims of a well-signed, unexpired token; None for anything else (never raises)."""
    import hmac
    import json

    if not token or token.count(".") != 1:
        return None
    body, signature = token.split(".")
    if not hmac.compare_digest(_sign(secret, body), signature):
        return None
    try:
        data = json.loads(_unb64(body))
        claims = SessionClaims(str(data["n"]), str(data["sid"]), float(data["iat"]), float(data["exp"]))
    except (ValueError, KeyError, TypeError):
        return None
    return claims if claims.expires_at > now else None


def session_user(store: Any, secret: bytes, token: str | None, now: float) -> tuple[User, SessionClaims] | None:
    """The person a session token stands for, if it is valid, not signed out and the account enabled."""
    import datetime as dt

    claims = read_token(secret, token, now)
    if claims is None:
        return None
    row = store.user(claims.name)
    if row is None or row.get("disabled"):
        return None
    since = dt.datetime.fromtimestamp(claims.issued_at - 1, dt.UTC)
    for event in store.events(action="console.logout", since=since, limit=500):
        if (event.get("details") or {}).get("sid") == claims.sid:
            return None
    return User(row["name"], row["role"], "oidc" if row["password_hash"] == NO_PASSWORD else "local"), claims


# --- lockout, kept in the store: per account and per client, the same for every browser -------------------

MAX_FAILURES = 5  # per account within the window: the sixth attempt is refused
MAX_CLIENT_FAILURES = 20  # per client address within the window, whatever names it tries
LOCKOUT_ENV = "LAUNCH_CONTROL_LOGIN_LOCKOUT"
DEFAULT_LOCKOUT = 900.0  # seconds: the window failures are counted in, and so the longest lock


def lockout_seconds() -> float:
    try:
        return max(1.0, float(os.environ.get(LOCKOUT_ENV, DEFAULT_LOCKOUT)))
    except ValueError:
        return DEFAULT_LOCKOUT


def _locked_for(failures: list[Any], limit: int, window: float, now: float) -> float | None:
    """Seconds until enough of ``failures`` (epoch seconds, any order) fall out of the window."""
    if len(failures) < limit:
        return None
    ordered = sorted(failures)
    release_at = ordered[len(ordered) - limit] + window
    return max(1.0, release_at - now)


def lockout(store: Any, name: str, client: str, now: float) -> str | None:
    """Why a sign-in attempt for ``name`` from ``client`` is refused right now, or None.

    Failed attempts are audit events (``console.login_failed``), so the count is the same in every
    browser, tab and console process; a successful sign-in of the account starts its count again.
    """
    import datetime as dt

    window = lockout_seconds()
    since = dt.datetime.fromtimestamp(now - window, dt.UTC)
    failures = store.events(action="console.login_failed", since=since, limit=2000)
    last_ok = max((e["at"].timestamp() for e in store.events(action="console.login", since=since, limit=200)
                   if e["actor"] == name), default=0.0)
    mine = [e["at"].timestamp() for e in failures
            if (e.get("details") or {}).get("name") == name and e["at"].timestamp() > last_ok]
    if (wait := _locked_for(mine, MAX_FAILURES, window, now)) is not None:
        return (f"Account {name!r} is locked after {MAX_FAILURES} failed sign-ins: try again in "
                f"{wait / 60:.0f} min, or ask a launch lead to reset the password (launch-control users add).")
    theirs = [e["at"].timestamp() for e in failures if (e.get("details") or {}).get("client") == client]
    if (wait := _locked_for(theirs, MAX_CLIENT_FAILURES, window, now)) is not None:
        return (f"Too many failed sign-ins from this address ({client}): try again in {wait / 60:.0f} min.")
    return None


def sign_in(store: Any, name: str, password: str, client: str, now: float) -> tuple[User | None, str]:
    """Check the lockout, then the password; every attempt is audited. (person or None, message)."""
    name = (name or "").strip()[:128]
    if not name or not password:
        store.audit("anonymous", "console.login_failed", name=name, client=client, why="name or password missing")
        return None, "Enter your name and password."
    if (refused := lockout(store, name, client, now)) is not None:
        store.audit("anonymous", "console.login_refused", name=name, client=client, why=refused)
        return None, refused
    user = authenticate(store, name, password)
    if user is None:
        store.audit("anonymous", "console.login_failed", name=name, client=client, why="wrong name or password")
        return None, "Wrong name or password."
    store.audit(user.actor, "console.login", role=user.role, client=client)
    return user, f"Signed in as {user.name} ({user.role})."
