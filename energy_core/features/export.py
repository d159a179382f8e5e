"""The Parquet export of each built entity (``<home>/features/exports/<entity>.parquet``): the LanceDB
table sorted by hour, in 8,760-row groups, with the build record in its metadata."""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from energy_core.errors import ConfigError, StorageError
from energy_core.features.records import BuildInfo

ROW_GROUP = 8760
"""Hours per row group: a year, so reading the latest hours touches only the last groups."""


def write(rows: pa.Table, info: BuildInfo, folder: Path) -> Path:
    """Replace ``<folder>/<entity>.parquet`` atomically with ``rows`` (a feature table) and ``info``."""
    table = rows.sort_by("ts").replace_schema_metadata({"energy.build": json.dumps(asdict(info))})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{info.entity}.parquet"
    tmp = folder / f".tmp-{uuid.uuid4().hex}.parquet"
    try:
        pq.write_table(table, tmp, row_group_size=ROW_GROUP, compression="zstd")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"could not export features for {info.entity}: {exc}") from exc
    return path


def tail(path: Path, rows: int) -> pa.Table:
    """Read row groups from the end of the export at ``path`` until they hold ``rows`` rows."""
    if not path.exists():
        raise ConfigError(f"no Parquet export at {path}; build the features first")
    reader = pq.ParquetFile(path)
    groups: list[int] = []
    count = 0
    for g in range(reader.num_row_groups - 1, -1, -1):
        groups.insert(0, g)
        count += reader.metadata.row_group(g).num_rows
        if count >= rows:
            break
    return pa.concat_tables([reader.read_row_group(g) for g in groups])
