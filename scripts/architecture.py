"""The package's shape in four numbers: files, floors, import cycles and upward imports.

    python scripts/architecture.py [--graph]

Every import counts, also one inside a function (a lazy import is still a dependency), but not one under
``if TYPE_CHECKING:`` (a type hint is no dependency at run time). A *unit* is a folder of
``neural_nas`` (``results``, ``supernets``) or a top-level module (``errors``, ``cli``); its *floor* is its place in the
declared order below (0: depends on nothing of ours). An import from a unit into one on a higher floor is *upward*;
a *cycle* is a set of units (or, listed apart, of modules) that import each other.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "neural_nas"

# The declared floors, lowest first: a unit may import only from its own floor or below.
FLOORS: list[set[str]] = [
    {"errors", "_registry", "_log", "_rng", "_machine"},
    {"config"},
    {"pareto", "measurements", "training", "data"},
    {"results", "predictors", "evolution", "searchers"},
    {"supernets"},
    {"distributed", "plotting", "export"},
    {"nas", "approaches"},
    {"catalog", "plugins"},
    {"cli", "__main__", "__init__", "conf", "experimental"},  # the faces: the package root and the drop-in paths
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, name: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
        for inner in ast.walk(node)
    }
    out = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.add(target)
            out.update(f"{target}.{a.name}" for a in node.names)
    return {t for t in out if t == "neural_nas" or t.startswith("neural_nas.")}


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    sys.setrecursionlimit(10000)

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", action="store_true", help="also print every unit-to-unit import")
    args = parser.parse_args()
    files = sorted(ROOT.rglob("*.py"))
    modules = {module_name(p): p for p in files}
    module_graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for target in imports_of(path, name):
            while target not in modules and "." in target:  # `from pkg.mod import name`: the module
                target = target.rpartition(".")[0]
            # Importing a package's __init__ through one of its modules is not a dependency on the package itself.
            if target != name and target in modules and not name.startswith(target + "."):
                module_graph[name].add(target)
    unit_graph: dict[str, set[str]] = defaultdict(set)
    for source, targets in module_graph.items():
        for target in targets:
            if unit(source) != unit(target):
                unit_graph[unit(source)].add(unit(target))
    floor_of = {u: i for i, floor in enumerate(FLOORS) for u in floor}
    undeclared = sorted({unit(m) for m in modules} - floor_of.keys())
    upward = sorted(
        (s, t)
        for s, targets in unit_graph.items()
        for t in targets
        if s in floor_of and t in floor_of and floor_of[t] > floor_of[s]
    )
    unit_cycles = strongly_connected(unit_graph)
    module_cycles = strongly_connected(module_graph)
    lines = sum(len(p.read_text(encoding="utf-8").splitlines()) for p in files)
    print(f"files: {len(files)} ({lines} lines)")
    print(f"floors: {len(FLOORS)} declared; units not on a floor: {', '.join(undeclared) or 'none'}")
    print(f"unit cycles: {len(unit_cycles)}" + "".join(f"\n  {' <-> '.join(c)}" for c in unit_cycles))
    print(f"module cycles: {len(module_cycles)}" + "".join(f"\n  {' <-> '.join(c)}" for c in module_cycles))
    print(f"upward imports: {len(upward)}" + "".join(f"\n  {s} -> {t}" for s, t in upward))
    if args.graph:
        for source in sorted(unit_graph):
            print(f"{source} -> {', '.join(sorted(unit_graph[source]))}")


if __name__ == "__main__":
    main()
