"""The shape of the code holds: packages by area, imports point down, no import cycles.

docs/architecture.md draws the same rules; this file is what keeps them true.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "steward"

# The only modules allowed in the package root; everything else lives in a package by area.
ROOT_MODULES = {"__init__", "__main__", "runtime", "plugins"}

# What each area may import of ours (besides itself). Areas not named in a rule may import
# anything below the edge (web, cli) and the composition root only where stated.
FOUNDATION = {"core", "config", "store"}
ALLOWED = {
    "core": set(),
    "config": {"core"},
    "store": {"core", "config"},
    "observability": {"core", "config"},
}
EDGES = {"web", "cli"}  # services never import these


def _modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    is_pkg = _modules()[module].name == "__init__.py"
    base = base if is_pkg else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _top_level_imports(module: str, path: Path) -> set[str]:
    """Modules of ours imported when ``module`` is imported (not inside functions or
    ``if TYPE_CHECKING`` blocks, which cannot make a cycle at import time)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    known = _modules()
    for node in tree.body:
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            names = [target]
            # `from steward import audit` imports the submodule steward.audit
            names += [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known]
        for name in names:
            if name.startswith("steward"):
                while name not in known and "." in name:
                    name = name.rsplit(".", 1)[0]
                if name in known and name != module:
                    found.add(name)
    return found


def _all_imports(path: Path) -> set[str]:
    """Every module of ours named in an import anywhere in the file."""
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("steward")}
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and node.module.startswith("steward")
        ):
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def _area(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_no_module_in_the_package_root_but_the_four() -> None:
    loose = {p.stem for p in SRC.glob("*.py")}
    assert loose == ROOT_MODULES


def test_no_import_cycles() -> None:
    graph = {m: _top_level_imports(m, p) for m, p in _modules().items()}
    # A package imports its own __init__ first: edges to a parent package are not cycles.
    for m, deps in graph.items():
        graph[m] = {d for d in deps if not m.startswith(d + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                cycle = [*stack[stack.index(d) :], d]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


@pytest.mark.parametrize("area", sorted(ALLOWED))
def test_foundation_imports_nothing_above_it(area: str) -> None:
    bad = []
    for module, path in _modules().items():
        if _area(module) != area:
            continue
        for name in _all_imports(path):
            other = _area(name)
            if other and other != area and other not in ALLOWED[area]:
                bad.append(f"{module} imports {name}")
    assert bad == []


def test_services_never_import_the_edges() -> None:
    bad = []
    for module, path in _modules().items():
        area = _area(module)
        if area in EDGES or module in ("steward", "steward.__main__"):
            continue
        for name in _all_imports(path):
            if _area(name) in EDGES:
                bad.append(f"{module} imports {name}")
    assert bad == []


def test_areas_below_the_root_never_import_the_composition_root_at_import_time() -> None:
    """Services receive their collaborators; only the edges and the root wire them."""
    bad = []
    for module, path in _modules().items():
        area = _area(module)
        if area in FOUNDATION | {"observability"} and "steward.runtime" in _all_imports(path):
            bad.append(module)
    assert bad == []
