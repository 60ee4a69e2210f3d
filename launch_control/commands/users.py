"""``launch-control users add NAME --role viewer|lead|reviewer`` and ``users list``: console accounts.

Passwords are read from a prompt (asked twice) or, for scripts, from standard input with
``--password-stdin``; they are stored argon2-hashed, never in clear. ``--oidc`` gives an
identity-provider account (by e-mail) its role without a local password.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

ROLES = ("viewer", "lead", "reviewer")


def register(subparsers: Any) -> None:
    users = subparsers.add_parser("users", help="manage ops-console accounts and their roles")
    sub = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="create an account (or change its role and password)")
    add.add_argument("name", help="login name (for --oidc: the person's e-mail)")
    add.add_argument("--role", required=True, choices=ROLES, help="viewer reads; lead controls; reviewer judges")
    how = add.add_mutually_exclusive_group()
    how.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    how.add_argument("--oidc", action="store_true", help="signs in through OIDC only: store no password")
    add.set_defaults(func=run_add)
    listing = sub.add_parser("list", help="list accounts and roles")
    listing.set_defaults(func=run_list)


def _read_password(args: argparse.Namespace) -> str | None:
    from launch_control.errors import UsageError

    if args.oidc:
        return None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise UsageError("no password on standard input (give it as the first line)")
        return password
    if not sys.stdin.isatty():
        raise UsageError("no terminal to ask for a password: pass --password-stdin and pipe it in")
    import getpass

    first = getpass.getpass(f"password for {args.name}: ")
    second = getpass.getpass("again: ")
    if first != second:
        raise UsageError("the two passwords differ; nothing was changed")
    return first


def run_add(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.web.auth import add_user, check_name

    check_name(args.name)  # before asking for a password
    password = _read_password(args)
    existed = ctx.store.user(args.name) is not None
    user = add_user(ctx.store, args.name, args.role, password, oidc=args.oidc)
    ctx.store.audit(ctx.actor, "user.update" if existed else "user.add", user=user.name, role=user.role,
                    oidc=bool(args.oidc))
    verb = "updated" if existed else "added"
    how = " (OIDC sign-in)" if args.oidc else ""
    ctx.console.print(f"{verb} [bold]{user.name}[/bold] as {user.role}{how}")
    return 0


def run_list(args: argparse.Namespace, ctx: Any) -> int:
    from launch_control.web.auth import NO_PASSWORD

    rows = ctx.store.users()
    if not rows:
        ctx.console.print("no accounts yet: launch-control users add NAME --role lead")
        return 0
    for row in rows:
        sign_in = "oidc" if row["password_hash"] == NO_PASSWORD else "password"
        flags = " (disabled)" if row.get("disabled") else ""
        print(f"{row['name']}\t{row['role']}\t{sign_in}\t{row['created_at']:%Y-%m-%d %H:%M} UTC{flags}")
    return 0
