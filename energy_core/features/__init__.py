"""Fusion onto an hourly grid, the LanceDB feature store, and serving windows as MLX arrays.

``Batch`` and ``Context`` load on first use: building features does not import MLX.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from energy_core.features.entities import Entity
from energy_core.features.records import BuildInfo, Splits
from energy_core.features.store import FeatureStore

if TYPE_CHECKING:
    from energy_core.features.serving import Batch, Context

__all__ = ["Batch", "BuildInfo", "Context", "Entity", "FeatureStore", "Splits"]


def __getattr__(name: str) -> Any:
    if name in ("Batch", "Context"):
        return getattr(importlib.import_module("energy_core.features.serving"), name)
    raise AttributeError(f"module 'energy_core.features' has no attribute {name!r}")
