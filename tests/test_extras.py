"""Honest dependencies: every imported library is declared; the base install ingests on its own; a
command that needs a missing extra names it; versions come from one place; ``energy doctor`` tells."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

import energy_core
from energy_core.blas import THREAD_VARIABLES
from energy_core.cli.extras import EXTRAS
from tests.processes import ROOT, child_env

OPTIONAL = ("lancedb", "mlx", "duckdb", "matplotlib")
"""The libraries the extras bring; a base install has none of them."""

WORKSPACE_PLUGINS = sorted(ROOT.glob("plugins/energy-*"))


def project(folder: Path) -> dict:
    return tomllib.loads((folder / "pyproject.toml").read_text())["project"]


def installed(folder: Path) -> bool:
    try:
        metadata.distribution(project(folder)["name"])
    except metadata.PackageNotFoundError:
        return False
    return True


PACKAGES = {
    ROOT: ROOT / "energy_core",
    **{folder: next(folder.glob("energy_*")) for folder in WORKSPACE_PLUGINS if installed(folder)},
    ROOT / "examples" / "energy-example-plugin": ROOT / "examples" / "energy-example-plugin" / "energy_example",
}
"""Each installed distribution's folder (holding its pyproject.toml) and its import package: every one
after ``uv sync``; CI's lowest-versions environment installs only the core and the source plugins."""


def test_every_workspace_plugin_is_installed():
    """So that the checks below cover them all (CI's lowest-versions run deselects this one)."""
    assert [folder.name for folder in WORKSPACE_PLUGINS if not installed(folder)] == []


def name_of(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", requirement).group()).lower()


def imported(package: Path) -> set[str]:
    """The top-level modules that ``package`` imports anywhere (type-checking imports too), less its own."""
    names = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.partition(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.partition(".")[0])
    return names - set(sys.stdlib_module_names) - {"__future__", package.name}


@pytest.mark.parametrize("folder", PACKAGES, ids=lambda folder: folder.name)
def test_each_package_declares_exactly_the_libraries_it_imports(folder):
    meta = project(folder)
    extras = meta.get("optional-dependencies", {})
    declared = {name_of(r) for r in [*meta["dependencies"], *(r for extra in extras.values() for r in extra)]}
    owners = metadata.packages_distributions()
    modules = imported(PACKAGES[folder]) - {"energy_core"}
    undeclared = {module: owners.get(module) for module in modules
                  if not declared & {name_of(d) for d in owners.get(module, [module])}}
    assert not undeclared, f"{meta['name']} imports undeclared libraries (module: distributions): {undeclared}"
    for_its_tests = {name_of(r) for r in extras.get("test", [])}  # the example's tests folder imports those
    unused = declared - {name_of(d) for module in modules for d in owners.get(module, [module])} - for_its_tests
    unused.discard("energy-core")
    assert not unused, f"{meta['name']} declares libraries it never imports: {unused}"
    if meta["name"] != "energy-core":
        assert "energy-core" in declared


def test_the_extras_doctor_knows_are_the_ones_pyproject_declares():
    extras = project(ROOT)["optional-dependencies"]
    assert set(extras) == {*EXTRAS, "all", "cuda"}
    for extra, library in EXTRAS.items():
        assert library in {name_of(r) for r in extras[extra]}, f"[{extra}] does not bring {library}"
    assert set(re.findall(r"\[(.*)\]", extras["all"][0])[0].split(",")) == set(EXTRAS)
    assert not set(OPTIONAL) & {name_of(r) for r in project(ROOT)["dependencies"]}, "the base install stays light"


def test_versions_come_from_pyproject_and_energy_version_prints_core_and_plugins():
    assert energy_core.__version__ == metadata.version("energy-core") == project(ROOT)["version"]
    result = subprocess.run([sys.executable, "-m", "energy_core", "--version"], capture_output=True, text=True,
                            timeout=120, env=child_env())
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"energy-core {energy_core.__version__}"
    for folder in [folder for folder in WORKSPACE_PLUGINS if installed(folder)]:
        meta = project(folder)
        assert f"{meta['name']} {meta['version']} (plugin {folder.name.removeprefix('energy-')})" in lines


def energy_without(blocked: tuple[str, ...], *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``energy *args`` in a child process in which the ``blocked`` libraries cannot be imported, the way
    they cannot after an install without their extra."""
    code = (f"import sys\nsys.modules.update(dict.fromkeys({list(blocked)!r}))\n"
            f"from energy_core.cli import main\nmain({list(args)!r})\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=cwd,
                          env=child_env({"PYTHONPATH": str(ROOT)}))


def test_the_base_install_ingests_and_a_run_skips_the_feature_build_saying_which_extra_it_needs(tmp_path):
    run = ("run", "--source", "eia", "--simulate", "--region", "PACW", "--start", "2024-01-01", "--end", "2024-01-02",
           "--home", str(tmp_path / "home"))
    stored = energy_without(OPTIONAL, *run, "--no-features", cwd=tmp_path)
    assert stored.returncode == 0, stored.stderr
    assert re.search(r"(\d+) of \1 windows ok", stored.stdout), stored.stdout
    home = run[-2:]
    for command in (("status", *home), ("quality", *home), ("doctor",)):
        result = energy_without(OPTIONAL, *command, cwd=tmp_path)
        assert result.returncode == 0, f"energy {command[0]}: {result.stderr}"
    built = energy_without(OPTIONAL, *run, "--full-refresh", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    assert "features: not rebuilt: the feature store needs the 'features' extra (pip install " \
           "'energy-core[features]'); the data are stored" in built.stderr


@pytest.mark.parametrize(("library", "extra", "args"), [
    ("lancedb", "features", ("features", "build")),
    ("mlx", "ml", ("train", "--entity", "PACW")),
    ("duckdb", "sql", ("query", "SELECT 1")),
])
def test_a_command_that_needs_a_missing_extra_names_it(tmp_path, library, extra, args):
    result = energy_without((library,), *args, "--home", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: `energy {args[0]}` needs {library}, which is not installed: "
                           f"pip install 'energy-core[{extra}]'"), line


def test_a_missing_library_that_no_extra_brings_stays_a_traceback(tmp_path):
    """Only the extras' libraries are explained; anything else missing is a broken install, shown as it is."""
    result = energy_without(("numpy",), "features", "build", "--home", str(tmp_path / "home"), cwd=tmp_path)
    assert result.returncode == 1 and "ModuleNotFoundError" in result.stderr


def test_doctor_reports_versions_extras_the_mlx_device_and_its_blas(tmp_path):
    env = {k: v for k, v in child_env().items() if k not in THREAD_VARIABLES}  # energy's own thread count
    result = subprocess.run([sys.executable, "-m", "energy_core", "doctor", "--json"], capture_output=True,
                            text=True, timeout=120, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["energy_core"] == energy_core.__version__
    assert found["plugins"]["eia"] == {"distribution": "energy-eia", "version": metadata.version("energy-eia")}
    assert found["extras"] == {**dict.fromkeys(EXTRAS, True), "cuda": False}  # `uv sync` installs every extra
    assert found["libraries"]["polars"] == metadata.version("polars")
    assert found["mlx"]["version"] == metadata.version("mlx") and found["mlx"]["device"].startswith("Device(")
    assert re.search(r"libblas|openblas|Accelerate", found["mlx"]["blas"], re.I)
    if "openblas" in found["mlx"]["blas"]:
        assert "1 thread (OPENBLAS_NUM_THREADS sets it)" in found["mlx"]["blas"]
    text = subprocess.run([sys.executable, "-m", "energy_core", "doctor"], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env=child_env()).stdout
    assert f"energy-core {energy_core.__version__}" in text and "blas: " in text and "extras: features yes" in text


def test_doctor_without_mlx_says_which_extra_brings_it(tmp_path):
    result = energy_without(("mlx",), "doctor", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "mlx: not installed" in result.stdout
