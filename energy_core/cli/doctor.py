"""``energy doctor``: what this installation is made of: versions, extras, the MLX device and its BLAS."""

from __future__ import annotations

import json
import platform
import sys
from importlib import metadata
from typing import Any

import click

from energy_core.cli import plugin_manager
from energy_core.cli.extras import EXTRAS, installed
from energy_core.cli.versions import CORE, plugin_versions, version_of
from energy_core.plugin.manager import EnergyPluginManager

LIBRARIES = ("click", "httpx", "numpy", "pluggy", "polars", "pyarrow", "pydantic", "rich",
             "lancedb", "mlx", "duckdb", "matplotlib")
"""The libraries whose versions the report names: the base install's, then the extras'."""


def mlx_report() -> dict[str, Any]:
    """MLX's version, default device and the BLAS that serves its matrix products; loads OpenBLAS first
    as energy does, so the answer is what ``energy train`` gets."""
    from energy_core.blas import INSTALL, blas_in_use, is_bundled, load_openblas, openblas_threads

    loaded = load_openblas()
    try:
        import mlx.core as mx
    except ModuleNotFoundError:
        return {"installed": False}
    except ImportError as exc:  # installed, but this build cannot load here (a CUDA one without a GPU driver, say)
        return {"installed": True, "version": version_of("mlx"), "error": str(exc)}

    cuda = getattr(mx, "cuda", None)
    in_use = blas_in_use()
    if in_use is None:
        blas = "Accelerate (macOS)" if sys.platform == "darwin" else "MLX's own (no bundled reference BLAS)"
    elif is_bundled(in_use):
        blas = f"{in_use}, the reference BLAS bundled with MLX, 20-40x slower than OpenBLAS; {INSTALL}"
    else:
        blas = f"{in_use} (loaded by energy before MLX)" if in_use == loaded else in_use
        threads = openblas_threads()
        if threads is not None:
            blas += f", {threads} thread{'s' if threads > 1 else ''} (OPENBLAS_NUM_THREADS sets it)"
    return {"installed": True, "version": version_of("mlx"), "device": str(mx.default_device()),
            "metal": bool(mx.metal.is_available()), "cuda": bool(cuda is not None and cuda.is_available()),
            "blas": blas}


def report(pm: EnergyPluginManager) -> dict[str, Any]:
    extras = installed()
    extras["cuda"] = any((d.metadata["Name"] or "").startswith("mlx-cuda") for d in metadata.distributions())
    return {
        "energy_core": version_of(CORE),
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "plugins": plugin_versions(pm),
        "extras": extras,
        "libraries": {name: version_of(name) for name in LIBRARIES},
        "mlx": mlx_report(),
    }


def describe(found: dict[str, Any]) -> str:
    mlx = found["mlx"]
    extras = ", ".join(f"{name} {'yes' if present else 'no'}" for name, present in found["extras"].items())
    missing = [name for name in EXTRAS if not found["extras"][name]]
    lines = [
        f"energy-core {found['energy_core']} (Python {found['python']}, {found['platform']})",
        *(f"plugin {name}: {p['distribution']} {p['version']}" for name, p in found["plugins"].items()),
        f"extras: {extras}",
        *([f"  to add the missing ones: pip install 'energy-core[{','.join(missing)}]'"] if missing else []),
        "libraries: " + ", ".join(f"{name} {version or '-'}" for name, version in found["libraries"].items()),
    ]
    if "error" in mlx:
        lines.append(f"mlx: {mlx['version']} is installed but cannot be imported: {mlx['error']}")
    elif mlx["installed"]:
        accelerators = [name for name in ("metal", "cuda") if mlx[name]]
        lines += [f"mlx: {mlx['version']}, default device {mlx['device']}, GPU: {', '.join(accelerators) or 'none'}",
                  f"blas: {mlx['blas']}"]
    else:
        lines.append("mlx: not installed (training needs it: pip install 'energy-core[ml]', [cuda] on an NVIDIA GPU)")
    return "\n".join(lines)


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def doctor_command(ctx: click.Context, as_json: bool) -> None:
    """Versions of energy, its plugins and libraries; the extras installed; MLX's device and which BLAS
    serves its matrix products."""
    found = report(plugin_manager(ctx))
    click.echo(json.dumps(found, indent=2) if as_json else describe(found))
