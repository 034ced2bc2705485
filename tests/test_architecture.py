"""The package's layering, checked by reading its imports with ``ast``.

Each layer is a folder of ``evalkit/``, and a layer imports only the layers below it (and
itself). Every import counts: the ones run when a module is imported and the ones deferred
inside functions, since a deferred import is still a dependency.

    core                     imports nothing of evalkit but core
    inputs, hosted           core
    summarizers, metrics     core, inputs, hosted (never each other)
    run                      everything above
    report                   core, and of the run layer only the stored run (record, schema)
    cli                      everything

On top: no import cycle (deferred imports included), every module sits in a layer, and no
module is over 700 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "evalkit"
LAYERS = {
    "core": ("core",),
    "inputs": ("core",),
    "hosted": ("core",),
    "summarizers": ("core", "inputs", "hosted"),
    "metrics": ("core", "inputs", "hosted"),
    "run": ("core", "inputs", "hosted", "summarizers", "metrics"),
    "report": ("core", "run.record", "run.schema"),
    "view": ("core", "inputs", "run", "report"),
    "cli": ("core", "inputs", "hosted", "summarizers", "metrics", "run", "report", "view"),
}


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


def layer_of(module: str) -> str | None:
    """``evalkit.run.store`` -> ``run``; ``None`` for the package facade itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _allowed(layer: str) -> tuple[str, ...]:
    return tuple(f"evalkit.{p}" for p in (layer, *LAYERS[layer]))


def test_the_walk_finds_the_imports_it_should():
    # the checker itself: top-level and deferred imports, relative ones, and 'from package import module'
    assert {"evalkit.run.registry", "evalkit.run.store"} <= imports("evalkit.run.experiment")
    deferred = imports("evalkit.report.html") - imports("evalkit.report.html", top_level_only=True)
    assert "evalkit.report.plots" in deferred  # html draws its charts through a deferred import
    assert "evalkit.run.registry" in imports("evalkit.run.schema")  # deferred, for version-1 manifests


def test_every_module_sits_in_a_layer():
    assert not [m for m in MODULES if m != "evalkit" and layer_of(m) not in LAYERS]


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_a_layer_imports_only_the_layers_below_it(layer):
    allowed = _allowed(layer)
    bad = {name: sorted(m for m in imports(name) if m != "evalkit" and not _under(m, allowed))
           for name in MODULES if layer_of(name) == layer}
    assert not {n: b for n, b in bad.items() if b}, f"{layer} may import only {', '.join(allowed)}"


def test_strategies_and_metrics_do_not_import_each_other():
    for a, b in (("summarizers", "metrics"), ("metrics", "summarizers")):
        assert not [n for n in MODULES if layer_of(n) == a and any(layer_of(m) == b for m in imports(n))]


def test_the_checker_catches_a_violation(tmp_path, monkeypatch):
    # a report module that imports the runner is refused, whether at the top or inside a function
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from evalkit.run.experiment import Experiment\n", encoding="utf-8")
    monkeypatch.setitem(MODULES, "evalkit.report.bad", bad)
    with pytest.raises(AssertionError):
        test_a_layer_imports_only_the_layers_below_it("report")


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
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
            return cycle
    return None


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules it imports, deferred imports included; importing a submodule runs its
    package's ``__init__`` first, so that is an edge too (the facade ``evalkit`` excepted: it imports
    nothing until a name is asked for)."""
    graph = {n: {m for m in imports(n) if m in MODULES and m != "evalkit"} for n in MODULES}
    for name in MODULES:
        for dep in list(graph[name]):
            parent = dep.rpartition(".")[0]
            while parent and parent != "evalkit":
                if parent in MODULES and parent != name and not name.startswith(parent + "."):
                    graph[name].add(parent)
                parent = parent.rpartition(".")[0]
    return graph


def test_no_import_cycle():
    cycle = _cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_over_700_lines(name):
    lines = MODULES[name].read_text(encoding="utf-8").count("\n")
    assert lines <= 700, f"{MODULES[name]} has {lines} lines; split it by reason to change"
