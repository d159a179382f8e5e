"""Run the pipeline from Python: EIA-930 and weather for PACW, January to March 2024.

``simulate=True`` starts each source's simulator on 127.0.0.1, so this needs no network and no key;
drop it (and export EIA_API_KEY) to fetch the real APIs. Re-running fetches nothing: the run is
incremental. Usage: python examples/01_run_pipeline.py [HOME]
"""

from datetime import UTC, datetime

from _home import home

from energy_core import RunConfig, run
from energy_core.features import FeatureStore, Splits

config = RunConfig(sources=("eia", "weather"), regions=("PACW",), start=datetime(2024, 1, 1, tzinfo=UTC),
                   end=datetime(2024, 4, 1, tzinfo=UTC), home=home(), simulate=True)
report = run(config)
for window in report.failed:
    print("failed:", window.window, window.error)
print(f"{len(report.windows)} windows fetched, {report.skipped_stored} already stored, "
      f"{report.rows_stored} rows new or changed")
for (dataset, region), rows in sorted(report.rows.items()):
    print(f"  {dataset:16} {region:28} {rows:>8,} rows")

# Fuse onto the hourly grid; validate on March 1-14, test from March 15.
for info in FeatureStore(config.home).build(["PACW"], splits=Splits(datetime(2024, 3, 1, tzinfo=UTC),
                                                                    datetime(2024, 3, 15, tzinfo=UTC))):
    print(f"features {info.entity}: {info.rows} hours x {len(info.features)} features (build {info.build})")
