"""The plan's field types and the base every plan section builds on.

Annotated field types (``Duration``, ``Percent``, ``Fraction``, ``Rate``, ``Url``, counts and sizes)
parse the plan's unit-ful text; ``Strict`` refuses unknown keys; ``Adapter`` is an adapter choice
(``type`` plus its own settings); ``no_duplicates`` is the id check several sections share.
The sections themselves live in the sibling modules; ``launch_control.plan.model`` assembles them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, ValidationInfo

from launch_control.plan.units import (
    check_url,
    duration_text,
    fraction_text,
    parse_duration,
    parse_duration_strict,
    parse_fraction,
    parse_fraction_strict,
    parse_percent,
    parse_percent_strict,
    parse_rate,
    parse_size,
    percent_text,
)

STRICT = {"strict_units": True}  # validation context of a plan read from a file


def strict_units(info: ValidationInfo | None) -> bool:
    return bool(info is not None and info.context and info.context.get("strict_units"))


def _duration(value: object, info: ValidationInfo) -> float:
    return (parse_duration_strict if strict_units(info) else parse_duration)(value)


def _percent(value: object, info: ValidationInfo) -> float:
    return (parse_percent_strict if strict_units(info) else parse_percent)(value)


def _fraction(value: object, info: ValidationInfo) -> float:
    return (parse_fraction_strict if strict_units(info) else parse_fraction)(value)


_JSON_DURATION = PlainSerializer(duration_text, when_used="json")
Duration = Annotated[float, BeforeValidator(_duration), _JSON_DURATION]
PositiveDuration = Annotated[float, BeforeValidator(_duration), Field(gt=0), _JSON_DURATION]
Percent = Annotated[float, BeforeValidator(_percent), PlainSerializer(percent_text, when_used="json")]
Fraction = Annotated[float, BeforeValidator(_fraction), PlainSerializer(fraction_text, when_used="json")]
Url = Annotated[str, BeforeValidator(check_url)]
# Counts are bounded: `min_requests: 1e38` is a typo, never a plan.
Count = Annotated[int, Field(ge=0, le=1_000_000_000)]
HttpStatus = Annotated[int, Field(ge=100, le=599)]
Size = Annotated[int, BeforeValidator(parse_size)]
Identifier = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)]


def _rate(value: object) -> tuple[float, float]:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return float(value[0]), float(value[1])
    return parse_rate(value)


Rate = Annotated[tuple[float, float], BeforeValidator(_rate)]


class Strict(BaseModel):
    """Base for every plan section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Adapter(BaseModel):
    """An adapter choice (router, deployer, metric source, notifier): ``type`` plus its settings.

    The settings are the adapter's own; its module validates them when it is built.
    """

    model_config = ConfigDict(extra="allow", frozen=True)
    type: Identifier

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def no_duplicates(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for item_id in ids:
        if item_id in seen:
            raise ValueError(f"duplicate {what} id {item_id!r}")
        seen.add(item_id)
