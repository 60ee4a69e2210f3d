"""Field types for adapters' typed settings (the ``Settings`` model of every adapter module).

The convention (PLAN §Interfaces 4): each adapter module (traffic/*, metrics/*, deploy/*,
notify/*) defines ``class Settings(SettingsModel)``; its ``build(settings, **context)`` starts
with ``validate_settings(Settings, settings, "<family> <type>")``; ``Registry.check(name,
settings)`` validates without building, which is how ``plan validate`` catches a typo in a
router's or a channel's settings before launch day. Durations accept ``2s`` / ``500ms`` or a
number of seconds (adapters are also built from Python); URLs need a scheme and a host.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from launch_control.errors import UsageError
from launch_control.plan.units import check_url, parse_duration


def _seconds(value: object) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError("must be a positive duration such as 2s or 500ms")
    return seconds


Seconds = Annotated[float, BeforeValidator(_seconds)]
HttpUrl = Annotated[str, BeforeValidator(check_url)]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)]
Audience = Annotated[str, Field(pattern=r"^(team|public|customers)$")]


class SettingsModel(BaseModel):
    """Unknown keys are errors: a typo in a router's settings must not pass as a default.

    A subclass may set ``hints: ClassVar[dict[str, str]]`` (field → what to write when it is
    missing), so a missing setting is reported with an example instead of "required"."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    hints: ClassVar[dict[str, str]] = {}


def problems(model: type[BaseModel], settings: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """(field, what is wrong) for each problem of ``settings`` against ``model``; [] when fine."""
    try:
        model.model_validate(dict(settings or {}))
    except ValidationError as exc:
        found = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "(settings)"
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                known = ", ".join(sorted(model.model_fields))
                message = f"unknown setting (known: {known})"
            elif error["type"] == "missing":
                hints = getattr(model, "hints", {})
                message = hints.get(where, "required setting is missing")
            found.append((where, message))
        return found
    return []


M = TypeVar("M", bound=BaseModel)


def validate_settings(model: type[M], settings: Mapping[str, Any] | None, what: str) -> M:
    """The parsed settings; ``UsageError`` naming ``what`` and every bad field when they do not fit.

    Unknown and missing settings are refused here (with the model's hints), so a ``build`` needs no
    checks of its own for them."""
    found = problems(model, settings)
    if found:
        said = []
        for where, message in found:
            if message.startswith("unknown setting"):
                said.append(f"unknown setting {where!r}{message.removeprefix('unknown setting')}")
            else:
                said.append(message if where in message else f"{where}: {message}")
        raise UsageError(f"{what}: " + "; ".join(said))
    return model.model_validate(dict(settings or {}))


def required(value: Any, message: str, error: type[Exception] = UsageError) -> Any:
    """``value`` when it is set (not None or empty); else ``error(message)``: what an adapter needs at
    build time that its Settings model cannot promise — a token from the environment, a non-empty path."""
    if value is None or value == "" or value == [] or value == {}:
        raise error(message)
    return value
