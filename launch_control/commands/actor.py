"""Who is acting, for the audit trail: ``--actor``, else ``$LAUNCH_CONTROL_ACTOR``, else ``cli:<login>``.

Shared by the ``launch-control`` commands (launch_control.cli) and ``emergency-rollback``
(launch_control.commands.emergency), so neither imports the other. Standard library only: it is
on the emergency path.
"""

from __future__ import annotations

import getpass
import os

ACTOR_ENV = "LAUNCH_CONTROL_ACTOR"


def login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


def who_is_acting(explicit: str | None) -> str:
    """The audit name: the explicit one, else the environment's, else ``cli:<login>``."""
    return explicit or os.environ.get(ACTOR_ENV) or f"cli:{login_name()}"
