"""``energy store migrate``: a home's processed store of energy 0.2 (partitioned Parquet) into the lake.

Each old month file is upserted into its dataset's Delta table (one commit per month). A month the
lake already holds unchanged commits nothing, so a migration killed part-way is finished by running it
again. Only when every old row reads back from the lake unchanged (row for row: key, value, null or NaN
exactly, ``retrieved_at``, source, unit) is the old folder renamed (kept: the user deletes it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from energy_core.errors import ConfigError, StorageError
from energy_core.home import Home
from energy_core.plugin.windows import add_months
from energy_core.storage.lock import StoreLock

if TYPE_CHECKING:
    import polars as pl

    from energy_core.storage.lake import Lake

logger = logging.getLogger(__name__)

MONTH_FILES = "*/year=*/month=*/data.parquet"
"""The month files of the old layout, under ``Home.legacy_processed``."""


class MigrationError(StorageError):
    """The old store cannot be moved into the lake as it is; nothing was lost and the old folder is kept."""


@dataclass(frozen=True)
class LegacyMonth:
    """One month file of the old layout."""

    dataset: str
    year: int
    month: int
    path: Path

    def __str__(self) -> str:
        return f"{self.dataset} {self.year:04d}-{self.month:02d}"


@dataclass(frozen=True)
class Migration:
    """What ``migrate`` did."""

    datasets: tuple[str, ...]
    months: int
    rows: int
    commits: int
    """Months written by this migration; the others were in the lake already (an earlier, interrupted one)."""
    seconds: float
    kept_at: Path
    """Where the old store now is."""


def has_legacy_store(home: Home) -> bool:
    """Whether the home still holds month files of the old layout (cheap: stops at the first one)."""
    return any(home.legacy_processed.glob(MONTH_FILES))


def require_migrated(home: Home) -> None:
    """Stop a command that reads or writes the store while the old store waits to be migrated (the lake
    would look empty, or half full after an interrupted migration)."""
    if has_legacy_store(home):
        raise ConfigError(f"{home.legacy_processed} holds a store in the layout of energy 0.2, which this version "
                          f"no longer reads; convert it into the lake with `energy store migrate --home {home}` "
                          "(nothing is lost, and the old folder is kept)")


def legacy_months(home: Home) -> list[LegacyMonth]:
    """Every month file of the old layout, by dataset and month."""
    months = []
    for path in home.legacy_processed.glob(MONTH_FILES):
        dataset_dir, year_dir, month_dir = path.parents[2], path.parents[1], path.parent
        try:
            year, month = int(year_dir.name.removeprefix("year=")), int(month_dir.name.removeprefix("month="))
        except ValueError:
            raise MigrationError(f"{path} is not in a year=YYYY/month=MM folder; move it out of "
                                 f"{home.legacy_processed} and run again") from None
        months.append(LegacyMonth(dataset_dir.name, year, month, path))
    return sorted(months, key=lambda m: (m.dataset, m.year, m.month))


def migrate(home: Home | Path | str, *, progress: Callable[[str], None] | None = None) -> Migration | None:
    """Move the old store of ``home`` into its lake, check it row for row, then rename the old folder to
    ``processed.migrated-<UTC time>``. None when there is no old store. Holds the store's lock throughout.

    :param progress: called with a line per dataset and stage (the CLI prints them to stderr).
    """
    from energy_core.storage.lake import Lake

    home = Home.of(home)
    months = legacy_months(home)
    if not months:
        return None
    say = progress or (lambda line: logger.info("%s", line))
    started = time.perf_counter()
    with StoreLock(home.processed_lock):
        lake = Lake(home)
        _refuse_conflicts(lake, months, say)
        rows, commits = 0, 0
        for dataset, group in _by_dataset(months):
            say(f"{dataset}: writing {len(group)} month(s) into {lake.table_uri(dataset)}")
            for month in group:
                frame = read_month(month)
                rows += frame.height
                commits += lake.upsert(frame).files_written
        for dataset, group in _by_dataset(months):
            say(f"{dataset}: checking {len(group)} month(s) row for row")
            for month in group:
                _check(month, read_month(month), _lake_month(lake, month))
        kept_at = _set_aside(home)
    datasets = tuple(sorted({m.dataset for m in months}))
    return Migration(datasets, len(months), rows, commits, time.perf_counter() - started, kept_at)


def read_month(month: LegacyMonth) -> pl.DataFrame:
    """The rows of one old month file, in the canonical schema."""
    import polars as pl

    from energy_core.storage.schema import COLUMNS, KEY, POLARS_SCHEMA

    try:
        frame = pl.read_parquet(month.path, hive_partitioning=False)
        missing = [name for name in COLUMNS if name not in frame.columns]
        if missing:
            raise MigrationError(f"{month.path} lacks the columns {missing}: it is not a month file of energy 0.2; "
                                 "move it out of the old store and run again")
        frame = frame.select(COLUMNS).cast(POLARS_SCHEMA)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise MigrationError(f"could not read {month.path}: {exc}; nothing was changed") from exc
    others = sorted(set(frame["dataset"].unique().to_list()) - {month.dataset})
    if others:
        raise MigrationError(f"{month.path} holds rows of dataset {others[0]!r}, not {month.dataset!r}; nothing "
                             "was changed")
    if frame.select(pl.struct(KEY).is_duplicated().any()).item():
        key = frame.filter(pl.struct(KEY).is_duplicated()).select(KEY).row(0, named=True)
        raise MigrationError(f"{month.path} holds the key {_key(key)} twice; nothing was changed")
    return frame


def differences(old: pl.DataFrame, lake: pl.DataFrame, *, missing: bool = True) -> pl.DataFrame:
    """The rows of ``old`` that ``lake`` holds otherwise (any column; null and NaN compare equal to
    themselves), with the lake's columns beside them (suffix ``_lake``); with ``missing``, also those it lacks."""
    import polars as pl

    from energy_core.storage.schema import KEY

    joined = old.join(lake, on=KEY, how="left", nulls_equal=True, suffix="_lake")
    same = pl.all_horizontal(pl.col(name).eq_missing(pl.col(f"{name}_lake"))
                             for name in ("value", "retrieved_at", "source", "unit"))
    held = pl.col("retrieved_at_lake").is_not_null()  # never null for a row the lake holds
    return joined.filter(~same if missing else held & ~same)


def _refuse_conflicts(lake: Lake, months: list[LegacyMonth], say: Callable[[str], None]) -> None:
    """Before anything is written: refuse when the lake already holds any old key otherwise."""
    import polars as pl

    found: list[pl.DataFrame] = []
    for dataset, group in _by_dataset(months):
        if lake.table(dataset) is None:
            continue
        say(f"{dataset}: comparing with the rows the lake holds already")
        found.extend(differences(read_month(m), _lake_month(lake, m), missing=False) for m in group)
    conflicts = pl.concat(found) if found else None
    if conflicts is not None and conflicts.height:
        raise MigrationError(f"the lake {lake.root} already holds {conflicts.height} key(s) of the old store with "
                             f"other values, e.g. {_describe(conflicts.row(0, named=True))}; nothing was written "
                             "and the old store is untouched. Migrate into a home whose lake lacks these tables, or "
                             "move the lake's tables aside, then run again")


def _check(month: LegacyMonth, old: pl.DataFrame, stored: pl.DataFrame) -> None:
    wrong = differences(old, stored)
    if wrong.height:
        raise MigrationError(f"after writing {month}, {wrong.height} old row(s) do not read back from the lake as "
                             f"they were, e.g. {_describe(wrong.row(0, named=True))}; the old store is kept where "
                             "it is: run `energy store migrate` again, and report this if it recurs")


def _lake_month(lake: Lake, month: LegacyMonth) -> pl.DataFrame:
    """The latest values the lake's reader (``Lake.scan``) gives for one month."""
    import polars as pl

    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    return (lake.scan(month.dataset).filter(pl.col("ts").is_between(start, add_months(start, 1), closed="left"))
            .collect())


def _set_aside(home: Home) -> Path:
    """Rename the old folder beside it, never over anything."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = home.root / f"{home.legacy_processed.name}.migrated-{stamp}"
    suffix = 1
    while target.exists():
        suffix += 1
        target = home.root / f"{home.legacy_processed.name}.migrated-{stamp}-{suffix}"
    try:
        home.legacy_processed.rename(target)
    except OSError as exc:
        raise MigrationError(f"every row is in the lake, but {home.legacy_processed} could not be renamed to "
                             f"{target.name}: {exc.strerror or exc}; rename or delete it yourself") from exc
    return target


def _by_dataset(months: list[LegacyMonth]) -> Iterator[tuple[str, list[LegacyMonth]]]:
    groups: dict[str, list[LegacyMonth]] = {}
    for month in months:
        groups.setdefault(month.dataset, []).append(month)
    yield from groups.items()


def _key(row: dict[str, object]) -> str:
    ts = row["ts"]
    when = ts.strftime("%Y-%m-%dT%H:%MZ") if isinstance(ts, datetime) else ts
    return f"{row['dataset']} {row['region']} {row['series']} {when}"


def _describe(row: dict[str, object]) -> str:
    """A key, its old row and the lake's."""

    def revision(suffix: str) -> str:
        if row[f"retrieved_at{suffix}"] is None:
            return "nothing"
        at = row[f"retrieved_at{suffix}"]
        known = at.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(at, datetime) else at
        return f"{row[f'value{suffix}']} {row[f'unit{suffix}']} from {row[f'source{suffix}']}, known {known}"

    return f"{_key(row)}: the old store has {revision('')}, the lake {revision('_lake')}"
