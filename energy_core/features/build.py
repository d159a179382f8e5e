"""Building an entity: fuse its observations, write them to LanceDB, compute the split points and the
normalization statistics, record the build and export it to Parquet.

Builds are incremental: when the feature list is unchanged only new or changed hours are merged;
otherwise the entity's table is replaced. The build record is written after the rows, so a crash in
between leaves the previous record pointing at the previous table version.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from energy_core.crash_points import fault_point
from energy_core.errors import ConfigError
from energy_core.features import export, lance, records
from energy_core.features.calendar import CALENDAR_FEATURES
from energy_core.features.entities import Entity
from energy_core.features.fusion import Fused, fuse
from energy_core.features.records import BuildInfo, Splits
from energy_core.home import Home
from energy_core.storage.flags import masked_hours
from energy_core.storage.lake import Lake
from energy_core.storage.lock import StoreLock

if TYPE_CHECKING:
    from lancedb.db import DBConnection

logger = logging.getLogger(__name__)

DEFAULT_SPLIT = (0.8, 0.1)
"""Train on the first 80% of an entity's hours, validate on the next 10%, test on the rest."""


def build_entities(db: DBConnection, home: Home, entities: Sequence[Entity], *, splits: Splits, runs: list[str],
                   exports: Path, on_built: Callable[[BuildInfo], object] | None = None,
                   as_of: datetime | None = None) -> list[BuildInfo]:
    """Build each of ``entities`` from ``home``'s processed store (as it was known at ``as_of``, or the latest),
    under the feature store's lock; hours that ``energy quality`` distrusts become gaps. ``on_built`` hears of
    each build as it ends."""
    processed = Lake(home)
    masked = masked_hours(home)
    built = []
    with StoreLock(home.features_lock):
        for entity in entities:
            read_at = datetime.now(UTC)  # a file the store changes after this moment makes the build behind
            built.append(build_one(db, fuse(processed, entity, masked, as_of=as_of), entity.target, splits=splits,
                                   runs=runs, exports=exports, read_at=read_at, as_of=as_of))
            if on_built:
                on_built(built[-1])
    return built


def build_one(db: DBConnection, fused: Fused, target: str, *, splits: Splits, runs: list[str], exports: Path,
              read_at: datetime, as_of: datetime | None = None) -> BuildInfo:
    """Write one fused entity and record the build; ``read_at`` is when its observations were read, the
    build's ``built_at`` (so a run that stores while the build fuses leaves the build behind)."""
    name = lance.table_name(fused.entity)
    previous = records.latest(db, fused.entity)
    incremental = previous is not None and previous.features == list(fused.features)
    changed = lance.write_rows(db, name, fused, incremental)
    fault_point("lance_after_commit_before_manifest")
    val_start, test_start = split_points(fused.ts, splits)
    table = db.open_table(name)
    info = BuildInfo(
        entity=fused.entity, build=(previous.build + 1) if previous else 1, built_at=read_at.isoformat(),
        table_version=table.version, features=list(fused.features), stats=train_stats(fused, val_start),
        splits={"val_start": iso(val_start), "test_start": iso(test_start)}, runs=runs, rows=len(fused.ts),
        changed_rows=changed, first_ts=iso(fused.ts[0]), last_ts=iso(fused.ts[-1]), target=target,
        as_of=iso(as_of) if as_of is not None else None,
    )
    records.append(db, info)
    export.write(table.to_arrow(), info, exports)
    logger.info("features %s: build %d, %d hours x %d features, %d rows written", info.entity, info.build,
                info.rows, len(info.features), changed)
    return info


def split_points(ts: np.ndarray, splits: Splits) -> tuple[np.datetime64, np.datetime64]:
    """Where validation and test start: as ``splits`` says, else at UTC midnights 80% and 90% in (at whole
    hours when the data holds too few days for a midnight after its first hour)."""
    first, last = ts[0], ts[-1]
    span = last - first

    def at(fraction: float) -> np.datetime64:
        point = first + span * fraction
        midnight = point.astype("datetime64[D]").astype("datetime64[us]")
        return midnight if midnight > first else point.astype("datetime64[h]").astype("datetime64[us]")

    val = np.datetime64(splits.val_start.replace(tzinfo=None), "us") if splits.val_start else at(DEFAULT_SPLIT[0])
    test = (np.datetime64(splits.test_start.replace(tzinfo=None), "us") if splits.test_start
            else at(DEFAULT_SPLIT[0] + DEFAULT_SPLIT[1]))
    if not first < val <= test <= last:
        raise ConfigError(f"split points must satisfy first hour < val_start <= test_start <= last hour "
                          f"({iso(first)} < {iso(val)} <= {iso(test)} <= {iso(last)})")
    return val, test


def train_stats(fused: Fused, val_start: np.datetime64) -> dict[str, list[float]]:
    """Mean and standard deviation per feature over observed training hours only (no peeking ahead)."""
    train = fused.ts < val_start
    stats = {}
    for j, name in enumerate(fused.features):
        if name in CALENDAR_FEATURES:
            stats[name] = [0.0, 1.0]
            continue
        observed = fused.values[train, j][fused.mask[train, j].astype(bool)]
        mean = float(observed.mean()) if observed.size else 0.0
        std = float(observed.std()) if observed.size > 1 else 1.0
        stats[name] = [mean, std if std > 1e-9 else 1.0]
    return stats


def iso(moment: np.datetime64 | datetime) -> str:
    """ISO text of a UTC instant (a numpy one is naive UTC)."""
    if isinstance(moment, datetime):
        return moment.isoformat()
    instant: datetime = moment.astype("datetime64[us]").item()
    return instant.replace(tzinfo=UTC).isoformat()
