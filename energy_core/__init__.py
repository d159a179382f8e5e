"""energy: electricity-grid data through plugins, stored, fused and served to MLX.

The names a library user needs are importable from here (``from energy_core import RunConfig, run``);
they load on first use, so ``import energy_core`` (and so the ``energy`` command) starts quickly.
Plugin authors import from :mod:`energy_core.api`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from energy_core.api import *  # noqa: F403
    from energy_core.ingest.report import RunReport
    from energy_core.ingest.runner import RunConfig, plan, run
    from energy_core.storage.lake import Lake

__all__ = ["Lake", "RunConfig", "RunReport", "plan", "run"]
"""The library's entry points; every name of :mod:`energy_core.api` is available here too."""

_LIBRARY = {
    "RunConfig": "energy_core.ingest.runner",
    "run": "energy_core.ingest.runner",
    "plan": "energy_core.ingest.runner",
    "RunReport": "energy_core.ingest.report",
    "Lake": "energy_core.storage.lake",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":  # pyproject.toml holds it; read from the installed metadata, never repeated here
        from importlib.metadata import version

        return version("energy-core")
    module = _LIBRARY.get(name)
    if module is None:
        api = importlib.import_module("energy_core.api")
        if name not in api.__all__:
            raise AttributeError(f"module 'energy_core' has no attribute {name!r}")
        return getattr(api, name)
    return getattr(importlib.import_module(module), name)
