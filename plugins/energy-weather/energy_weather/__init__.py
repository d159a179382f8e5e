"""Open-Meteo weather source for energy.

The names below load on first use: importing the package (which loading the plugin does) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from energy_weather.normalize import WeatherNormalizer
    from energy_weather.simulator import WeatherSimulator
    from energy_weather.source import WeatherSource

_MODULES = {
    "WeatherNormalizer": "energy_weather.normalize",
    "WeatherSimulator": "energy_weather.simulator",
    "WeatherSource": "energy_weather.source",
}
__all__ = ["WeatherNormalizer", "WeatherSimulator", "WeatherSource"]


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_MODULES[name]), name)
