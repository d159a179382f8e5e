"""The feature store's entities from EIA: one per balancing authority with EIA data stored, its EIA
series selected, its local time for the calendar features and its demand as the target."""

from __future__ import annotations

from collections.abc import Mapping

from energy_core.api import EntitySpec, Selector

TARGET = "eia.demand"
"""The feature a BA's model forecasts: hourly demand, as EIA-930 reports it."""
TIMEZONES = {
    "CISO": "America/Los_Angeles", "PACW": "America/Los_Angeles", "BPAT": "America/Los_Angeles",
    "LDWP": "America/Los_Angeles", "PGE": "America/Los_Angeles", "PSEI": "America/Los_Angeles",
    "NEVP": "America/Los_Angeles", "PACE": "America/Denver", "PSCO": "America/Denver", "AZPS": "America/Phoenix",
    "SRP": "America/Phoenix", "ERCO": "America/Chicago", "MISO": "America/Chicago", "SWPP": "America/Chicago",
    "SPA": "America/Chicago", "PJM": "America/New_York", "NYIS": "America/New_York", "ISNE": "America/New_York",
    "DUK": "America/New_York", "CPLE": "America/New_York", "SOCO": "America/Chicago", "TVA": "America/Chicago",
    "FPL": "America/New_York", "FPC": "America/New_York",
}
"""Each BA's local time (for its calendar features); a BA not listed gets :data:`DEFAULT_TIMEZONE`."""
DEFAULT_TIMEZONE = "America/Chicago"


def entities(stored: Mapping[str, frozenset[str]]) -> list[EntitySpec]:
    """An entity for every region stored in an ``eia.*`` dataset (BAs; a code with a dot is no BA)."""
    regions = set().union(*(stored[dataset] for dataset in stored if dataset.startswith("eia.")))
    return [EntitySpec(ba, (Selector("eia.", ba),), TIMEZONES.get(ba, DEFAULT_TIMEZONE), TARGET)
            for ba in sorted(regions) if "." not in ba]
