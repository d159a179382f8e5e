"""SQL over the stores with DuckDB: every processed dataset and every built entity is a view.

Views (read through Arrow from the lake's Delta tables, nothing is loaded first):

- ``observations``: every stored value, the latest known (or as known at ``as_of``); one view per
  dataset with dots as underscores (``eia_region``, ``caiso_load_forecast``, ``weather_hourly``, ...);
- ``revisions``: every value each key has had, with ``retrieved_at`` (known from) and
  ``superseded_at`` (known until; null for the latest);
- ``features_<entity>`` (``features_PACW``): the fused hourly table, one column per feature, null
  where unobserved (from the feature store's Parquet export);
- ``quality_flags``, once ``energy quality`` has run.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq

from energy_core.errors import ConfigError
from energy_core.home import Home
from energy_core.storage.lake import Lake
from energy_core.storage.revisions import STORED_COLUMNS
from energy_core.storage.schema import COLUMNS


def connect(home: Home | Path, *, as_of: datetime | None = None) -> tuple[duckdb.DuckDBPyConnection, list[str]]:
    """An in-memory DuckDB with the views above; returns it and the view names."""
    con = duckdb.connect()
    views = []
    home = Home.of(home)
    store = Lake(home)
    columns = ", ".join(_identifier(c) for c in COLUMNS)
    stored = ", ".join(_identifier(c) for c in STORED_COLUMNS)
    known = "superseded_at IS NULL" if as_of is None else \
        f"retrieved_at <= '{as_of.isoformat()}' AND (superseded_at IS NULL OR superseded_at > '{as_of.isoformat()}')"
    tables: list[str] = []
    for dataset in store.datasets():
        table = store.table(dataset)
        if table is None:
            continue
        name = f"_table_{len(tables)}"
        con.register(name, table.to_pyarrow_dataset())
        tables.append(f"SELECT {stored} FROM {name}")
        views.append(_view(con, dataset.replace(".", "_"), f"SELECT {columns} FROM {name} WHERE {known}"))
    if tables:
        views.insert(0, _view(con, "revisions", " UNION ALL ".join(tables)))
        views.insert(0, _view(con, "observations", f"SELECT {columns} FROM revisions WHERE {known}"))
    for export in sorted(home.feature_exports.glob("*.parquet")):
        views.append(_view(con, f"features_{re.sub(r'[^A-Za-z0-9_]', '_', export.stem)}", _wide(export)))
    if home.quality_flags.exists():
        views.append(_view(con, "quality_flags", f"SELECT * FROM read_parquet({_quote(str(home.quality_flags))})"))
    return con, views


def query(home: Home | Path, sql: str, *, as_of: datetime | None = None) -> pl.DataFrame:
    """The result of ``sql`` over the views; ``as_of`` shows the data as it was known then."""
    con, views = connect(home, as_of=as_of)
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
