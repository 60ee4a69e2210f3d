"""A deployer that runs a configured command: ``{role}`` and ``{version}`` are substituted.

Settings: ``run`` (argv list or a string split with shlex; no shell), ``timeout`` (seconds,
default 60), ``cwd``, ``env`` (extra variables), ``current`` (optional command whose stdout is the
version a role serves). Exit status 0 is success; anything else raises ``DeployerError`` with
the command's last output lines.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from typing import Any, ClassVar

from launch_control.errors import DeployerError
from launch_control.plan.settings_types import Seconds, SettingsModel, validate_settings
from launch_control.plan.units import parse_duration
from launch_control.plane.deploy.base import check_role


class CommandDeployer:
    name = "command"

    def __init__(
        self,
        run: list[str],
        *,
        timeout: float = 60.0,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        current: list[str] | None = None,
    ):
        self.run, self.timeout, self.cwd, self.env, self.current_cmd = run, timeout, cwd, env or {}, current

    def _exec(self, template: list[str], role: str, version: str = "") -> str:
        argv = [part.format(role=role, version=version) for part in template]
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                cwd=self.cwd,
                env={**os.environ, **self.env, "LAUNCH_CONTROL_ROLE": role, "LAUNCH_CONTROL_VERSION": version},
            )
        except FileNotFoundError as exc:
            raise DeployerError(f"command deployer: {argv[0]!r} not found") from exc
        except subprocess.TimeoutExpired as exc:
            raise DeployerError(f"command deployer: {shlex.join(argv)} took longer than {self.timeout:g} s") from exc
        if done.returncode != 0:
            tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
            raise DeployerError(f"command deployer: {shlex.join(argv)} exited {done.returncode}: {tail}")
        return done.stdout.strip()

    def deploy(self, role: str, version: str) -> str:
        output = self._exec(self.run, check_role(role), version)
        last = output.splitlines()[-1] if output else ""
        return f"command {shlex.join(self.run)}: {role} → {version}" + (f" ({last})" if last else "")

    def current(self, role: str) -> str | None:
        if not self.current_cmd:
            return None
        return self._exec(self.current_cmd, check_role(role)) or None


def _argv(value: Any, field: str) -> list[str]:
    if isinstance(value, str):
        argv = shlex.split(value)
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        argv = list(value)
    else:
        raise ValueError(f"{field!r} must be a command line (string or list of strings)")
    if not argv:
        raise ValueError(f"{field!r} is empty")
    return argv



class Settings(SettingsModel):
    hints: ClassVar[dict[str, str]] = {
        "run": "the command deployer needs 'run', e.g. run: ['./deploy.sh', '{role}', '{version}']"
    }
    run: str | list[str]
    current: str | list[str] | None = None
    timeout: Seconds = 60.0
    cwd: str | None = None
    env: dict[str, str | int | float] | None = None


def build(settings: dict[str, Any], **_context: Any) -> CommandDeployer:
    validate_settings(Settings, settings, "command deployer")  # refuses a missing run, unknown settings
    run = _argv(settings["run"], "run")
    current = _argv(settings["current"], "current") if settings.get("current") else None
    timeout = parse_duration(settings.get("timeout", 60.0))
    env = {str(k): str(v) for k, v in (settings.get("env") or {}).items()}
    return CommandDeployer(run, timeout=timeout, cwd=settings.get("cwd"), env=env, current=current)
