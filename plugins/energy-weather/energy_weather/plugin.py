"""The ``weather`` plugin: registered through the entry point ``weather`` in group ``energy``.

Each hook imports its components when it is called, so loading the plugin (every ``energy`` command
does, ``energy --help`` too) stays cheap: no data library is imported until a component is needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from energy_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from collections.abc import Mapping

    from energy_core.api import EntitySpec, Normalizer, PlotPanel, Setting, Source


@hookimpl
def register_sources() -> list[type[Source]]:
    from energy_weather.source import WeatherSource

    return [WeatherSource]


@hookimpl
def register_normalizers() -> list[type[Normalizer]]:
    from energy_weather.normalize import WeatherNormalizer

    return [WeatherNormalizer]


@hookimpl
def register_plot_panels() -> list[PlotPanel]:
    from energy_core.api import PlotPanel

    return [PlotPanel("weather.temperature", "degC", max_columns=3)]


@hookimpl
def register_settings() -> list[Setting]:
    from energy_core.api import Setting
    from energy_weather.api import (
        ARCHIVE_URL_VARIABLE,
        DEFAULT_ARCHIVE_URL,
        DEFAULT_FORECAST_URL,
        FORECAST_URL_VARIABLE,
    )
    from energy_weather.points import POINTS_VARIABLE
    from energy_weather.variables import VARIABLES_VARIABLE

    return [
        Setting(ARCHIVE_URL_VARIABLE, f"Open-Meteo archive API URL (default {DEFAULT_ARCHIVE_URL})"),
        Setting(FORECAST_URL_VARIABLE, f"Open-Meteo forecast API URL (default {DEFAULT_FORECAST_URL})"),
        Setting(VARIABLES_VARIABLE, "comma list of Open-Meteo hourly variables replacing the defaults"),
        Setting(POINTS_VARIABLE, "a TOML file of weather points per BA, replacing or extending the built-in ones"),
    ]


@hookimpl
def register_entities(stored: Mapping[str, frozenset[str]]) -> list[EntitySpec]:
    """Each BA's observed weather (its points' weighted mean, stored under the BA's code; a point's own
    region has a dot) joins the entity of that name, wherever another plugin defines one."""
    from energy_core.api import EntitySpec, Selector

    bas = sorted(region for region in stored.get("weather.hourly", ()) if "." not in region)
    return [EntitySpec(ba, (Selector("weather.hourly", ba),)) for ba in bas]
