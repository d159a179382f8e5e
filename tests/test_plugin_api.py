"""Each plugin's simulator is an independent double of its service: it takes the service's documented
facts from the plugin's ``api.py``, as the client does, and nothing from the client itself, so a client
bug cannot be copied into the simulator that tests it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_PACKAGES = [package.parent for package in sorted(ROOT.glob("plugins/energy-*/energy_*/source.py"))] + [
    ROOT / "examples" / "energy-example-plugin" / "energy_example"]
"""The source plugins (those with a ``source.py``); trackers and flows talk to no service of their own."""
SIMULATOR_SIDE = {"simulator", "synthetic", "api"}
"""The modules a simulator may reach inside its package: itself, its data generator and the facts."""


def package_imports(path: Path, package: str) -> set[str]:
    """The modules of ``package`` that ``path`` imports, at any depth of the file (lazy imports count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(package):
            names = [node.module] if node.module != package else [f"{package}.{a.name}" for a in node.names]
            found.update(name.split(".")[1] for name in names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith(f"{package}."))
    return found


@pytest.mark.parametrize("package", PLUGIN_PACKAGES, ids=lambda p: p.name)
def test_the_simulator_reaches_only_the_services_facts_not_the_client(package):
    reached, todo = set(), ["simulator"]
    while todo:
        module = todo.pop()
        reached.add(module)
        todo += [m for m in package_imports(package / f"{module}.py", package.name) if m not in reached]
    assert "api" in reached and reached <= SIMULATOR_SIDE, f"{package.name}.simulator reaches {sorted(reached)}"


@pytest.mark.parametrize("package", PLUGIN_PACKAGES, ids=lambda p: p.name)
def test_the_client_takes_the_same_facts_from_api(package):
    assert "api" in package_imports(package / "source.py", package.name)
    assert package_imports(package / "api.py", package.name) == set()
