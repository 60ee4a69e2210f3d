"""Reading a plan file safely: which file, its bytes, and its YAML — before any meaning is checked.

A plan is a person's text, and the emergency path reads it at 3 a.m., so every way a file can be
unusable is a ``PlanError`` naming the file, the place and what to do, never a traceback or a
runaway: over ``MAX_BYTES`` (a plan is a few KB; a 50 MB one took 55 s), not UTF-8 or binary,
duplicate keys (YAML would keep the last one silently), nesting deeper than ``MAX_DEPTH``, or
aliases that expand to more than ``MAX_VALUES`` values (an alias bomb is small on disk and
gigabytes once expanded). libyaml's C loader is used when installed (10× faster), else PyYAML's.

Standard library and PyYAML only: no pydantic, so the hash and path helpers are cheap for the
emergency path (``launch_control.store.lastgood``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from typing import Any

from launch_control.errors import UsageError


def installed_folder(package: str) -> Path:
    """The folder a package is installed in, without importing it: ``checklist/`` for
    ``launch_control.checklist`` in a checkout or editable install, ``site-packages/launch_control/checklist/``
    from a wheel. The import spec's location is what ``importlib.resources.files`` answers for a
    package on disk; importing ``importlib.resources`` itself would add 13-22 ms to the emergency
    path, which reads this module."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{package} is not installed: reinstall launch-control")
    return Path(next(iter(spec.submodule_search_locations)))


DEFAULT_PLAN = installed_folder("launch_control.checklist") / "promptforge-v3.yaml"
PLAN_ENV = "LAUNCH_CONTROL_PLAN"
MAX_BYTES = 1_000_000
MAX_DEPTH = 64
MAX_VALUES = 200_000


class PlanError(UsageError):
    """A plan that cannot be used. ``str()`` is the message to show a person."""

    def __init__(self, path: str | os.PathLike[str], problems: list[tuple[str, str]]):
        self.path = str(path)
        self.problems = problems
        lines = [f"{self.path}: invalid launch plan ({len(problems)} problem{'s' * (len(problems) != 1)})"]
        lines += [f"  - {where}: {what}" for where, what in problems]
        super().__init__("\n".join(lines))


def plan_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The plan to use: the argument, else ``$LAUNCH_CONTROL_PLAN``, else the shipped default."""
    chosen = path or os.environ.get(PLAN_ENV) or DEFAULT_PLAN
    return Path(chosen)


def read_plan_bytes(target: Path) -> bytes:
    """The file's bytes, refusing what is missing, unreadable or over ``MAX_BYTES``."""
    try:
        with open(target, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise PlanError(target, [("(file)", "no such file; pass --plan PATH or set LAUNCH_CONTROL_PLAN")]) from None
    except IsADirectoryError:
        raise PlanError(target, [("(file)", "is a directory; give the plan's YAML file")]) from None
    except OSError as exc:
        raise PlanError(target, [("(file)", f"cannot read: {exc.strerror}")]) from None
    if len(raw) > MAX_BYTES:
        size = _size_of(target, len(raw))
        limit = f"{MAX_BYTES // 1_000_000} MB"
        raise PlanError(target, [("(file)", f"{size} is over the {limit} a plan may be; is this the right file?")])
    return raw


def source_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def decode_plan(target: Path, raw: bytes) -> str:
    if b"\x00" in raw:
        raise PlanError(target, [("(file)", "binary data (NUL bytes), not a YAML text file; is this the right file?")])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PlanError(
            target,
            [(f"line {line}", f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the plan as UTF-8 "
              "(e.g. iconv -f latin1 -t utf-8)")],
        ) from None  # fmt: skip


def parse_yaml(target: Path, text: str) -> Any:
    """YAML text → plain data, with duplicate keys, depth and alias expansion refused."""
    import yaml

    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_class(text)
    try:
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _Walk(target).check(node)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise PlanError(target, [(where, f"not valid YAML: {problem}")]) from None
    except PlanError:
        raise
    except RecursionError:
        raise PlanError(target, [("(file)", f"nested too deeply (more than {MAX_DEPTH} levels)")]) from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a date such as 2026-13-45
        raise PlanError(target, [("(file)", f"a value YAML cannot read: {exc}")]) from None


def load_data(path: str | os.PathLike[str] | None = None) -> tuple[Path, bytes, Any]:
    """(path, raw bytes, parsed YAML data) of the plan to use; every file-level problem a PlanError."""
    target = plan_path(path)
    raw = read_plan_bytes(target)
    return target, raw, parse_yaml(target, decode_plan(target, raw))


class _Walk:
    """One pass over the composed YAML nodes (aliases shared, so linear in the file): duplicate
    keys, depth, and the number of values the document expands to."""

    def __init__(self, target: Path):
        self.target = target
        self.memo: dict[int, tuple[int, int]] = {}  # node id → (expanded values, height)
        self.active: set[int] = set()

    def refuse(self, where: str, what: str) -> None:
        if len(where) > 100:  # 20 levels of [0][0]… say where it starts and ends
            where = f"{where[:60]}…{where[-30:]}"
        raise PlanError(self.target, [(where or "(top level)", what)])

    def check(self, node: Any) -> None:
        self.visit(node, 0, "")

    def visit(self, node: Any, depth: int, where: str) -> tuple[int, int]:
        import yaml

        key = id(node)
        if key in self.memo:
            size, height = self.memo[key]
            if depth + height > MAX_DEPTH:
                self.refuse(where, f"nested more than {MAX_DEPTH} levels deep (through an alias)")
            return size, height
        if key in self.active:
            self.refuse(where, "an alias refers to its own parent (a recursive structure); a plan cannot use one")
        if depth > MAX_DEPTH:
            self.refuse(where, f"nested more than {MAX_DEPTH} levels deep; flatten the plan")
        self.active.add(key)
        size, height = 1, 0
        if isinstance(node, yaml.MappingNode):
            seen: dict[tuple[str, str], int] = {}
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                    name = (key_node.tag, key_node.value)
                    line = key_node.start_mark.line + 1
                    if name in seen:
                        self.refuse(
                            _join(where, key_node.value),
                            f"duplicate key (lines {seen[name]} and {line}); YAML would silently keep the last — "
                            "keep one",
                        )
                    seen[name] = line
                label = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
                for child in (key_node, value_node):
                    s, h = self.visit(child, depth + 1, _join(where, label))
                    size, height = size + s, max(height, h + 1)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                s, h = self.visit(item, depth + 1, f"{where}[{index}]")
                size, height = size + s, max(height, h + 1)
        self.active.discard(key)
        if size > MAX_VALUES:
            self.refuse(
                where, f"expands to more than {MAX_VALUES:,} values (YAML aliases repeated?); a plan is far smaller"
            )
        self.memo[key] = (size, height)
        return size, height


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else str(key)


def _size_of(target: Path, read: int) -> str:
    try:
        size = target.stat().st_size
    except OSError:
        return f"more than {read:,} bytes"
    return f"{size / 1_000_000:.1f} MB" if size >= 1_000_000 else f"{size:,} bytes"
