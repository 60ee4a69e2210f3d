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
