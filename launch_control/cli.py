"""The command line: ``launch-control`` and ``emergency-rollback``.

The plan's own invocations work verbatim (``launch-control --status``, ``--validate``,
``--traffic 25``, ``--start-canary``, ``--monitor``; ``emergency-rollback "reason"``), beside
subcommands (``plan validate PATH``, ``up``, ``demo``, ...) that live one area per module in
``launch_control.commands``. Errors are translated here: bad input exits 2 with a message that
says what is wrong, other refusals exit 1; never a traceback.

Nothing imported at the top of this module (or of a command module) may pull in prefect,
streamlit or pandas: ``--status`` and ``emergency-rollback`` must answer at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

from launch_control.commands.actor import who_is_acting
from launch_control.errors import LaunchControlError, UsageError

# Global actions (the plan's verbatim flags) → "module:function"; imported only when used.
GLOBAL_ACTIONS: dict[str, str] = {
    "status": "launch_control.commands.status:run_status",
    "validate": "launch_control.commands.criteria:run_validate",
    "traffic": "launch_control.commands.launch:run_traffic",
    "start_canary": "launch_control.commands.launch:run_start_canary",
    "monitor": "launch_control.commands.monitor:run_monitor",
}


class Context:
    """What a command handler needs, built lazily: the plan, the store, the actor, a console."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.plan_path: str | None = getattr(args, "plan", None)

    @cached_property
    def plan(self) -> Any:
        from launch_control.store.lastgood import load_plan

        return load_plan(self.plan_path)

    @cached_property
    def store(self) -> Any:
        from launch_control.store.db import Store

        return Store(launch_id=self.plan.launch_id)

    @cached_property
    def actor(self) -> str:
        return who_is_acting(getattr(self.args, "actor", None))

    @cached_property
    def console(self) -> Any:
        from rich.console import Console

        return Console(highlight=False)

    @cached_property
    def err(self) -> Any:
        from rich.console import Console

        return Console(stderr=True, highlight=False)


def _weight(text: str) -> float:
    from launch_control.plan.units import parse_percent

    try:
        return parse_percent(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc}; give the canary's share of traffic, e.g. --traffic 25") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="launch-control",
        description="Run a software launch from its plan: canary ramp, rollback, checklist, incidents.",
    )
    parser.add_argument(
        "--plan", metavar="PATH", help="launch plan (default: $LAUNCH_CONTROL_PLAN or the shipped plan)"
    )
    parser.add_argument("--actor", metavar="NAME", help="who is acting, for the audit trail (default: cli:<login>)")
    actions = parser.add_mutually_exclusive_group()
    actions.add_argument("--status", action="store_true", help="show the launch's state")
    actions.add_argument(
        "--validate", action="store_true", help="judge the plan's technical success criteria on recorded data"
    )
    actions.add_argument("--traffic", type=_weight, metavar="PERCENT", help="send PERCENT of traffic to the canary")
    actions.add_argument("--start-canary", action="store_true", help="start the canary ramp")
    actions.add_argument("--monitor", action="store_true", help="live view of the ramp")
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--reason", default="", help="why (recorded in the audit trail)")
    parser.add_argument("--force", action="store_true", help="with --start-canary: start despite a failed preflight")
    parser.add_argument(
        "--replace-step",
        action="store_true",
        help="with --traffic during a ramp: the new weight replaces the current step's (otherwise the ramp pauses)",
    )
    parser.add_argument("--time-scale", type=float, default=None, help="compress holds by this factor (rehearsals)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        module.register(subparsers)
    return parser


def _command_modules() -> list[Any]:
    import pkgutil  # here, not at the top: the hot --status path never builds the parser

    import launch_control.commands as package

    modules = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if hasattr(module, "register"):
            modules.append(module)
    return modules


def _resolve(target: str) -> Callable[[argparse.Namespace, Context], int]:
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def run(argv: Sequence[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    parser = parser or build_parser()
    args = parser.parse_args(argv)
    ctx = Context(args)
    handler: Callable[[argparse.Namespace, Context], int] | None = getattr(args, "func", None)
    if handler is None:
        chosen = [name for name in GLOBAL_ACTIONS if getattr(args, name) not in (None, False)]
        if not chosen:
            parser.print_help(sys.stderr)
            return 2
        handler = _resolve(GLOBAL_ACTIONS[chosen[0]])
    return handler(args, ctx)


def _guarded(body: Callable[[], int]) -> int:
    try:
        return body()
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except LaunchControlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def main(argv: Sequence[str] | None = None) -> None:
    fast = _fast_status(list(sys.argv[1:] if argv is None else argv))
    sys.exit(_guarded(fast or (lambda: run(argv))))


def _fast_status(args: list[str]) -> Callable[[], int] | None:
    """A bare ``--status`` (optionally with --plan / --actor) answers without importing every
    command module to build the parser: that alone costs more than the status line's budget."""
    if "--status" not in args:
        return None
    plan: str | None = None
    rest = list(args)
    while rest:
        word = rest.pop(0)
        if word == "--status":
            continue
        if word in ("--plan", "--actor") and rest:
            value = rest.pop(0)
        elif word.startswith(("--plan=", "--actor=")):
            word, value = word.split("=", 1)
        else:
            return None  # anything else: the full parser (and its error messages)
        if word == "--plan":
            plan = value

    def show() -> int:
        from launch_control.commands.status import show_status

        return show_status(plan)

    return show


def emergency_main(argv: Sequence[str] | None = None) -> None:
    """``emergency-rollback [VERSION] "reason"``: all traffic to stable now, verified, with TTR."""

    def body() -> int:
        from launch_control.commands.emergency import run_emergency

        return run_emergency(list(sys.argv[1:] if argv is None else argv))

    sys.exit(_guarded(body))


if __name__ == "__main__":
    main()
