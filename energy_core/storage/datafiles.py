"""A month's rows as a Parquet data file of its Delta table, and the log actions that add or remove one.

The lake writes its data files itself (polars' Parquet writer takes about half the CPU of delta-rs's, and
needs no Arrow copy of the rows) and commits them through delta-rs. Each file's statistics, which readers
use to skip files, are read from the footer the writer wrote, as delta-rs reads them from its own.
"""

from __future__ import annotations

import io
import json
import math
import re
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from energy_core.storage.revisions import STORED_COLUMNS

if TYPE_CHECKING:
    import pyarrow.fs as pafs
    from deltalake import DeltaTable
    from deltalake.transaction import AddAction, RemoveAction

Month = tuple[int, int]


class DataFiles:
    """The data files one commit writes to a table, so that those of a commit that did not happen can be
    deleted again: in the local folder ``table_uri``, or, given ``object_store`` (its filesystem and the
    table's path there), on object storage."""

    def __init__(self, table_uri: str, object_store: tuple[pafs.FileSystem, str] | None = None) -> None:
        self.table_uri = table_uri
        self._object_store = object_store
        self._written: list[str] = []

    def add(self, month: Month, rows: pl.DataFrame) -> AddAction:
        """Write ``rows`` (the stored columns, all within ``month``) as a new file of the month's partition."""
        from deltalake.transaction import AddAction

        year, number = month
        relative = f"year={year}/month={number}/part-00000-{uuid.uuid4()}-c000.zstd.parquet"
        buffer = io.BytesIO()
        rows.select(STORED_COLUMNS).write_parquet(buffer, compression="zstd", compression_level=1)
        data = buffer.getvalue()
        self._put(relative, data)
        return AddAction(relative, len(data), {"year": str(year), "month": str(number)}, int(time.time() * 1000),
                         True, _statistics(data))

    def discard(self) -> None:
        """Delete the files written (best effort: one left behind is named by no commit, so never read)."""
        for relative in self._written:
            try:
                if self._object_store is None:
                    Path(self.table_uri, relative).unlink(missing_ok=True)
                else:
                    filesystem, root = self._object_store
                    filesystem.delete_file(f"{root}/{relative}")
            except Exception:  # the failure that brought us here is the one to report
                pass
        self._written = []

    def _put(self, relative: str, data: bytes) -> None:
        self._written.append(relative)
        if self._object_store is None:
            path = Path(self.table_uri, relative)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            return
        filesystem, root = self._object_store
        with filesystem.open_output_stream(f"{root}/{relative}") as out:
            out.write(data)


def arrow_filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """pyarrow's filesystem and path for a lake's URI, configured from the standard variables as delta-rs's
    is. pyarrow names S3 ``s3://`` only (delta-rs, and so a home, takes ``s3a://`` too); where pyarrow takes
    it (21 on), delayed opening sends a small file in one request, not a multipart upload of three."""
    import pyarrow as pa
    import pyarrow.fs as pafs

    uri = re.sub(r"^s3a://", "s3://", uri, flags=re.IGNORECASE)
    try:
        return pafs.FileSystem.from_uri(f"{uri}?allow_delayed_open=true")
    except pa.ArrowInvalid:  # pyarrow before 21 takes no such option in a URI
        return pafs.FileSystem.from_uri(uri)


def removals(table: DeltaTable, months: Iterable[Month]) -> list[RemoveAction]:
    """Remove actions for every file of ``months`` in the table's snapshot: the files a rewrite replaces. A
    writer that removed one of them first makes this commit fail, so it merges again."""
    import pyarrow as pa
    from deltalake.transaction import RemoveAction

    wanted = set(months)
    files = pa.table(table.get_add_actions(flatten=True)).select(
        ["path", "size_bytes", "partition.year", "partition.month"]).to_pylist()
    now = int(time.time() * 1000)
    return [RemoveAction(f["path"], True, now, f["size_bytes"],
                         {"year": str(f["partition.year"]), "month": str(f["partition.month"])})
            for f in files if (f["partition.year"], f["partition.month"]) in wanted]


def month_claim(dataset: str, month: Month) -> str:
    """The application id a commit writing ``month`` carries: two writers racing for a month (one that
    holds no file yet, too) cannot both commit it."""
    return f"energy.lake:{dataset}:{month[0]:04d}-{month[1]:02d}"


def _statistics(data: bytes) -> str:
    """The Delta statistics of a Parquet file (record count, per column its nulls, least and greatest value),
    from its footer. Timestamps are kept to the millisecond as the protocol has them, rounded outwards."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    footer = pq.read_metadata(pa.BufferReader(data))
    least: dict[str, object] = {}
    greatest: dict[str, object] = {}
    nulls: dict[str, int] = {}
    for column in range(footer.num_columns):
        name = footer.schema.column(column).name
        chunks = [footer.row_group(group).column(column).statistics for group in range(footer.num_row_groups)]
        nulls[name] = sum(chunk.null_count for chunk in chunks if chunk is not None)
        bounded = [chunk for chunk in chunks if chunk is not None and chunk.has_min_max]
        if bounded and len(bounded) == len(chunks):
            low, high = _bound(min(c.min for c in bounded), up=False), _bound(max(c.max for c in bounded), up=True)
            if low is not None and high is not None:
                least[name], greatest[name] = low, high
    return json.dumps({"numRecords": footer.num_rows, "minValues": least, "maxValues": greatest,
                       "nullCount": nulls})


def _bound(value: object, *, up: bool) -> object:
    """A statistic as the Delta log writes it; None where it has no JSON form (a NaN, an infinity)."""
    if isinstance(value, datetime):
        whole = value.replace(microsecond=value.microsecond // 1000 * 1000)
        if up and whole < value:
            whole += timedelta(milliseconds=1)
        return whole.strftime("%Y-%m-%dT%H:%M:%S.") + f"{whole.microsecond // 1000:03d}Z"
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


__all__ = ["DataFiles", "Month", "arrow_filesystem", "month_claim", "removals"]
