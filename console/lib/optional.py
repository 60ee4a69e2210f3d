"""Modules other parts of Launch Control provide, imported only if they exist.

The console shows a plain "not available yet" for a feature whose module is missing, instead of
failing the whole page; a module that exists but fails to import is reported with its error.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import streamlit as st


def load(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            return None
        raise


def attr(module: str, name: str) -> object | None:
    mod = load(module)
    return getattr(mod, name, None) if mod is not None else None


def not_available(what: str, module: str) -> None:
    st.info(f"{what} is not available yet: `{module}` is not installed in this build.", icon="ℹ️")
