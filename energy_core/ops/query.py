"""SQL over the stores with DuckDB: every processed dataset and every built entity is a view.

Views (read straight from the Parquet files, nothing is loaded first):

- ``observations``: every stored row; one view per dataset with dots as underscores
  (``eia_region``, ``caiso_load_forecast``, ``weather_hourly``, ...);
- ``features_<entity>`` (``features_PACW``): the fused hourly table, one column per feature, null
  where unobserved (from the feature store's Parquet export);
- ``quality_flags``, once ``energy quality`` has run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq

from energy_core.errors import ConfigError
from energy_core.home import Home
from energy_core.storage.parquet import ParquetStore


def connect(home: Home | Path) -> tuple[duckdb.DuckDBPyConnection, list[str]]:
    """An in-memory DuckDB with the views above; returns it and the view names."""
    con = duckdb.connect()
    views = []
    home = Home.of(home)
    store = ParquetStore(home.processed)
    datasets = [d for d in store.datasets() if store.files(d)]
    if datasets:
        files = ", ".join(_quote(str(store.pattern(d))) for d in datasets)
        views.append(_view(con, "observations", f"SELECT * FROM read_parquet([{files}], hive_partitioning = false)"))
    for dataset in datasets:
        pattern = _quote(str(store.pattern(dataset)))
        views.append(_view(con, dataset.replace(".", "_"),
                           f"SELECT * FROM read_parquet({pattern}, hive_partitioning = false)"))
    for export in sorted(home.feature_exports.glob("*.parquet")):
        views.append(_view(con, f"features_{re.sub(r'[^A-Za-z0-9_]', '_', export.stem)}", _wide(export)))
    if home.quality_flags.exists():
        views.append(_view(con, "quality_flags", f"SELECT * FROM read_parquet({_quote(str(home.quality_flags))})"))
    return con, views


def query(home: Home | Path, sql: str) -> pl.DataFrame:
    con, views = connect(home)
    try:
        relation = con.sql(sql)
        return pl.DataFrame() if relation is None else pl.DataFrame(relation.to_arrow_table())
    except duckdb.Error as exc:
        raise ConfigError(f"query failed: {exc}\nviews: {', '.join(views) or 'none (the store is empty)'}") from None
    finally:
        con.close()


def _wide(export: Path) -> str:
    """One column per feature (named as in the build record), null where the mask says unobserved."""
    build = json.loads(pq.read_schema(export).metadata[b"energy.build"])
    columns = ", ".join(f"CASE WHEN mask[{i}] = 1 THEN values[{i}] END AS {_identifier(name)}"
                        for i, name in enumerate(build["features"], start=1))
    return f"SELECT ts, {columns} FROM read_parquet({_quote(str(export))})"


def _view(con: duckdb.DuckDBPyConnection, name: str, select: str) -> str:
    con.execute(f"CREATE VIEW {_identifier(name)} AS {select}")
    return name


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
