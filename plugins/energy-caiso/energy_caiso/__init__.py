"""CAISO OASIS and Today's Outlook source for energy.

The names below load on first use: importing the package (which loading the plugin does) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from energy_caiso.normalize import CaisoNormalizer
    from energy_caiso.simulator import CaisoSimulator
    from energy_caiso.source import CaisoSource

_MODULES = {
    "CaisoNormalizer": "energy_caiso.normalize",
    "CaisoSimulator": "energy_caiso.simulator",
    "CaisoSource": "energy_caiso.source",
}
__all__ = ["CaisoNormalizer", "CaisoSimulator", "CaisoSource"]


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_MODULES[name]), name)
