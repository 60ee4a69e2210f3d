"""The exception tree in launch_control/errors.py's docstring is complete and true.

Walks every module of the package (and of the flows it installs as launch_control.flows), collects
the exception classes defined there, and checks that each is a LaunchControlError, appears in the
drawn tree, and sits under the parent the tree draws; also that the CLI boundary still maps them to
the exit codes it did (UsageError 2, the rest 1), and that the demo still catches PrefectServerError.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import launch_control
from launch_control import cli, errors
from launch_control.errors import LaunchControlError, UsageError

# Private control-flow signals that never leave their module; not errors, so outside the tree.
SIGNALS = {"launch_control.ramp.engine_parts._Ended", "launch_control.protect.breaker._Failed"}


def _package_exceptions() -> dict[str, type[BaseException]]:
    # The flows live in flows/ but install as launch_control.flows (setup.py package_dir), so their
    # errors belong to the tree too; the console's pages run on import, and define no errors.
    flows = importlib.import_module("launch_control.flows")
    found: dict[str, type[BaseException]] = {}
    walks = [(launch_control.__path__, "launch_control."), (flows.__path__, "launch_control.flows.")]
    for info in (info for path, prefix in walks for info in pkgutil.walk_packages(path, prefix)):
        if info.name.rsplit(".", 1)[-1] == "__main__":  # running it parses sys.argv
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == module.__name__:
                found[f"{module.__name__}.{name}"] = obj
    return found


def _drawn_tree() -> list[tuple[int, str]]:
    """(depth, class name) per line of the docstring's tree; the root has depth 0."""
    rows = []
    for line in (errors.__doc__ or "").splitlines():
        if line.strip().startswith("LaunchControlError"):
            rows.append((0, "LaunchControlError"))
            continue
        match = re.match(r"^(\s*[│ ]*)[├└]── (\w+)", line)
        if match:
            rows.append((len(match.group(1)) // 4, match.group(2)))  # the tree is indented 4 a level
    return rows


EXCEPTIONS = _package_exceptions()
BY_NAME = {cls.__name__: cls for cls in EXCEPTIONS.values()}


def test_the_walk_finds_the_package_errors() -> None:
    # A walk that silently imported nothing would make the tests below pass vacuously.
    assert len(EXCEPTIONS) >= 30
    assert {"EngineBusy", "NotifyError", "PromTextError", "RetryExhausted", "AdminError"} <= set(BY_NAME)


@pytest.mark.parametrize("qualname", sorted(set(EXCEPTIONS) - SIGNALS))
def test_every_project_error_is_a_launch_control_error_named_in_the_tree(qualname: str) -> None:
    cls = EXCEPTIONS[qualname]
    assert issubclass(cls, LaunchControlError), f"{qualname} is not under LaunchControlError"
    assert cls.__name__ in {name for _, name in _drawn_tree()}, f"{qualname} is missing from errors.py's tree"


def test_signals_are_private_and_still_exist() -> None:
    for qualname in SIGNALS:
        assert qualname in EXCEPTIONS, f"{qualname} is gone: drop it from SIGNALS"
        assert qualname.rsplit(".", 1)[-1].startswith("_")


def test_the_tree_draws_only_real_classes_under_their_real_parents() -> None:
    rows = _drawn_tree()
    assert rows[0] == (0, "LaunchControlError") and len(rows) > 30
    parents: list[str] = []
    for depth, name in rows:
        assert name in BY_NAME, f"errors.py's tree names {name}, which the package does not define"
        parents = parents[:depth]
        if parents:
            assert BY_NAME[parents[-1]] in BY_NAME[name].__bases__, f"{name} is drawn under {parents[-1]}"
        parents.append(name)


def test_errors_that_were_builtin_errors_still_are() -> None:
    # Existing `except ValueError` / `except OSError` clauses must keep catching these.
    from launch_control.plane.metrics.promtext import PromTextError
    from launch_control.web.lighthttp import HttpError

    assert issubclass(PromTextError, ValueError)
    assert issubclass(HttpError, OSError)
    assert issubclass(UsageError, ValueError)


def _exit_of(exc: BaseException, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    def body() -> int:
        raise exc

    code = cli._guarded(body)
    return code, capsys.readouterr().err


def test_cli_exit_codes_of_the_newly_rooted_errors(capsys: pytest.CaptureFixture[str]) -> None:
    from launch_control.plane.gateway.admin import AdminError
    from launch_control.plane.gateway.upstream import UpstreamTimeout
    from launch_control.retrying import RetryExhausted
    from launch_control.web.lighthttp import HttpError

    # Before they were LaunchControlErrors these ended the CLI with a traceback (exit 1); now exit 1
    # with a message — never the usage error's 2.
    for exc in (RetryExhausted(3, 1.5, OSError("refused")), HttpError("refused"), UpstreamTimeout("no answer")):
        code, err = _exit_of(exc, capsys)
        assert code == 1, type(exc).__name__
        assert err.startswith("error: ") and "Traceback" not in err
    code, err = _exit_of(AdminError(422, "invalid weights", "send {\"canary\": 5}"), capsys)
    assert (code, err) == (2, 'error: send {"canary": 5}\n')


def test_the_demo_still_runs_in_process_when_the_prefect_server_cannot_start(monkeypatch, tmp_path) -> None:
    # PrefectServerError joined the tree (and stayed a RuntimeError); the demo's fallback must still catch it.
    import argparse
    import socket

    from launch_control.flows.server import PrefectServerError

    from launch_control import config
    from launch_control.commands import demo

    assert issubclass(PrefectServerError, LaunchControlError) and issubclass(PrefectServerError, RuntimeError)
    said: list[str] = []
    started: list[object] = []
    with socket.socket() as busy:  # the demo's fixed Prefect port, taken: start() refuses before spawning
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        monkeypatch.setitem(config.PORTS, "prefect", busy.getsockname()[1])
        api = demo._start_prefect(argparse.Namespace(no_prefect=False), tmp_path, started, said.append, free=False)
    assert api is None and started == []
    assert "Prefect could not start (port" in said[-1] and "is in use" in said[-1], said
    assert "running the launch in-process instead" in said[-1]
