"""The ``weather`` plugin: registered through the entry point ``weather`` in group ``energy``."""

from __future__ import annotations

from energy_core.hookspecs import hookimpl
from energy_weather.normalize import WeatherNormalizer
from energy_weather.source import WeatherSource


@hookimpl
def register_sources():
    return [WeatherSource]


@hookimpl
def register_normalizers():
    return [WeatherNormalizer]
