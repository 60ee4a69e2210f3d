"""Parsing of the human units a launch plan is written in: durations, percentages, rates, sizes.

Every parser raises ``ValueError`` with a message that says what was expected, so that pydantic
can attach it to the field path of the plan.
"""

from __future__ import annotations

import math
import re
from typing import TypeGuard

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 1000**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "gib": 1024**3,
}
_RATE = re.compile(r"^(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)?\s*(ms|s|sec|second|m|min|minute|h|hour|d|day)$")
_RATE_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
}


def parse_duration(value: object) -> float:
    """``"30m"``, ``"1h30m"``, ``"250ms"`` or a number of seconds → seconds (float, ≥ 0)."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m, 1h or 1h30m, got a boolean")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"expected a duration such as 30s, 5m, 1h or 1h30m, got {value!r}")
        if value < 0:
            raise ValueError(f"a duration cannot be negative (got {value})")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration such as 30s, 5m, 1h or 1h30m, got {value!r}")
    text = value.strip().lower().replace(" ", "")
    pos = 0
    total = 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise ValueError(f"expected a duration such as 30s, 5m, 1h or 1h30m, got {value!r}")
    return total


def format_duration(seconds: float) -> str:
    """Seconds → the shortest plan-style text (``5400`` → ``1h30m``; ``0.25`` → ``250ms``).

    Never raises: infinity (e.g. a rollback that never verified) reads ``never``, NaN ``unknown``,
    a negative span gets a minus sign."""
    if math.isnan(seconds):
        return "unknown"
    if math.isinf(seconds):
        return "never" if seconds > 0 else "-never"
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds < 1 and seconds != 0:
        return f"{round(seconds * 1000)}ms"
    rest = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            count, rest = divmod(rest, size)
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


UNITLESS_HINT = "write it with a unit, e.g. {value}s (or {value}m, {value}h)"
SHARE_RULE = (
    "write it with a % sign ({pct}% or {value}%, whichever you mean): a bare number from 0 to 1 "
    "could be either; bare numbers are read as percent only above 1 (25 = 25%)"
)


def _bare_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


MAX_PLAN_DURATION = 400 * 86400.0  # longer than any launch: a bigger value is a typo


def parse_duration_strict(value: object) -> float:
    """A duration as a plan file must write it: with a unit (``30s``). Only a bare 0 is accepted
    without one, because ``hold: 30`` could be meant as 30 minutes as easily as 30 seconds."""
    if _bare_number(value) and value > 0:
        if not math.isfinite(value):
            raise ValueError(f"expected a duration such as 30s, 5m or 1h, got {value!r}")
        raise ValueError(f"{value!r} has no unit; " + UNITLESS_HINT.format(value=_plain(value)))
    seconds = parse_duration(value)
    if seconds > MAX_PLAN_DURATION:
        raise ValueError(f"{value!r} is longer than 400 days; check the unit")
    return seconds


def parse_percent_strict(value: object) -> float:
    """A weight as a plan file must write it: ``5%``; a bare number only when above 1 (or 0)."""
    _refuse_ambiguous_share(value)
    return parse_percent(value)


def parse_fraction_strict(value: object) -> float:
    """A ratio as a plan file must write it: ``5%``; a bare number above 1 is a percentage (the
    same rule as weights), a bare number between 0 and 1 is refused as ambiguous."""
    _refuse_ambiguous_share(value)
    if _bare_number(value) and value > 1:
        return parse_percent(value) / 100.0
    return parse_fraction(value)


def _refuse_ambiguous_share(value: object) -> None:
    if _bare_number(value) and 0 < value <= 1:
        raise ValueError(
            f"{value!r} is ambiguous; " + SHARE_RULE.format(pct=_plain(value * 100), value=_plain(value))
        )


def _plain(value: float) -> str:
    """A number without exponent or trailing ``.0`` (``1e-05`` → ``0.00001``; ``30.0`` → ``30``)."""
    from decimal import Decimal

    text = format(Decimal(repr(float(value))), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def duration_text(seconds: float) -> str:
    """Seconds as exact plan text (``1800.0`` → ``1800s``) that ``parse_duration`` reads back equal."""
    return f"{_plain(seconds)}s"


def percent_text(percent: float) -> str:
    """A percentage as exact plan text (``5.0`` → ``5%``)."""
    return f"{_plain(percent)}%"


def fraction_text(fraction: float) -> str:
    """A ratio as exact plan text (``0.05`` → ``5%``) that ``parse_fraction`` reads back equal."""
    from decimal import Decimal

    text = format(Decimal(repr(float(fraction))) * 100, "f")
    return f"{text.rstrip('0').rstrip('.') if '.' in text else text}%"


def parse_percent(value: object) -> float:
    """A weight in percent: ``"5%"`` or ``5`` → ``5.0``; must lie in 0–100."""
    if isinstance(value, bool):
        raise ValueError("expected a percentage such as 5% , got a boolean")
    if isinstance(value, str):
        text = value.strip()
        number = text[:-1] if text.endswith("%") else text
        try:
            result = float(number)
        except ValueError:
            raise ValueError(f"expected a percentage such as 5% or 25, got {value!r}") from None
    elif isinstance(value, (int, float)):
        result = float(value)
    else:
        raise ValueError(f"expected a percentage such as 5% or 25, got {value!r}")
    if not 0 <= result <= 100:
        raise ValueError(f"a percentage must lie between 0 and 100 (got {value!r})")
    return result


def parse_fraction(value: object) -> float:
    """A ratio: ``"5%"`` → ``0.05``; a bare number must already be a fraction in 0–1."""
    if isinstance(value, bool):
        raise ValueError("expected a ratio such as 5% or 0.05, got a boolean")
    if isinstance(value, str) and value.strip().endswith("%"):
        from decimal import Decimal

        percent = parse_percent(value)  # range and syntax checked; Decimal keeps "5%" exactly 0.05
        return float(Decimal(value.strip()[:-1].strip()) / 100) if math.isfinite(percent) else percent
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"expected a ratio such as 5% or 0.05, got {value!r}") from None
    if isinstance(value, (int, float)):
        if not 0 <= value <= 1:
            raise ValueError(f"a bare ratio must lie between 0 and 1; write {value}% for a percentage")
        return float(value)
    raise ValueError(f"expected a ratio such as 5% or 0.05, got {value!r}")


def parse_size(value: object) -> int:
    """``"64KB"``, ``"1MiB"`` or a number of bytes → bytes."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 64KB or 1MB, got a boolean")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a size cannot be negative (got {value})")
        return value
    if isinstance(value, str):
        match = _SIZE.match(value.strip())
        if match:
            return int(float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()])
    raise ValueError(f"expected a size such as 64KB or 1MB, got {value!r}")


def parse_rate(value: object) -> tuple[float, float]:
    """``"60/min"``, ``"10/s"``, ``"120/1m"`` → (requests, window seconds)."""
    if isinstance(value, str):
        match = _RATE.match(value.strip().lower())
        if match:
            count = float(match.group(1))
            multiple = float(match.group(2)) if match.group(2) else 1.0
            window = multiple * _RATE_UNITS[match.group(3)]
            if count <= 0 or window <= 0:
                raise ValueError(f"a rate must be positive (got {value!r})")
            return count, window
    raise ValueError(f"expected a rate such as 60/min, 10/s or 120/1m, got {value!r}")


def check_url(value: object) -> str:
    """An http(s) URL with a host: ``127.0.0.1:8080/health`` (no scheme) is refused, not guessed."""
    from urllib.parse import urlsplit

    if not isinstance(value, str):
        raise ValueError(f"expected a URL such as http://127.0.0.1:8080/health, got {value!r}")
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"not a URL ({exc}): {value!r}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{value!r} has no http:// or https:// scheme; write e.g. http://{value.strip()}")
    if not parts.hostname:
        raise ValueError(f"{value!r} has no host; write e.g. http://127.0.0.1:8080/health")
    return value.strip()
