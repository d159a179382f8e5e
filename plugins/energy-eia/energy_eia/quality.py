"""Consistency checks across EIA-930's datasets: what one report says must agree with the other."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from energy_core.api import FLAG_SCHEMA, flag_detail

REGION = "eia.region"
FUEL = "eia.fuel"


@dataclass(frozen=True)
class EiaConsistency:
    """Generation by fuel should add up to net generation (``fuel_sum``); demand should be close to net
    generation minus total interchange, what a BA makes less what it sends out (``balance``)."""

    fuel_sum_tolerance: float = 0.05
    """Flag an hour whose fuels sum this far (a share of net generation, at least 1 MWh) from it."""
    balance_tolerance: float = 0.10
    """Flag an hour whose demand is this far (a share of demand) from net generation minus interchange."""

    def __call__(self, frames: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
        region = frames[REGION].pivot(on="series", index=["region", "ts"], values="value")
        fuels = frames[FUEL].group_by("region", "ts").agg(fuel_sum=pl.col("value").sum())
        flags = [pl.DataFrame(schema=FLAG_SCHEMA)]
        if "net_generation" in region.columns:
            both = region.join(fuels, on=["region", "ts"], how="inner")
            gap = (pl.col("fuel_sum") - pl.col("net_generation")).abs()
            allowed = pl.max_horizontal(self.fuel_sum_tolerance * pl.col("net_generation").abs(), pl.lit(1.0))
            flags.append(both.filter(gap > allowed)
                         .select("region", dataset=pl.lit(FUEL), series=pl.lit("net_generation"),
                                 check=pl.lit("fuel_sum"), start="ts", end="ts", hours=pl.lit(1),
                                 detail=flag_detail("generation by fuel sums to {}, net generation is {}",
                                                    "fuel_sum", "net_generation")))
        if {"demand", "net_generation", "interchange"} <= set(region.columns):
            implied = pl.col("net_generation") - pl.col("interchange")
            flags.append(region.filter((pl.col("demand") - implied).abs() > self.balance_tolerance * pl.col("demand"))
                         .select("region", dataset=pl.lit(REGION), series=pl.lit("demand"),
                                 check=pl.lit("balance"), start="ts", end="ts", hours=pl.lit(1),
                                 detail=flag_detail("demand {} against net generation minus interchange {}",
                                                    "demand", implied.round(1))))
        return pl.concat([f.select(FLAG_SCHEMA.keys()).cast(FLAG_SCHEMA) for f in flags])
