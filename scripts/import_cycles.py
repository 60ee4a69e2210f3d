"""Print import cycles among launch_control's modules (module-level imports only: imports inside
functions and under ``if TYPE_CHECKING:`` do not run at import time). Exit 1 if there is one.
The layers over the core, console/ and flows/, are walked under the names they install as
(``launch_control.console``, ``launch_control.flows``; setup.py maps them).

    .venv/bin/python scripts/import_cycles.py          # module-level imports (what CI enforces)
    .venv/bin/python scripts/import_cycles.py --all    # function-local imports too (CI enforces both)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "launch_control"
# folder -> the package name it installs as (setup.py's package_dir)
PACKAGES = {
    PACKAGE: "launch_control",
    ROOT / "console": "launch_control.console",
    ROOT / "flows": "launch_control.flows",
}


def module_name(path: Path) -> str:
    folder = next(f for f in PACKAGES if path.is_relative_to(f))
    parts = (PACKAGES[folder], *path.relative_to(folder).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(node: ast.Import | ast.ImportFrom, package: str, modules: set[str]) -> set[str]:
    """The package's modules one import statement names (relative imports resolved)."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in modules}
    base = node.module or ""
    if node.level:
        parents = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join(parents + ([base] if base else []))
    found = {base} if base in modules else set()
    return found | {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules}


def imports(path: Path, modules: set[str], include_local: bool = False) -> set[str]:
    """What the module imports at import time, or (``include_local``) anywhere, functions included:
    a function-local import is a circle that waits for its first call."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.update(_imported(node, package, modules))
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                visit(getattr(node, "body", []) + getattr(node, "orelse", []) + getattr(node, "finalbody", []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    if include_local:
        # Every import that can run, function bodies included; ``if TYPE_CHECKING:`` blocks are
        # left out: they are names for the type checker and never execute.
        type_only = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for inner in ast.walk(node)
        }
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in type_only:
                found.update(_imported(node, package, modules))
    else:
        visit(tree.body)
    found.discard(here)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    sys.setrecursionlimit(10000)

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in graph:
        if v not in index:
            strong(v)
    return out


def graph_of(include_local: bool = False) -> dict[str, set[str]]:
    paths = sorted(p for folder in PACKAGES for p in folder.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports(p, modules, include_local) for p in paths}


def main() -> int:
    include_local = "--all" in sys.argv[1:]
    graph = graph_of(include_local)
    found = cycles(graph)
    for component in found:
        print("import cycle:", " ↔ ".join(component))
    kind = "imports (function-local included)" if include_local else "module-level imports"
    print(f"{len(graph)} modules, {sum(len(v) for v in graph.values())} {kind}, {len(found)} cycles")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
