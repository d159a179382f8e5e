"""Read the processed store with polars: daily peak demand and the monthly generation mix.

Usage: python examples/02_read_store.py [HOME]   (after 01_run_pipeline.py)
"""

import polars as pl
from _home import home

from energy_core import Lake

store = Lake(home())

daily_peak = (store.scan("eia.region")
              .filter(pl.col("region") == "PACW", pl.col("series") == "demand")
              .group_by(day=pl.col("ts").dt.convert_time_zone("America/Los_Angeles").dt.date())
              .agg(peak_mwh=pl.col("value").max())
              .sort("day")
              .collect())
print("daily peak demand, PACW (Pacific days):")
print(daily_peak.head(7))

mix = (store.scan("eia.fuel")
       .filter(pl.col("region") == "PACW")
       .group_by(month=pl.col("ts").dt.strftime("%Y-%m"), fuel=pl.col("series").str.strip_prefix("gen."))
       .agg(mwh=pl.col("value").sum())
       .with_columns(share=(pl.col("mwh") / pl.col("mwh").sum().over("month") * 100).round(1))
       .sort("month", "share", descending=[False, True])
       .collect())
print("generation mix (% of the month):")
print(mix.pivot(on="month", index="fuel", values="share"))
