"""The package's import graph (console/ and flows/ under the names they install as): no circle among
module-level imports, no circle even through imports inside functions (``if TYPE_CHECKING:`` imports never run and
are not counted), and no import from the core up into the console or the flows."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("import_cycles", ROOT / "scripts" / "import_cycles.py")
assert _spec and _spec.loader
import_cycles = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(import_cycles)

def test_no_module_level_import_cycle():
    assert import_cycles.cycles(import_cycles.graph_of()) == []


def test_no_cycle_even_through_function_local_imports():
    # A function-local import is a circle that waits for its first call; the ones the rooms were
    # measured with (cli <-> emergency, the two loadgens, incidents/oncall/templates, plan model <->
    # last good plan, gateway admin <-> app, operations <-> engine) are all cut.
    assert import_cycles.cycles(import_cycles.graph_of(include_local=True)) == []


def test_the_scan_sees_a_circle_hidden_in_a_function_and_not_a_type_only_import(tmp_path, monkeypatch):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("def later():\n    from pkg import a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n")
    (pkg / "d.py").write_text("from pkg import c\n")
    monkeypatch.setattr(import_cycles, "PACKAGES", {pkg: "pkg"})
    modules = {"pkg.a", "pkg.b", "pkg.c", "pkg.d"}
    graph = {f"pkg.{n}": import_cycles.imports(pkg / f"{n}.py", modules, include_local=True) for n in "abcd"}
    assert graph["pkg.b"] == {"pkg.a"} and graph["pkg.c"] == set()
    assert [sorted(c) for c in import_cycles.cycles(graph)] == [["pkg.a", "pkg.b"]]


def test_the_core_never_imports_the_console_or_the_flows():
    # console/ and flows/ are layers over the core (installed as launch_control.console / .flows):
    # they import it, it never imports them, not even inside a function (control/seams.py names the
    # flows module as a string, looked up at run time)
    layers = ("launch_control.console", "launch_control.flows")
    graph = import_cycles.graph_of(include_local=True)
    assert "launch_control.console.app" in graph and "launch_control.flows.launch_day" in graph
    assert "launch_control.plan.model" in graph["launch_control.flows.deployments"]
    core = {m: deps for m, deps in graph.items() if not m.startswith(layers)}
    upward = {m: sorted(d for d in deps if d.startswith(layers)) for m, deps in core.items()}
    assert not {m: d for m, d in upward.items() if d}


def test_the_walk_sees_a_circle():
    # The checker itself: a two-module circle and a local-only import are found.
    graph = {"a": {"b"}, "b": {"a"}, "c": set()}
    assert import_cycles.cycles(graph) == [["a", "b"]]
