"""EIA API v2 (EIA-930 hourly grid monitor) source for energy.

The names below load on first use: importing the package (which loading the plugin does) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from energy_eia.normalize import EiaNormalizer
    from energy_eia.simulator import EiaSimulator, Faults
    from energy_eia.source import EiaSource

_MODULES = {
    "EiaNormalizer": "energy_eia.normalize",
    "EiaSimulator": "energy_eia.simulator",
    "EiaSource": "energy_eia.source",
    "Faults": "energy_eia.simulator",
}
__all__ = ["EiaNormalizer", "EiaSimulator", "EiaSource", "Faults"]


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_MODULES[name]), name)
