"""The package's layering, checked by reading its imports with ``ast``.

- core (types, errors, text, targets, fingerprint, redact) imports nothing of evalkit but core;
- strategies never import the runner, the registry, the store or metrics;
- metrics never import strategies, the runner, the registry or the store;
- the gate and the views (tables, charts, report) read only runs: no strategies, no data loading,
  no runner;
- no import cycle among module-level imports, and no module over 700 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "evalkit"
CORE = ("evalkit.types", "evalkit.errors", "evalkit.text", "evalkit.targets", "evalkit.fingerprint", "evalkit.redact")
RUNNER = ("evalkit.experiment", "evalkit.registry", "evalkit.store", "evalkit.executors")
VIEWS = ("evalkit.gate", "evalkit.plots", "evalkit.report", "evalkit.tables")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(name: str, *, top_level_only: bool = False) -> set[str]:
    """The evalkit modules ``name`` imports (every import, or only those run at import time)."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST, runtime: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and top_level_only:
                continue
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue  # annotations only: never executed
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name.startswith("evalkit"))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.rsplit(".", child.level - 1)[0] if child.level > 1 else package
                    target = f"{base}.{child.module}" if child.module else base
                else:
                    target = child.module or ""
                if target.startswith("evalkit"):
                    submodules = {f"{target}.{a.name}" for a in child.names if f"{target}.{a.name}" in MODULES}
                    found.update(submodules)
                    if len(submodules) < len(child.names):  # names defined in the module itself
                        found.add(target)
            visit(child, runtime)

    visit(tree, True)
    return {m for m in found if m != name}


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _offenders(sources: tuple[str, ...], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    out = {}
    for name in MODULES:
        if _under(name, sources):
            bad = sorted(m for m in imports(name) if _under(m, forbidden))
            if bad:
                out[name] = bad
    return out


def test_the_walk_finds_the_imports_it_should():
    # the checker itself: the runner imports the registry and the store; core has modules
    assert {"evalkit.registry", "evalkit.store"} <= imports("evalkit.experiment")
    assert all(c in MODULES for c in CORE)


def test_core_imports_only_core():
    bad = {n: [m for m in imports(n) if not _under(m, CORE)] for n in CORE}
    assert not {n: b for n, b in bad.items() if b}


def test_strategies_import_no_runner_registry_or_metric():
    assert not _offenders(("evalkit.summarizers",), (*RUNNER, "evalkit.metrics", "evalkit.runs"))


def test_metrics_import_no_strategy_or_runner():
    assert not _offenders(("evalkit.metrics",), (*RUNNER, "evalkit.summarizers", "evalkit.runs"))


def test_views_and_gate_read_only_runs():
    assert not _offenders(VIEWS, ("evalkit.summarizers", "evalkit.data", "evalkit.experiment", "evalkit.registry",
                                  "evalkit.executors"))


def test_no_import_cycle():
    graph = {n: {m for m in imports(n, top_level_only=True) if m in MODULES} for n in MODULES}
    # importing a submodule runs its package's __init__ first
    for name in MODULES:
        for dep in list(graph[name]):
            parent = dep.rpartition(".")[0]
            while parent and parent != "evalkit":
                if parent in MODULES and parent != name and not name.startswith(parent + "."):
                    graph[name].add(parent)
                parent = parent.rpartition(".")[0]
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (cycle := walk(dep)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for name in sorted(graph):
        if name not in state and (cycle := walk(name)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_over_700_lines(name):
    lines = MODULES[name].read_text(encoding="utf-8").count("\n")
    assert lines <= 700, f"{MODULES[name]} has {lines} lines; split it by reason to change"
