"""What plugins contribute besides components: quality checks, plot panels and the settings they read."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from energy_core.api import PanelStyle, PlotPanel, QualityCheck, Setting, flag_detail, hookimpl
from energy_core.errors import PluginError
from energy_core.ops.plot import plot_entity
from energy_core.ops.quality import check
from energy_core.plugin.manager import get_plugin_manager
from energy_core.plugin.registry import declared_settings, plot_panels, quality_checks
from energy_core.storage.lake import Lake
from energy_core.storage.schema import COLUMNS, POLARS_SCHEMA
from tests.processes import energy
from tests.test_plugins import install_plugin

START = datetime(2024, 1, 1, tzinfo=UTC)


def rows(dataset: str, values: list[float]) -> pl.DataFrame:
    return pl.DataFrame({
        "ts": [START + timedelta(hours=h) for h in range(len(values))], "source": "meter", "dataset": dataset,
        "region": "ZONE1", "series": "load", "value": values, "unit": "MWh", "retrieved_at": START,
    }, schema=POLARS_SCHEMA).select(COLUMNS)


def main_above_backup(frames: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """Flags each hour where the main meter reads more than the backup meter."""
    both = frames["meter.main"].join(frames["meter.backup"], on=["region", "series", "ts"], suffix="_backup")
    return (both.filter(pl.col("value") > pl.col("value_backup"))
            .select("region", "series", dataset=pl.lit("meter.main"), check=pl.lit("meters_disagree"), start="ts",
                    end="ts", hours=pl.lit(1), detail=flag_detail("main {} > backup {}", "value", "value_backup")))


class MeterPlugin:
    @hookimpl
    def register_quality_checks(self) -> list[QualityCheck]:
        return [QualityCheck("meters", ("meter.main", "meter.backup"), main_above_backup)]

    @hookimpl
    def register_plot_panels(self) -> list[PlotPanel]:
        return [PlotPanel("meter.temperature.", "degC", max_columns=2), PlotPanel("meter.nothing.", "kW")]

    @hookimpl
    def register_settings(self) -> list[Setting]:
        return [Setting("METER_PASSPHRASE", "the meter portal's passphrase", secret=True)]


def test_a_plugins_quality_check_runs_when_its_datasets_are_checked(tmp_path):
    store = Lake(tmp_path)
    store.upsert(pl.concat([rows("meter.main", [10, 11, 50, 12]), rows("meter.backup", [10, 11, 12, 12])]))
    checks = quality_checks(get_plugin_manager(extra=(MeterPlugin(),)))

    flags = check(tmp_path, checks=checks)
    disagree = flags.filter(check="meters_disagree")
    assert disagree["start"].to_list() == [START + timedelta(hours=2)]
    assert disagree.row(0, named=True)["detail"] == "main 50.0 > backup 12.0"
    assert check(tmp_path, datasets=("meter.main",), checks=checks).filter(check="meters_disagree").height == 0


def test_a_check_that_returns_no_flags_table_is_refused_naming_it(tmp_path):
    Lake(tmp_path).upsert(rows("meter.main", [1.0]))
    broken = QualityCheck("half_done", ("meter.main",), lambda frames: frames["meter.main"])
    with pytest.raises(PluginError, match="quality check 'half_done' returned flags without .*'check'"):
        check(tmp_path, checks=[broken])


def test_the_eia_consistency_check_comes_from_the_eia_plugin():
    assert "eia_consistency" in {c.name for c in quality_checks(get_plugin_manager())}
    assert "eia_consistency" not in {c.name for c in quality_checks(get_plugin_manager(disable={"eia"}))}


def png_height(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[20:24], "big")


def test_a_plugins_plot_panel_is_drawn_when_the_entity_has_its_columns(tmp_path):
    hours = 48
    frame = pl.DataFrame({
        "ts": [START + timedelta(hours=h) for h in range(hours)], "meter.load": [float(h) for h in range(hours)],
        **{f"meter.temperature.{i}": [float(i)] * hours for i in range(3)},
    })
    panels = plot_panels(get_plugin_manager(extra=(MeterPlugin(),)))
    alone = png_height(plot_entity(frame, "ZONE1", "meter.load", tmp_path / "alone.png"))
    with_panel = png_height(plot_entity(frame, "ZONE1", "meter.load", tmp_path / "panel.png", panels))
    assert with_panel == 2 * alone  # the target's panel and the temperature panel; no "meter.nothing." columns


def test_stacked_panels_draw_columns_with_gaps(tmp_path):
    frame = pl.DataFrame({"ts": [START + timedelta(hours=h) for h in range(3)], "load": [1.0, None, 3.0],
                          "gen.b": [1.0, 2.0, None], "gen.a": [2.0, 2.0, 2.0]})
    stacked = PlotPanel("gen.", "MWh", PanelStyle.STACKED, short_labels=True)
    path = plot_entity(frame, "ZONE1", "load", tmp_path / "stacked.png", [stacked])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_declared_settings_come_from_every_plugin():
    declared = {s.variable: s for s in declared_settings(get_plugin_manager(extra=(MeterPlugin(),)))}
    assert declared["METER_PASSPHRASE"].secret and declared["EIA_API_KEY"].secret
    assert not declared["ENERGY_WEATHER_POINTS"].secret and "ENERGY_CAISO_URL" in declared


VAULT_PLUGIN = """
    from energy_core.api import Setting, hookimpl

    @hookimpl
    def register_settings():
        return [Setting("VAULT_PASSPHRASE", "unlocks the vault", secret=True),
                Setting("VAULT_REGION", "which vault to open")]
"""


def test_config_show_lists_every_declared_setting_and_masks_declared_secrets(tmp_path):
    install_plugin(tmp_path, "vaultplug", VAULT_PLUGIN)
    result = energy("config", "show", cwd=tmp_path, env={"PYTHONPATH": str(tmp_path),
                                                         "VAULT_PASSPHRASE": "open-sesame-1234"})
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["environment"]["VAULT_PASSPHRASE"] == "***" and "open-sesame-1234" not in result.stdout
    assert shown["environment"]["VAULT_REGION"] is None and shown["environment"]["EIA_API_KEY"] is None
    assert shown["settings"]["VAULT_PASSPHRASE"] == {"description": "unlocks the vault", "secret": True}


def test_a_secret_in_energy_toml_is_refused_naming_a_declared_secret(tmp_path):
    install_plugin(tmp_path, "vaultplug", VAULT_PLUGIN)
    (tmp_path / "energy.toml").write_text('[run]\npassphrase_secret = "abc"\n')
    others = "eia,mlflow,wandb,prefect"  # the workspace's plugins that declare secrets of their own
    env = {"PYTHONPATH": str(tmp_path), "ENERGY_DISABLE_PLUGINS": others}
    refused = energy("plugins", cwd=tmp_path, env=env)
    assert refused.returncode == 1 and "(e.g. VAULT_PASSPHRASE)" in refused.stderr, refused.stderr
    generic = energy("plugins", cwd=tmp_path, env={"ENERGY_DISABLE_PLUGINS": f"{others},example"})
    assert generic.returncode == 1 and "looks like a secret" in generic.stderr and "EIA" not in generic.stderr
