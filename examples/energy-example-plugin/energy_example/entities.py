"""What the feature store builds from the example's data: an entity per zone with data stored, named
``<zone>_carbon`` (so it never clashes with another plugin's entity of the zone, e.g. EIA's ``PACW``),
whose model forecasts the observed carbon intensity."""

from __future__ import annotations

from collections.abc import Mapping

from energy_core.api import EntitySpec, Selector

DATASET = "example.intensity"
TARGET = "example.carbon_intensity"
"""Features are named ``<source>.<series>``: the observed intensity."""
TIMEZONES = {"PACW": "America/Los_Angeles", "CISO": "America/Los_Angeles", "ERCO": "America/Chicago"}
"""Each zone's local time, for the calendar features (hour of day, weekday, holidays)."""


def entities(stored: Mapping[str, frozenset[str]]) -> list[EntitySpec]:
    """An entity per stored zone whose time zone is known: for another one the calendar would be a
    guess, so it has none (the user may define it in ``entities.toml`` with its timezone)."""
    return [EntitySpec(f"{zone}_carbon", (Selector(DATASET, zone),), TIMEZONES[zone], TARGET)
            for zone in sorted(stored.get(DATASET, ())) if zone in TIMEZONES]
