"""``--region``: a region that no source of the run knows is refused before any request and before
anything is stored, with the closest codes; each source fetches only the regions it knows."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from energy_core.errors import ConfigError
from energy_core.ingest.config import RunConfig
from energy_core.ingest.regions import region_shares
from energy_core.ingest.runner import plan, run
from energy_eia.simulator import EiaSimulator
from tests.processes import energy

START, END = datetime(2023, 1, 1, tzinfo=UTC), datetime(2023, 1, 2, tzinfo=UTC)


def test_an_unknown_region_is_refused_with_the_closest_codes_before_any_request(tmp_path):
    home = tmp_path / "home"
    with EiaSimulator() as sim:
        with pytest.raises(ConfigError, match=r"^eia: unknown region 'PACX' \(did you mean PACW, PACE\?\)\. eia "
                                              r"knows AEC, .*PACW.*US48.*Nothing was fetched or stored\.$"):
            run(RunConfig(("eia",), START, END, home=home, regions=("PACX",), env=sim.env()))
        with pytest.raises(ConfigError, match="unknown region 'PACX'"):
            plan(RunConfig(("eia",), START, END, home=home, regions=("PACX",), env=sim.env()))
        assert sim.requests == []
    assert not home.exists(), "nothing was stored, not even an empty catalog"


def test_the_command_refuses_a_typo_and_stores_nothing(tmp_path):
    result = energy("run", "--source", "eia", "--simulate", "--region", "PACW", "--region", "PACX", "--start",
                    "2024-01-01", "--end", "2024-01-01", home=tmp_path / "home")
    assert result.returncode == 1
    assert "eia: unknown region 'PACX' (did you mean PACW, PACE?)" in result.stderr
    assert not (tmp_path / "home").exists()


def test_each_source_fetches_the_regions_it_knows(tmp_path):
    plans = plan(RunConfig(("eia", "caiso", "weather"), START, END, home=tmp_path,
                           regions=("pacw", "LGEE", "ciso"), datasets=("eia.region", "caiso.load", "weather.hourly"),
                           env={}))
    asked = {p.source: [w.window.regions for w in p.windows] for p in plans}
    assert asked["eia"] == [("PACW", "LGEE", "CISO")]  # in the source's spelling
    assert asked["weather"] == [("PACW", "CISO")]  # LGEE has no weather points: EIA alone fetches it
    assert asked["caiso"] == [()]  # CISO is CAISO's: its reports cover the whole system


def test_a_source_that_knows_none_of_the_regions_fetches_nothing_and_says_so(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="energy_core.ingest.regions"):
        plans = plan(RunConfig(("eia", "caiso"), START, END, home=tmp_path, regions=("PACW",),
                               datasets=("eia.region", "caiso.load"), env={}))
    assert {p.source: len(p.windows) for p in plans} == {"eia": 1, "caiso": 0}
    assert "caiso: none of the regions asked for (PACW) is one of its own" in caplog.text


def test_several_sources_refuse_only_a_region_none_of_them_knows_and_say_whose_codes_are_close():
    known = {"eia": {"PACW", "PACE", "CISO"}, "caiso": {"CISO", "CAISO.HUB.NP15"}}
    assert region_shares(("PACW", "CAISO.HUB.NP15"), known) == {"eia": ("PACW",), "caiso": ("CAISO.HUB.NP15",)}
    with pytest.raises(ConfigError) as refused:
        region_shares(("PACX", "CISO", "ZZZZZZ"), known)
    message = str(refused.value)
    assert message.startswith("no source of this run (eia, caiso) knows regions 'PACX' (did you mean eia's PACW, "
                              "PACE?), 'ZZZZZZ'. Each source fetches the regions it knows")
    assert "eia knows CISO, PACE, PACW; caiso knows CAISO.HUB.NP15, CISO" in message


def test_a_source_that_cannot_tell_accepts_any_region():
    assert region_shares(("XYZ",), {"mine": None, "eia": {"PACW"}}) == {"mine": ("XYZ",), "eia": ()}
    assert region_shares((), {"eia": {"PACW"}}) == {"eia": ()}
