"""Entities come from plugins (``register_entities``): specs of one name merge, a conflict names both
plugins, an entity only extended is no entity, and the user's configuration goes over them."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from energy_core.api import EntitySpec, Selector, hookimpl
from energy_core.errors import ConfigError, PluginError
from energy_core.features.entities import Entity, resolve, touched
from energy_core.plugin.manager import get_plugin_manager
from energy_core.plugin.registry import entities, merge_entities
from tests.processes import energy

LA = "America/Los_Angeles"
STORED = {"eia.region": frozenset({"CISO", "PACW"}), "weather.hourly": frozenset({"PACW", "PACW.portland"}),
          "caiso.lmp": frozenset({"CAISO.HUB.NP15"})}


def test_an_extension_adds_its_selectors_after_the_definition():
    merged = merge_entities([
        ("weather", EntitySpec("PACW", (Selector("weather.hourly", "PACW"),))),
        ("eia", EntitySpec("PACW", (Selector("eia.", "PACW"),), LA, "eia.demand")),
        ("other", EntitySpec("PACW", (Selector("eia.", "PACW"),))),  # a repeat adds nothing
    ])
    assert merged == {"PACW": EntitySpec("PACW", (Selector("eia.", "PACW"), Selector("weather.hourly", "PACW")),
                                         LA, "eia.demand")}


def test_an_entity_nobody_defines_is_not_an_entity():
    assert merge_entities([("weather", EntitySpec("PACW", (Selector("weather.hourly", "PACW"),)))]) == {}


def test_two_plugins_may_define_one_entity_alike_but_not_differently():
    alike = merge_entities([("a", EntitySpec("X", (Selector("a.", "X"),), LA, "a.load")),
                            ("b", EntitySpec("X", (Selector("b.", "X"),), LA, "a.load"))])
    assert alike["X"].selectors == (Selector("a.", "X"), Selector("b.", "X"))
    with pytest.raises(PluginError, match=r"entity 'X' differently: plugin 'a' .*and plugin 'b'"):
        merge_entities([("a", EntitySpec("X", (), LA, "a.load")), ("b", EntitySpec("X", (), "UTC", "a.load"))])


def test_a_spec_defines_with_timezone_and_target_or_extends_with_neither():
    with pytest.raises(PluginError, match="both timezone and target"):
        EntitySpec("X", (), timezone=LA)


class Alpha:
    @hookimpl
    def register_entities(self, stored: Mapping[str, frozenset[str]]) -> list[EntitySpec]:
        return [EntitySpec(region, (Selector("alpha.load", region),), "UTC", "alpha.load")
                for region in stored.get("alpha.load", ())]


class Beta:
    @hookimpl
    def register_entities(self) -> list[EntitySpec]:
        return [EntitySpec("A1", (), "Europe/Paris", "beta.price"), EntitySpec("A2", (Selector("beta.", "A2"),))]


def test_the_registry_collects_every_plugin_and_names_both_in_a_conflict():
    pm = get_plugin_manager(disable={"eia", "caiso", "weather", "example"})
    pm.register(Alpha(), name="alpha")
    assert entities(pm, {"alpha.load": frozenset({"A2"})}) == {
        "A2": EntitySpec("A2", (Selector("alpha.load", "A2"),), "UTC", "alpha.load")}
    pm.register(Beta(), name="beta")
    assert entities(pm, {"alpha.load": frozenset({"A2"})})["A2"].selectors == (
        Selector("alpha.load", "A2"), Selector("beta.", "A2"))
    with pytest.raises(PluginError, match="plugin 'alpha' .*plugin 'beta'"):
        entities(pm, {"alpha.load": frozenset({"A1"})})


def test_the_built_in_plugins_give_each_ba_its_eia_series_weather_and_for_ciso_the_caiso_markets():
    defined = entities(get_plugin_manager(disable={"example"}), STORED)
    assert sorted(defined) == ["CISO", "PACW"]  # PACW.portland is a weather point, CAISO.HUB.NP15 a price node
    assert set(defined["PACW"].selectors) == {Selector("eia.", "PACW"), Selector("weather.hourly", "PACW")}
    assert set(defined["CISO"].selectors) == {
        Selector("eia.", "CISO"), Selector("caiso.", "CISO"), Selector("caiso.lmp", "CAISO.HUB.NP15", "np15"),
        Selector("caiso.lmp", "CAISO.HUB.SP15", "sp15"), Selector("caiso.lmp", "CAISO.HUB.ZP26", "zp26")}
    assert (defined["CISO"].timezone, defined["CISO"].target) == (LA, "eia.demand")


def test_configured_entities_replace_selectors_and_inherit_what_they_leave_out():
    plugins = {"PACW": EntitySpec("PACW", (Selector("eia.", "PACW"), Selector("weather.hourly", "PACW")), LA,
                                  "eia.demand")}
    resolved = resolve(plugins, {
        "PACW": {"selectors": [{"dataset": "eia.region", "region": "PACW"}]},
        "PACW_NO_WEATHER": {"selectors": [{"dataset": "eia.", "region": "PACW"}]},
        "MINE": {"timezone": "Europe/Paris", "target": "x.load", "selectors": [{"dataset": "x.", "region": "M"}]},
    })
    assert resolved["PACW"] == Entity("PACW", LA, (Selector("eia.region", "PACW"),), "eia.demand")
    assert resolved["PACW_NO_WEATHER"] == Entity("PACW_NO_WEATHER", LA, (Selector("eia.", "PACW"),), "eia.demand")
    assert resolved["MINE"].timezone == "Europe/Paris"
    with pytest.raises(ConfigError, match="'ORPHAN' needs a target"):
        resolve({}, {"ORPHAN": {"selectors": [{"dataset": "x.", "region": "O"}]}})
    with pytest.raises(ConfigError, match="'BAD' needs selectors"):
        resolve({}, {"BAD": {"target": "x.load"}})


def test_an_entity_without_a_time_zone_is_refused_not_guessed():
    with pytest.raises(ConfigError, match=r"entity 'MINE' needs a timezone .*IANA name"):
        resolve({}, {"MINE": {"target": "x.load", "selectors": [{"dataset": "x.", "region": "M"}]}})
    with pytest.raises(ConfigError, match=r"entity 'MINE' has timezone = 'Europe/Pariss', which is no IANA"):
        resolve({}, {"MINE": {"timezone": "Europe/Pariss", "target": "x.load",
                              "selectors": [{"dataset": "x.", "region": "M"}]}})
    with pytest.raises(PluginError, match=r"entity spec 'X': timezone 'Central' is no IANA time zone name"):
        EntitySpec("X", (), "Central", "x.load")


def test_a_run_touches_the_entities_that_select_what_it_stored():
    defined = {"PACW": Entity("PACW", LA, (Selector("eia.", "PACW"), Selector("weather.hourly", "PACW")), "eia.demand"),
               "CISO": Entity("CISO", LA, (Selector("caiso.lmp", "CAISO.HUB.SP15", "sp15"),), "eia.demand")}
    assert touched(defined, [("weather.hourly", "PACW")]) == ["PACW"]
    assert touched(defined, [("caiso.lmp", "CAISO.HUB.SP15"), ("eia.fuel", "PACW")]) == ["PACW", "CISO"]
    assert touched(defined, [("weather.hourly", "PACW.portland"), ("eia.region", "ERCO")]) == []


def test_a_run_whose_data_no_entity_selects_stores_it_and_builds_nothing(tmp_path):
    result = energy("run", "--source", "weather", "--simulate", "--region", "PACW", "--start", "2024-01-01",
                    "--end", "2024-01-02", home=tmp_path)  # weather extends PACW, which only EIA data defines
    assert result.returncode == 0, result.stderr
    assert "weather.hourly" in result.stdout and "features:" not in result.stdout
    again = energy("run", "--source", "weather", "--simulate", "--region", "PACW", "--start", "2024-01-01",
                   "--end", "2024-01-02", home=tmp_path)  # stores nothing new: still nothing to build
    assert again.returncode == 0, again.stderr
    assert "features:" not in again.stdout
