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
        DEFAULT_PREVIOUS_RUNS_URL,
        FORECAST_URL_VARIABLE,
        PREVIOUS_RUNS_START_VARIABLE,
        PREVIOUS_RUNS_URL_VARIABLE,
        TABLE_VARIABLE,
    )
    from energy_weather.points import POINTS_VARIABLE
    from energy_weather.variables import VARIABLES_VARIABLE

    return [
        Setting(ARCHIVE_URL_VARIABLE, f"Open-Meteo archive API URL (default {DEFAULT_ARCHIVE_URL})"),
        Setting(FORECAST_URL_VARIABLE, f"Open-Meteo forecast API URL (default {DEFAULT_FORECAST_URL})"),
        Setting(PREVIOUS_RUNS_URL_VARIABLE, f"Open-Meteo Previous Runs API URL (default {DEFAULT_PREVIOUS_RUNS_URL})"),
        Setting(PREVIOUS_RUNS_START_VARIABLE, "first day to ask the Previous Runs API for past forecasts "
                "(default 2024-01-01, where its archive begins)"),
        Setting(TABLE_VARIABLE, "a recorded table (ts, latitude, longitude, temperature_2m or temperature_c, "
                "...) that the simulator replays instead of inventing weather"),
        Setting(VARIABLES_VARIABLE, "comma list of Open-Meteo hourly variables replacing the defaults"),
        Setting(POINTS_VARIABLE, "a TOML file of weather points per BA, replacing or extending the built-in ones"),
    ]


@hookimpl
def register_entities(stored: Mapping[str, frozenset[str]]) -> list[EntitySpec]:
    """Each BA's observed weather (its points' weighted mean, stored under the BA's code; a point's own
    region has a dot) joins the entity of that name, wherever another plugin defines one, and so does
    its weather forecast, as features with the suffix ``@forecast`` (``weather.temperature_2m@forecast``):
    the model reads those at the hours it forecasts, as known when it forecasts."""
    from energy_core.api import EntitySpec, Selector

    specs = []
    for dataset, suffix in (("weather.hourly", ""), ("weather.forecast", "forecast")):
        bas = sorted(region for region in stored.get(dataset, ()) if "." not in region)
        specs += [EntitySpec(ba, (Selector(dataset, ba, suffix),)) for ba in bas]
    return specs
