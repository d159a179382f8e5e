"""The shape of the code: imports run one way through the layers, there is no import cycle, and the
plugins use only the public API.

Every runtime import counts, a function-level one too (it runs when the function does); imports
under ``if TYPE_CHECKING:`` do not, since they never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "energy_core"
PLUGIN_PACKAGES = [
    *sorted(ROOT.glob("plugins/energy-*/energy_*")),
    ROOT / "examples" / "energy-example-plugin" / "energy_example",
]

LAYERS = (
    ("errors", "crash_points", "home", "hookspecs", "blas", "allocator"),
    ("plugin",),
    ("storage",),
    ("ingest",),
    ("features",),
    ("ml",),
    ("ops",),
    ("serve",),
    ("cli", "testing", "api", "__init__", "__main__"),
)
"""Lowest first: a module imports only from its own layer and the layers before it."""

PUBLIC = {"energy_core.api", "energy_core.hookspecs"}
"""All that a plugin may import from the core."""


def module_name(path: Path, package_root: Path) -> str:
    parts = list(path.relative_to(package_root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def runtime_imports(path: Path, prefix: str) -> Iterator[tuple[int, str]]:
    """(line, module) of every import of a ``prefix`` module that runs, wherever it sits in the file."""

    def walk(node: ast.AST) -> Iterator[tuple[int, str]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                yield from (item for stmt in child.orelse for item in walk_one(stmt))
                continue
            yield from walk_one(child)

    def walk_one(node: ast.AST) -> Iterator[tuple[int, str]]:
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names if alias.name.startswith(prefix))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.startswith(prefix):
            for alias in node.names:  # `from energy_core import hookspecs` imports a module, not a name
                candidate = f"{node.module}.{alias.name}"
                yield node.lineno, candidate if candidate in modules else node.module
        else:
            yield from walk(node)

    yield from walk(ast.parse(path.read_text(), str(path)))


modules = {module_name(p, CORE): p for p in CORE.rglob("*.py")}
graph = {name: {target for _, target in runtime_imports(path, "energy_core")} for name, path in modules.items()}


def layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    for index, names in enumerate(LAYERS):
        if top in names:
            return index
    raise AssertionError(f"{module} belongs to no layer: add its package to LAYERS and to ARCHITECTURE.md")


def test_every_core_module_belongs_to_a_layer():
    for module in modules:
        layer(module)


def test_imports_never_reach_a_higher_layer():
    upward = [f"{module} ({LAYERS[layer(module)][0]}) imports {target} ({LAYERS[layer(target)][0]})"
              for module, targets in graph.items() for target in targets
              if target in modules and layer(target) > layer(module)]
    assert not upward, "\n".join(upward)


def test_there_is_no_import_cycle():
    cycles, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if target not in modules:
                continue
            if state.get(target) == "open":
                cycles.append(" -> ".join([*path[path.index(target):], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(modules):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


def private_imports(folder: Path, allowed: set[str]) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{line} imports {target}" for path in sorted(folder.rglob("*.py"))
            for line, target in runtime_imports(path, "energy_core") if target not in allowed]


@pytest.mark.parametrize("package", PLUGIN_PACKAGES, ids=lambda p: p.name)
def test_plugins_import_only_the_public_api(package):
    assert not (private := private_imports(package, PUBLIC)), "\n".join(private)


def test_the_example_plugins_tests_use_only_the_public_api_and_the_test_kit():
    """Third parties copy them: they must not teach importing the core's insides."""
    tests = ROOT / "examples" / "energy-example-plugin" / "tests"
    assert not (private := private_imports(tests, PUBLIC | {"energy_core.testing"})), "\n".join(private)


def test_a_layer_violation_is_found(tmp_path):
    """The checks above read real imports: a module of the plugin layer importing the runner is seen."""
    bad = tmp_path / "energy_core" / "plugin" / "bad.py"
    bad.parent.mkdir(parents=True)
    bad.write_text("def f():\n    from energy_core.ingest.runner import run\n")
    found = [target for _, target in runtime_imports(bad, "energy_core")]
    assert found == ["energy_core.ingest.runner"]
    assert layer("energy_core.ingest.runner") > layer(module_name(bad, tmp_path / "energy_core"))
