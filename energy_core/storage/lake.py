"""The processed store: one Delta Lake table per dataset, partitioned by year and month, local or on S3.

Writes are upserts on the key (dataset, region, series, ts) that keep every revision
(:mod:`energy_core.storage.revisions`): reads give the latest values, or the values as they were known
at any time (``as_of``). A write replaces the months of one dataset it touches in a single Delta
commit, so a reader sees them before or after it, never half of it; two writers of one month (two
machines sharing a lake) cannot both commit: the later one reads its months again, merges again and
retries.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import polars as pl

from energy_core.crash_points import fault_point
from energy_core.errors import StorageError
from energy_core.home import Home
from energy_core.storage import revisions
from energy_core.storage.datafiles import DataFiles, arrow_filesystem, month_claim, removals
from energy_core.storage.revisions import STORED_COLUMNS, STORED_SCHEMA
from energy_core.storage.schema import COLUMNS, KEY

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.fs as pafs
    from deltalake import DeltaTable

logger = logging.getLogger(__name__)

V = TypeVar("V")
R = TypeVar("R")

PARTITION_BY = ("year", "month")
COMMIT_ATTEMPTS = 12
"""How many times a write whose commit lost a race reads, merges and commits again."""
MONTH_THREADS = 4
"""Months of one commit merged and written at once. A month's work is mostly polars' and releases the GIL,
but its frames are too small to keep the cores busy. On two cores, four at a time against one: 1y-8 ingests
in 0.90 to 0.96 of the time and 3y-8 in 0.98 (medians of 20 to 25 interleaved pairs, ``benchmarks/scale.py
--month-threads 1 4``); the commit at a run's close is on its critical path."""


@dataclass
class UpsertStats:
    rows_in: int = 0
    rows_new: int = 0
    rows_changed: int = 0
    files_written: int = 0
    """Months written (each month's files are replaced whole)."""
    commits: int = 0

    def add(self, other: UpsertStats) -> None:
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


class Lake:
    """The home's processed store (``<home>/lake``, or ``s3://.../lake`` when the home is a lake)."""

    def __init__(self, home: Home | Path | str) -> None:
        self.home = Home.of(home)
        self.root = self.home.processed
        self._options = self.home.storage_options()
        self._object_store: tuple[pafs.FileSystem, str] | None = None
        self._snapshots: dict[str, tuple[tuple[int, int], DeltaTable | None]] = {}
        self._snapshots_lock = threading.Lock()

    # -- writing ---------------------------------------------------------------------------------------

    def upsert(self, observations: pl.DataFrame) -> UpsertStats:
        """Merge validated canonical observations into their months: one commit per dataset."""
        stats = UpsertStats()
        for dataset, months in by_dataset(partitions(observations)).items():
            stats.add(self.upsert_months(dataset, months))
        return stats

    def upsert_months(self, dataset: str, months: Mapping[tuple[int, int], pl.DataFrame], *,
                      keys_unique: Collection[tuple[int, int]] = ()) -> UpsertStats:
        """Merge rows of one dataset, given by (year, month) (each frame within its month), in one commit.
        The months in ``keys_unique`` hold each key once (one validated batch, already searched for repeated
        keys), which spares their merge that search: about 0.9 ms of CPU a month of one BA."""
        from deltalake.exceptions import CommitFailedError

        rows_in = sum(frame.height for frame in months.values())
        for attempt in range(COMMIT_ATTEMPTS):
            table = self.table(dataset) or self._create(dataset)
            stored = {(int(p["year"]), int(p["month"])) for p in table.partitions()}
            merges = _each_month(partial(_merge_month, table, stored, set(keys_unique)), months)
            merged = {month: result for month, result in merges.items() if result is not None}
            if not merged:
                return UpsertStats(rows_in=rows_in)
            try:
                self._commit(dataset, table, merged)
            except CommitFailedError as exc:  # another writer committed these months first: merge with its rows
                logger.info("commit to %s lost a race (%s); merging again", dataset, str(exc).splitlines()[0])
                time.sleep(min(0.05 * 2**attempt, 2.0))
                continue
            return UpsertStats(rows_in=rows_in, rows_new=sum(m.added for m in merged.values()),
                               rows_changed=sum(m.changed for m in merged.values()), files_written=len(merged),
                               commits=1)
        raise StorageError(f"could not commit {dataset} to {self.root}: other writers committed the same months "
                           f"first {COMMIT_ATTEMPTS} times running; nothing of this write is stored, run again")

    def _create(self, dataset: str) -> DeltaTable:
        """Create the dataset's table, empty, unless a racing writer just did: rows are only ever written by a
        commit that claims the months they belong to, which fails if another writer's rows reached them
        first (an append that creates a table would add its rows beside a racing creator's, keys and all)."""
        from deltalake import DeltaTable

        try:
            DeltaTable.create(self.table_uri(dataset), schema=_table_schema(),
                              partition_by=list(PARTITION_BY), mode="ignore", storage_options=self._options)
        except Exception as exc:  # the racing creator won version 0: its table is the same
            logger.info("creating %s lost a race (%s); using the winner's table", dataset, str(exc).splitlines()[0])
        table = self.table(dataset)
        if table is None:
            raise StorageError(f"could not create the table {dataset} in {self.root}; run again")
        return table

    def _commit(self, dataset: str, table: DeltaTable,
                merged: Mapping[tuple[int, int], revisions.Merged]) -> None:
        """Write each merged month as a new file and commit the files in one transaction that removes the
        files the months held and claims the months (:func:`month_claim`), so that a racing writer's commit
        of any of them makes this one fail with ``CommitFailedError``; a failed commit's files are deleted."""
        from deltalake import CommitProperties, Transaction
        from deltalake.exceptions import CommitFailedError

        fault_point("lake_before_commit")
        files = DataFiles(self.table_uri(dataset), None if self.home.lake is None else self._table_store(dataset))
        try:
            actions = list(_each_month(lambda month, m: files.add(month, m.rows), merged).values())
        except Exception as exc:
            files.discard()
            raise StorageError(f"could not write {dataset} to {self.root}: {exc}; nothing of this write is "
                               "visible, run again") from exc
        claims = [Transaction(month_claim(dataset, month), table.version() + 1) for month in merged]
        try:
            table.create_write_transaction([*actions, *removals(table, merged)], "append", table.schema(),
                                           list(PARTITION_BY), commit_properties=CommitProperties(
                                               app_transactions=claims))
        except CommitFailedError:
            files.discard()
            raise
        except Exception as exc:  # deltalake's errors (DeltaError) are not OSErrors: a full disk raises one too
            raise StorageError(f"could not write {dataset} to {self.root}: {exc}; run again") from exc
        fault_point("lake_after_commit")

    def _lake_store(self) -> tuple[pafs.FileSystem, str]:
        """The lake's object store and the lake's path there, made once (from a URI, pyarrow asks S3 where
        the bucket is)."""
        if self._object_store is None:
            self._object_store = arrow_filesystem(self.root)
        return self._object_store

    def _table_store(self, dataset: str) -> tuple[pafs.FileSystem, str]:
        filesystem, root = self._lake_store()
        return filesystem, f"{root}/{dataset}"

    # -- reading ---------------------------------------------------------------------------------------

    def table_uri(self, dataset: str) -> str:
        return f"{self.root}/{dataset}"

    def datasets(self) -> list[str]:
        """The datasets with a table in the lake."""
        if self.home.lake is None:
            root = Path(self.root)
            return sorted(p.name for p in root.iterdir() if (p / "_delta_log").is_dir()) if root.exists() else []
        return sorted(_object_store_tables(self.root, *self._lake_store()))

    def scan(self, dataset: str | None = None, *, as_of: datetime | None = None) -> pl.LazyFrame:
        """The stored observations (of one dataset), lazily: the latest values, or those known at ``as_of``.
        An empty frame when nothing is stored."""
        keep = revisions.current() if as_of is None else revisions.known_at(as_of)
        return self.revisions(dataset).filter(keep).select(COLUMNS)

    def revisions(self, dataset: str | None = None) -> pl.LazyFrame:
        """Every revision stored (of one dataset), with ``superseded_at``: null for the latest."""
        names = [dataset] if dataset is not None else self.datasets()
        frames = [_scan(table) for name in names if (table := self.table(name)) is not None]
        if not frames:
            return pl.LazyFrame(schema=STORED_SCHEMA)
        return pl.concat(frames, how="vertical")

    def versions(self) -> dict[str, int]:
        """Each table's version: the state a cache of what the lake holds is keyed on (from :meth:`snapshot`,
        so a long-lived lake opens a table again only once it may have changed)."""
        return {name: table.version() for name in self.datasets() if (table := self.snapshot(name)) is not None}

    def changed_at(self) -> float | None:
        """When data was last committed to any table (seconds since the epoch), None when nothing is stored."""
        import pyarrow as pa
        import pyarrow.compute as pc

        latest = None
        for name in self.datasets():
            table = self.table(name)
            if table is None:
                continue
            actions = pa.table(table.get_add_actions(flatten=True))
            if actions.num_rows:
                moment = pc.max(actions["modification_time"]).as_py()
                seconds = moment.timestamp() if isinstance(moment, datetime) else moment / 1000
                latest = seconds if latest is None else max(latest, seconds)
        return latest

    def repair(self) -> dict[str, list[Path]]:
        """Take the damaged or missing data files out of each table of a local lake (one commit per table,
        the damaged files kept beside as ``*.damaged``); returns them by dataset. Their rows are gone from the
        lake: fetch their months again."""
        from deltalake import DeltaTable

        if self.home.lake is not None:
            raise StorageError(f"{self.root} is on object storage, whose files are checked by the store itself; "
                               "repair checks the files of a local lake")
        repaired: dict[str, list[Path]] = {}
        for dataset in self.datasets():
            table = DeltaTable(self.table_uri(dataset))
            damaged = [path for path, _ in _damaged(table)]
            for path in damaged:
                if path.exists():
                    path.rename(path.with_name(path.name + ".damaged"))
            if damaged:
                table.repair()
                repaired[dataset] = damaged
        return repaired

    def snapshot(self, dataset: str) -> DeltaTable | None:
        """:meth:`table`, opened again only once the table may have changed, for a reader that asks often (the
        server): a local table when its log folder changed (or a second passed: file times are coarse), one on
        object storage after a second. Never an older version than one it returned before."""
        stamp: tuple[int, int] = (0, int(time.monotonic()))
        if self.home.lake is None:
            try:
                stamp = (Path(self.table_uri(dataset), "_delta_log").stat().st_mtime_ns, stamp[1])
            except FileNotFoundError:
                return None
        with self._snapshots_lock:
            known = self._snapshots.get(dataset)
        if known is not None and known[0] == stamp:
            return known[1]
        table = self.table(dataset)
        with self._snapshots_lock:
            known = self._snapshots.get(dataset)
            if known is not None and known[1] is not None and (table is None or known[1].version() > table.version()):
                return known[1]  # a racing caller opened a newer version meanwhile
            self._snapshots[dataset] = stamp, table
        return table

    def table(self, dataset: str) -> DeltaTable | None:
        """The dataset's table at its latest version (a snapshot: reads through it are consistent), None
        when the dataset has none."""
        from deltalake import DeltaTable
        from deltalake.exceptions import DeltaError, TableNotFoundError

        try:
            table = DeltaTable(self.table_uri(dataset), storage_options=self._options)
        except TableNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"could not read the table {dataset} of {self.root}: {exc}") from exc
        except DeltaError as exc:  # a damaged log, something else where the table goes, a store that failed
            reason = next(iter(str(exc).splitlines()), type(exc).__name__)
            raise StorageError(f"the lake's table {dataset} at {self.table_uri(dataset)} cannot be read ({reason}). "
                               "If the store was unreachable, run again; if its log (_delta_log) is damaged or "
                               "the folder holds no Delta table, restore it from a copy, or move it aside and "
                               "fetch its data again with `energy run --full-refresh` (the raw cache replays "
                               "it)") from None
        if self.home.lake is None:
            _check_files(dataset, table)
        return table

    @staticmethod
    def read_month(table: DeltaTable, year: int, month: int) -> pl.DataFrame:
        """Every revision stored in one month of ``table``."""
        data = table.to_pyarrow_table(filters=[("year", "=", year), ("month", "=", month)])
        frame = pl.from_arrow(data)
        assert isinstance(frame, pl.DataFrame)
        return frame.select(STORED_COLUMNS).cast(STORED_SCHEMA)


_whole: set[tuple[str, int, int]] = set()
"""Local data files found whole, by (path, size, mtime): each is read for its footer once per process."""


def _check_files(dataset: str, table: DeltaTable) -> None:
    """Refuse a local table whose log names a data file that is missing, short or not Parquet (a power cut
    after a commit, a bad disk or a bad copy), with an error naming it, before a reader trips on it."""
    for path, found in _damaged(table)[:1]:
        raise StorageError(f"the lake's table {dataset} names a damaged data file, {path} ({found}); run `energy "
                           "store repair` to take it out of the table, then fetch its month again with `energy run "
                           "--full-refresh` (the raw cache replays it)")


def _damaged(table: DeltaTable) -> list[tuple[Path, str]]:
    """The local data files the table's log names that are missing, not the size committed, or not Parquet."""
    import pyarrow as pa

    damaged = []
    for action in pa.table(table.get_add_actions(flatten=True)).select(["path", "size_bytes"]).to_pylist():
        path = Path(table.table_uri.removeprefix("file://")) / action["path"]
        try:
            st = path.stat()
        except FileNotFoundError:
            damaged.append((path, "missing"))
            continue
        key = (str(path), st.st_size, st.st_mtime_ns)
        if key in _whole:
            continue
        if st.st_size != action["size_bytes"]:
            damaged.append((path, f"{st.st_size:,} bytes, not the {action['size_bytes']:,} committed"))
            continue
        with open(path, "rb") as fh:
            fh.seek(max(st.st_size - 4, 0))
            if fh.read(4) != b"PAR1":
                damaged.append((path, "not a Parquet file"))
                continue
        _whole.add(key)
    return damaged


def _merge_month(table: DeltaTable, stored: Collection[tuple[int, int]], keys_unique: Collection[tuple[int, int]],
                 month: tuple[int, int], new: pl.DataFrame) -> revisions.Merged | None:
    """``new`` merged into what ``table`` holds of ``month`` (nothing unless ``stored`` names it)."""
    return revisions.merge(Lake.read_month(table, *month) if month in stored else _empty(), new,
                           keys_unique=month in keys_unique)


def _each_month(work: Callable[[tuple[int, int], V], R],
                months: Mapping[tuple[int, int], V]) -> dict[tuple[int, int], R]:
    """``work(month, value)`` for each month, a few at a time (:data:`MONTH_THREADS`), in the months' order.
    Every call has ended when this returns or raises (the first failure in that order)."""
    if len(months) < 2:
        return {month: work(month, value) for month, value in months.items()}
    with ThreadPoolExecutor(min(MONTH_THREADS, len(months)), thread_name_prefix="energy-lake-month") as pool:
        futures = {month: pool.submit(work, month, value) for month, value in months.items()}
    return {month: future.result() for month, future in futures.items()}


def partitions(observations: pl.DataFrame) -> list[tuple[tuple[str, int, int], pl.DataFrame]]:
    """Split observations by (dataset, year, month); a batch inside one month is not copied."""
    if observations.height == 0:
        return []
    first, last = observations.select(first=pl.col("ts").min(), last=pl.col("ts").max()).row(0)
    datasets = observations["dataset"].unique()
    if len(datasets) == 1 and (first.year, first.month) == (last.year, last.month):
        return [((datasets[0], first.year, first.month), observations)]
    keyed = observations.with_columns(_year=pl.col("ts").dt.year(), _month=pl.col("ts").dt.month())
    return [((d, y, m), part.drop("_year", "_month"))
            for (d, y, m), part in keyed.group_by("dataset", "_year", "_month", maintain_order=True)]


def by_dataset(months: Iterable[tuple[tuple[str, int, int], pl.DataFrame]]
               ) -> dict[str, dict[tuple[int, int], pl.DataFrame]]:
    """Rows by (dataset, year, month), regrouped as dataset -> (year, month) -> rows: what one commit takes."""
    grouped: dict[str, dict[tuple[int, int], pl.DataFrame]] = {}
    for (dataset, year, month), rows in months:
        grouped.setdefault(dataset, {})[(year, month)] = rows
    return grouped


def _scan(table: DeltaTable) -> pl.LazyFrame:
    return pl.scan_delta(table).select(STORED_COLUMNS).cast(STORED_SCHEMA)


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=STORED_SCHEMA)


def _table_schema() -> pa.Schema:
    """The stored columns, then the partition columns."""
    return _empty().with_columns(year=pl.lit(None, pl.Int32), month=pl.lit(None, pl.Int32)).to_arrow().schema


def _object_store_tables(root: str, filesystem: pafs.FileSystem, path: str) -> Iterable[str]:
    """The datasets under a lake on object storage (``root``, at ``path`` of ``filesystem``): the folders
    that hold a ``_delta_log``."""
    import pyarrow.fs as pafs

    try:
        listing = filesystem.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    except OSError as exc:
        raise StorageError(f"could not list the lake {root}: {exc}") from exc
    for info in listing:
        if info.type == pafs.FileType.Directory:
            marker = filesystem.get_file_info(f"{info.path}/_delta_log")
            if marker.type == pafs.FileType.Directory:
                yield info.path.rsplit("/", 1)[-1]


__all__ = ["KEY", "Lake", "UpsertStats", "partitions"]
