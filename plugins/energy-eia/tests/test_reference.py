"""The EIA-930 respondents: each has a real time zone, the simulator serves exactly them, and an entity
is defined only where the time zone is known."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from energy_core.api import Selector, Window
from energy_eia import synthetic
from energy_eia.api import BALANCING_AUTHORITIES, REGIONS, RESPONDENTS
from energy_eia.entities import TARGET, entities
from energy_eia.source import EiaSource

DAY = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))


@pytest.mark.parametrize("code", sorted(RESPONDENTS))
def test_every_respondent_has_an_iana_time_zone(code):
    assert ZoneInfo(RESPONDENTS[code]).key == RESPONDENTS[code]


def test_the_reference_holds_the_balancing_authorities_and_the_regions_eia_sums_them_into():
    assert len(BALANCING_AUTHORITIES) == 67 and len(REGIONS) == 14 and not set(BALANCING_AUTHORITIES) & set(REGIONS)
    assert {"PACW", "CISO", "ERCO", "MISO", "AEC", "SIKE", "US48", "CAL"} <= set(EiaSource.known_regions({}))
    assert tuple(BALANCING_AUTHORITIES) == synthetic.BALANCING_AUTHORITIES  # what the simulator serves by default
    assert (RESPONDENTS["AZPS"], RESPONDENTS["PACE"], RESPONDENTS["ISNE"]) == (
        "America/Phoenix", "America/Denver", "America/New_York")


def test_the_simulator_answers_a_code_eia_does_not_have_with_no_rows_as_eia_does(sim, make_source):
    (batch,) = make_source(sim).fetch(Window("eia", "eia.region", *DAY, ("PACW", "PACX")))
    assert set(batch.rows["respondent"].unique()) == {"PACW"}
    (nothing,) = make_source(sim).fetch(Window("eia", "eia.region", *DAY, ("PACX",)))
    assert nothing.rows.height == 0


def test_an_entity_per_stored_respondent_in_its_time_zone_and_none_for_a_code_without_one(caplog):
    stored = {"eia.region": frozenset({"PACW", "US48", "OVEC"}), "eia.fuel": frozenset({"AZPS"}),
              "weather.hourly": frozenset({"PACW.portland"})}
    with caplog.at_level(logging.WARNING, logger="energy_eia.entities"):
        specs = entities(stored)
    assert {(s.name, s.timezone) for s in specs} == {
        ("AZPS", "America/Phoenix"), ("PACW", "America/Los_Angeles"), ("US48", "America/New_York")}
    assert all(s.target == TARGET and s.selectors == (Selector("eia.", s.name),) for s in specs)
    assert "no time zone known for OVEC" in caplog.text and "timezone = " in caplog.text
