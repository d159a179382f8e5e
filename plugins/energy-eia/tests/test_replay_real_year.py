"""The real 2019 EIA-930 year, replayed through the simulator and the real client into the store."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from energy_core.ingest.retry import RetryPolicy
from energy_core.ingest.runner import RunConfig, run
from energy_core.storage.lake import Lake
from tests.recorded import recorded


def test_replayed_real_data_lands_shifted_to_interval_start(tmp_path, monkeypatch):
    path = recorded("eia930_2019/eia930_2019_6ba.parquet")
    monkeypatch.setenv("ENERGY_EIA_SIMULATOR_TABLE", str(path))
    config = RunConfig(sources=("eia",), start=datetime(2019, 3, 1, tzinfo=UTC), end=datetime(2019, 4, 1, tzinfo=UTC),
                       home=tmp_path, regions=("PACW", "ERCO"), simulate=True, retry=RetryPolicy(backoff_base=0.01))
    report = run(config)
    assert report.ok, report.failed
    stored = Lake(tmp_path).scan("eia.region").collect()
    original = (pl.read_parquet(path)
                .filter(pl.col("data_type") == "demand", pl.col("region").is_in(["PACW", "ERCO"]))
                .select(region="region", ts=pl.col("timestamp").dt.replace_time_zone("UTC") - pl.duration(hours=1),
                        expected="value")
                .filter(pl.col("ts").is_between(config.start, config.end, closed="left")))
    joined = stored.filter(series="demand").join(original, on=["region", "ts"], how="full", coalesce=True)
    assert joined.height == original.height > 1400
    assert (joined["value"] == joined["expected"]).all()
    fuels = Lake(tmp_path).scan("eia.fuel").collect()
    assert {"gen.coal", "gen.gas", "gen.wind", "gen.solar", "gen.hydro"} <= set(fuels["series"])
