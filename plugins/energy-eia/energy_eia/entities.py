"""The feature store's entities from EIA: one per respondent with EIA data stored, its EIA series
selected, its local time and states for the calendar features and its demand as the target."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from energy_core.api import EntitySpec, Selector
from energy_eia.api import RESPONDENTS

logger = logging.getLogger(__name__)

TARGET = "eia.demand"
"""The feature a BA's model forecasts: hourly demand, as EIA-930 reports it."""

STATES: dict[str, tuple[str, ...]] = {
    "CISO": ("CA",),
    "ERCO": ("TX",),
    "ISNE": ("CT", "MA", "ME", "NH", "RI", "VT"),
    "MISO": ("AR", "IA", "IL", "IN", "KY", "LA", "MI", "MN", "MO", "MS", "MT", "ND", "SD", "TX", "WI"),
    "NYIS": ("NY",),
    "PACE": ("UT", "WY", "ID"),
    "PACW": ("OR", "WA", "CA"),
    "PJM": ("DC", "DE", "IL", "IN", "KY", "MD", "MI", "NC", "NJ", "OH", "PA", "TN", "VA", "WV"),
    "SWPP": ("AR", "IA", "KS", "LA", "MN", "MO", "MT", "ND", "NE", "NM", "OK", "SD", "TX", "WY"),
    "BPAT": ("WA", "OR", "ID", "MT"),
    "SOCO": ("GA", "AL", "MS"),
    "TVA": ("TN", "AL", "MS", "KY"),
    "FPL": ("FL",),
    "DUK": ("NC", "SC"),
    "AZPS": ("AZ",),
    "PGE": ("OR",),
    "PSCO": ("CO",),
}
"""Balancing authority -> the US states (postal codes) its load lies in, whose holidays its calendar
keeps (the RTOs' member states, from their published footprints; a state only partly served counts
whole). A respondent not listed gets the federal holidays."""


def entities(stored: Mapping[str, frozenset[str]]) -> list[EntitySpec]:
    """An entity for every respondent stored in an ``eia.*`` dataset (a code with a dot is no
    respondent), in its time zone. A stored code whose time zone is not known (one no longer in the
    reference list, say) defines no entity: its calendar would be a guess. The warning says how to
    define it with its time zone instead."""
    regions = set().union(*(stored[dataset] for dataset in stored if dataset.startswith("eia.")))
    codes = sorted(region for region in regions if "." not in region)
    unknown = [code for code in codes if code not in RESPONDENTS]
    if unknown:
        logger.warning("eia: no time zone known for %s, so no entity is defined for %s (its calendar would be a "
                       "guess); unless entities.toml defines it, add e.g. [%s] with timezone = \"<IANA name>\", "
                       "target = \"%s\" and selectors = [{dataset = \"eia.\", region = \"%s\"}]",
                       ", ".join(unknown), "it" if len(unknown) == 1 else "them", unknown[0], TARGET, unknown[0])
    return [EntitySpec(code, (Selector("eia.", code),), RESPONDENTS[code], TARGET, STATES.get(code, ()))
            for code in codes if code in RESPONDENTS]
