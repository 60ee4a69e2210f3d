"""Every ``type: ignore`` left in launch_control/ is narrow and says why, on its own line.

mypy (``make test``, configured in pyproject.toml) already refuses a bare ignore (ignore-without-code)
and an ignore that silences nothing (warn_unused_ignores); what it cannot check is the reason, so
this test does: each ``# type: ignore[code]`` is followed on the same line by ``# <why>``.
"""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "launch_control"
IGNORE = re.compile(r"#\s*type:\s*ignore(?P<codes>\[[^\]]*\])?(?P<rest>.*)$")


def _ignores() -> list[tuple[str, str]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if IGNORE.search(line):
                found.append((f"{path.relative_to(PACKAGE.parent)}:{number}", line))
    return found


def test_the_scan_sees_the_package() -> None:
    assert (PACKAGE / "errors.py").is_file() and len(list(PACKAGE.rglob("*.py"))) > 100


def test_every_type_ignore_is_narrow_and_explained() -> None:
    bad = []
    for where, line in _ignores():
        match = IGNORE.search(line)
        assert match is not None
        reason = match.group("rest").strip()
        if not match.group("codes") or not re.match(r"#\s*\S.{5,}", reason):
            bad.append(f"{where}: {line.strip()}")
    assert not bad, "type: ignore without [code] and '# why' after it:\n" + "\n".join(bad)


def test_the_pattern_catches_what_it_must() -> None:
    # The check above must not pass vacuously: a bare ignore and an unexplained one are caught.
    def reason(line: str) -> str | None:
        match = IGNORE.search(line)
        return None if match is None or not match.group("codes") else match.group("rest").strip()

    assert reason("x = f()  # type: ignore") is None
    assert reason("x = f()  # type: ignore[arg-type]") == ""
    assert reason("x = f()  # type: ignore[arg-type]  # the stub is wrong") == "# the stub is wrong"
