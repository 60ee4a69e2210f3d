"""A registry of adapter types that refuses the unknown (never a silent fallback).

Each adapter family (traffic routers, deployers, metric sources, notifiers) keeps one
``Registry`` mapping a type name to ``"module:factory"``; modules are imported only when an
adapter of that type is built, so the emergency path never pays for adapters it does not use.
A factory is called as ``factory(settings: dict, **context)`` and validates its own settings
with the module's ``Settings`` model; ``check(name, settings)`` validates them without building
(``plan validate``; see ``launch_control.plan.settings_types``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from launch_control.errors import UnknownAdapterError, UsageError


class Registry:
    def __init__(self, family: str, entries: Mapping[str, str]):
        self.family = family
        self._entries = dict(entries)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def register(self, name: str, target: str) -> None:
        """Add an adapter type (``"package.module:factory"``), e.g. from a plugin or a test."""
        self._entries[name] = target

    def factory(self, name: str) -> Any:
        if name not in self._entries:
            raise UnknownAdapterError(
                f"unknown {self.family} type {name!r}; known types: {', '.join(self.names())}"
            )
        module_name, _, attr = self._entries[name].partition(":")
        return getattr(importlib.import_module(module_name), attr)

    def problems(self, name: str, settings: Mapping[str, Any] | None = None) -> list[tuple[str, str]]:
        """(field, what is wrong) for ``settings`` of adapter type ``name``, without building it."""
        if name not in self._entries:
            return [("type", f"unknown {self.family} type {name!r}; known types: {', '.join(self.names())}")]
        module_name, _, _attr = self._entries[name].partition(":")
        model = getattr(importlib.import_module(module_name), "Settings", None)
        if model is None:  # a plugin without typed settings: its factory checks them when built
            return []
        from launch_control.plan.settings_types import problems

        return problems(model, settings)

    def check(self, name: str, settings: Mapping[str, Any] | None = None) -> None:
        """Raise ``UsageError`` naming every bad field of ``settings`` for adapter type ``name``."""
        if found := self.problems(name, settings):
            detail = "; ".join(f"{where}: {what}" for where, what in found)
            raise UsageError(f"{self.family} {name!r}: bad settings: {detail}")

    def build_from(self, config: Any, **context: Any) -> Any:
        """Build from a plan ``Adapter`` (``type`` + settings) or a plain dict with ``type``."""
        if isinstance(config, Mapping):
            if "type" not in config:
                raise UsageError(f"{self.family}: no 'type' given; known types: {', '.join(self.names())}")
            return self.build(config["type"], {k: v for k, v in config.items() if k != "type"}, **context)
        return self.build(config.type, config.settings, **context)

    def build(self, name: str, settings: Mapping[str, Any] | None = None, **context: Any) -> Any:
        """Build an adapter; bad settings become a ``UsageError`` naming the family and type."""
        factory = self.factory(name)
        try:
            return factory(dict(settings or {}), **context)
        except UsageError:
            raise
        except (TypeError, ValueError) as exc:
            raise UsageError(f"{self.family} {name!r}: bad settings: {exc}") from exc
