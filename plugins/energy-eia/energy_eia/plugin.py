"""The ``eia`` plugin: registered through the entry point ``eia`` in group ``energy``.

Each hook imports its components when it is called, so loading the plugin (every ``energy`` command
does, ``energy --help`` too) stays cheap: no data library is imported until a component is needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from energy_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from collections.abc import Mapping

    from energy_core.api import EntitySpec, Normalizer, PlotPanel, QualityCheck, Setting, Source


@hookimpl
def register_sources() -> list[type[Source]]:
    from energy_eia.source import EiaSource

    return [EiaSource]


@hookimpl
def register_normalizers() -> list[type[Normalizer]]:
    from energy_eia.normalize import EiaNormalizer

    return [EiaNormalizer]


@hookimpl
def register_quality_checks() -> list[QualityCheck]:
    from energy_core.api import QualityCheck
    from energy_eia.quality import FUEL, REGION, EiaConsistency

    return [QualityCheck("eia_consistency", (REGION, FUEL), EiaConsistency())]


@hookimpl
def register_plot_panels() -> list[PlotPanel]:
    from energy_core.api import PanelStyle, PlotPanel

    return [PlotPanel("eia.gen.", "MWh", PanelStyle.STACKED, short_labels=True)]


@hookimpl
def register_settings() -> list[Setting]:
    from energy_core.api import Setting
    from energy_eia.api import DEFAULT_URL, KEY_VARIABLE, REGISTER_URL, TABLE_VARIABLE, URL_VARIABLE

    return [
        Setting(KEY_VARIABLE, f"EIA Open Data API key (free at {REGISTER_URL})", secret=True),
        Setting(URL_VARIABLE, f"EIA API v2 base URL (default {DEFAULT_URL})"),
        Setting(TABLE_VARIABLE, "a CSV or Parquet table of EIA-930 rows the simulator replays instead of its own"),
    ]


@hookimpl
def register_entities(stored: Mapping[str, frozenset[str]]) -> list[EntitySpec]:
    from energy_eia.entities import entities

    return entities(stored)
