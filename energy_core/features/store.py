"""The feature store: fused entities in LanceDB, a Parquet export of each, and a record of every build.

One LanceDB table per entity (``ts``, ``values`` and ``mask`` as fixed-size lists, one slot per
feature) and a ``_builds`` table holding, for every build, the feature list, the per-feature
normalization statistics (computed on the training period only), the split boundaries, the runs it
came from and when. Builds are incremental: when the feature list is unchanged only new or changed
hours are merged; otherwise the entity's table is replaced.
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

os.environ.setdefault("LANCEDB_LOG", "error")  # Lance's Rust logger warns about routine table creation

from energy_core.crash_points import fault_point
from energy_core.errors import ConfigError, StorageError
from energy_core.features.calendar import CALENDAR_FEATURES
from energy_core.features.entities import configured_entities, load_entities
from energy_core.features.fusion import Fused, fuse
from energy_core.home import Home
from energy_core.ops.quality import masked_hours
from energy_core.storage.lock import StoreLock
from energy_core.storage.parquet import ParquetStore

logger = logging.getLogger(__name__)

BUILDS_TABLE = "_builds"
DEFAULT_SPLIT = (0.8, 0.1)
"""Train on the first 80% of an entity's hours, validate on the next 10%, test on the rest."""


@dataclass(frozen=True)
class Splits:
    """Where validation and test start (UTC); None means the default fractions."""

    val_start: datetime | None = None
    test_start: datetime | None = None


@dataclass(frozen=True)
class BuildInfo:
    entity: str
    build: int
    built_at: str
    table_version: int
    features: list[str]
    stats: dict[str, list[float]]
    """feature -> [mean, std] over the training period's observed hours."""
    splits: dict[str, str]
    """``val_start`` and ``test_start``, ISO UTC."""
    runs: list[str]
    rows: int
    changed_rows: int
    first_ts: str
    last_ts: str
    target: str


def table_name(entity: str) -> str:
    return "entity_" + re.sub(r"[^A-Za-z0-9_]", "_", entity)


class FeatureStore:
    """Build and serve fused, normalized training data. ``home`` is energy's data folder; ``uri`` any
    location LanceDB accepts (default ``<home>/features``)."""

    def __init__(self, home: Home | Path | str = "data", *, uri: str | None = None,
                 entities: dict[str, dict] | None = None) -> None:
        self.home = Home.of(home)
        self.entity_specs = entities or {}
        """Entity definitions over ``<home>/entities.toml`` (the ``[entities]`` of ``energy.toml``)."""
        self.uri = uri or str(self.home.features)
        self.exports = self.home.feature_exports
        import lancedb  # imported here: it takes a second, which commands that never read features should not pay

        self._db = lancedb.connect(self.uri)
        self._cache: dict[tuple[str, int], tuple[BuildInfo, np.ndarray, np.ndarray, np.ndarray]] = {}

    # -- building ---------------------------------------------------------------------------------

    def build(self, entities: list[str] | None = None, *, splits: Splits = Splits(),
              runs: list[str] | None = None) -> list[BuildInfo]:
        """Fuse and store ``entities`` (default: every BA with EIA data, plus those in entities.toml)."""
        processed = ParquetStore(self.home.processed)
        names = entities or self.available_entities(processed)
        if not names:
            raise ConfigError("no entities to build: the store has no EIA data and no entities.toml")
        runs = self.home.run_ids() if runs is None else runs
        masked = masked_hours(self.home)
        with StoreLock(self.home.features_lock):
            return [self._build_one(fuse(processed, entity, masked), entity.target, splits, runs)
                    for entity in load_entities(self.home, names, self.entity_specs).values()]

    def behind(self, entities: list[str] | None = None) -> bool:
        """Whether the processed store changed after the last build of ``entities`` (default: those built)."""
        files = ParquetStore(self.home.processed).files()
        if not files:
            return False
        changed = max(f.stat().st_mtime for f in files)
        built = {}  # entity -> when its last build ran, from one read of the build records
        if BUILDS_TABLE in self._db.list_tables().tables:
            builds = self._db.open_table(BUILDS_TABLE).to_arrow()
            for entity, at in zip(builds["entity"].to_pylist(), builds["built_at"].to_pylist(), strict=True):
                built[entity] = max(built.get(entity, 0.0), datetime.fromisoformat(at).timestamp())
        names = entities or list(built)
        return not names or any(built.get(name, 0.0) < changed for name in names)

    def available_entities(self, processed: ParquetStore) -> list[str]:
        eia = [d for d in processed.datasets() if d.startswith("eia.")]
        regions: set[str] = set()
        for dataset in eia:
            regions |= set(processed.scan(dataset).select(pl.col("region").unique()).collect()["region"])
        return sorted(r for r in regions | set(configured_entities(self.home, self.entity_specs)) if "." not in r)

    def _build_one(self, fused: Fused, target: str, splits: Splits, runs: list[str]) -> BuildInfo:
        name = table_name(fused.entity)
        previous = self.latest(fused.entity, missing_ok=True)
        incremental = previous is not None and previous.features == list(fused.features)
        changed = self._write_rows(name, fused, incremental)
        fault_point("lance_after_commit_before_manifest")
        val_start, test_start = _split_points(fused.ts, splits)
        info = BuildInfo(
            entity=fused.entity, build=(previous.build + 1) if previous else 1, built_at=_now(),
            table_version=self._db.open_table(name).version, features=list(fused.features),
            stats=_train_stats(fused, val_start), splits={"val_start": _iso(val_start), "test_start": _iso(test_start)},
            runs=runs, rows=len(fused.ts), changed_rows=changed, first_ts=_iso(fused.ts[0]), last_ts=_iso(fused.ts[-1]),
            target=target,
        )
        self._record(info)
        self._export(name, info)
        logger.info("features %s: build %d, %d hours x %d features, %d rows written", info.entity, info.build,
                    info.rows, len(info.features), changed)
        return info

    def _write_rows(self, name: str, fused: Fused, incremental: bool) -> int:
        """Merge only new or changed hours when the layout is unchanged; otherwise replace the table.

        Each write is one LanceDB commit: a crash before it leaves the previous version, which is
        what the last build record points at. The hour key is checked unique before and after.
        """
        rows = _arrow(fused.ts, fused.values, fused.mask)
        _check_unique(rows, f"features for {name} before writing")
        if incremental and name in self._db.list_tables().tables:
            table = self._db.open_table(name)
            old = table.to_arrow()
            changed = _changed_rows(old, rows)
            if changed is not None:
                if changed.num_rows:
                    fault_point("lance_before_commit")
                    table.merge_insert("ts").when_matched_update_all().when_not_matched_insert_all().execute(changed)
                    _index_hours(table)
                    merged = table.search().select(["ts"]).limit(None).to_arrow()
                    _check_unique(merged, f"LanceDB table {name} after the merge")
                return changed.num_rows
        fault_point("lance_before_commit")
        table = self._db.create_table(name, rows, mode="overwrite")
        _index_hours(table)
        return rows.num_rows

    def _record(self, info: BuildInfo) -> None:
        record = {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in asdict(info).items()}
        if BUILDS_TABLE in self._db.list_tables().tables:
            self._db.open_table(BUILDS_TABLE).add([record])
        else:
            self._db.create_table(BUILDS_TABLE, [record])

    def _export(self, name: str, info: BuildInfo) -> None:
        """The same table as Parquet, in 8,760-row groups, with the build record in its metadata."""
        table = self._db.open_table(name).to_arrow().sort_by("ts")
        table = table.replace_schema_metadata({"energy.build": json.dumps(asdict(info))})
        self.exports.mkdir(parents=True, exist_ok=True)
        tmp = self.exports / f".tmp-{uuid.uuid4().hex}.parquet"
        try:
            pq.write_table(table, tmp, row_group_size=8760, compression="zstd")
            os.replace(tmp, self.exports / f"{info.entity}.parquet")
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StorageError(f"could not export features for {info.entity}: {exc}") from exc

    # -- reading -----------------------------------------------------------------------------------

    def entities(self) -> list[str]:
        if BUILDS_TABLE not in self._db.list_tables().tables:
            return []
        return sorted(set(self._db.open_table(BUILDS_TABLE).to_arrow()["entity"].to_pylist()))

    def latest(self, entity: str, *, missing_ok: bool = False) -> BuildInfo | None:
        """The newest build record of ``entity``."""
        if BUILDS_TABLE in self._db.list_tables().tables:
            builds = pl.from_arrow(self._db.open_table(BUILDS_TABLE).to_arrow()).filter(entity=entity)
            if builds.height:
                row = builds.sort("build").row(-1, named=True)
                return BuildInfo(**{k: json.loads(v) if k in ("features", "stats", "splits", "runs") else v
                                    for k, v in row.items()})
        if missing_ok:
            return None
        raise ConfigError(f"no features built for entity {entity!r}; run `energy features build --entity {entity}`"
                          f" (built: {', '.join(self.entities()) or 'none'})")

    def arrays(self, entity: str) -> tuple[BuildInfo, np.ndarray, np.ndarray, np.ndarray]:
        """The latest build of ``entity``: its record, ts (n,), values (n, F) float32 and mask (n, F) uint8."""
        info = self.latest(entity)
        key = (entity, info.build)
        if key not in self._cache:
            table = self._db.open_table(table_name(entity))
            table.checkout(info.table_version)
            ts, values, mask = _numpy(table.to_arrow().sort_by("ts"), len(info.features))
            self._cache = {key: (info, ts, values, mask)}  # one entity at a time: memory stays one array
        return self._cache[key]

    def latest_hours(self, entity: str, hours: int, *, source: str = "lancedb"
                     ) -> tuple[BuildInfo, np.ndarray, np.ndarray, np.ndarray]:
        """The last ``hours`` rows of the latest build, read from LanceDB (``ts`` index, the build's last
        hour as the watermark) or from the Parquet export (only its last row groups)."""
        info = self.latest(entity)
        cut = np.datetime64(info.last_ts[:19], "us") - np.timedelta64(hours - 1, "h")
        if source == "lancedb":
            table = self._db.open_table(table_name(entity))
            rows = table.search().where(f"ts >= timestamp '{str(cut).replace('T', ' ')}'").limit(None).to_arrow()
        elif source == "parquet":
            rows = _tail_row_groups(self.exports / f"{entity}.parquet", hours)
        else:
            raise ConfigError(f"source must be 'lancedb' or 'parquet', not {source!r}")
        ts, values, mask = _numpy(rows.sort_by("ts"), len(info.features))
        keep = ts >= cut
        if keep.sum() < hours:
            raise ConfigError(f"{entity} has only {keep.sum()} hours before {info.last_ts}; asked for {hours}")
        return info, ts[keep], values[keep], mask[keep]

    def frame(self, entity: str) -> pl.DataFrame:
        """A wide, readable view: one column per feature, null where unobserved."""
        info, ts, values, mask = self.arrays(entity)
        shown = np.where(mask.astype(bool), values, np.nan)
        frame = pl.DataFrame(shown, schema=info.features, orient="row").fill_nan(None)
        return frame.insert_column(0, pl.Series("ts", ts).dt.replace_time_zone("UTC"))

    # serving lives in serving.py; these two are the public entry points
    def get_training_sequences(self, entity: str, seq_len: int = 8760, stride: int = 24,
                               features: list[str] | None = None, split: str = "train", batch_size: int = 8,
                               horizon: int = 24, target: str | None = None, shuffle_seed: int | None = None):
        """Batches of windows (see :mod:`energy_core.features.serving`); ``shuffle_seed`` draws windows
        in a random order (each batch then copies its own windows)."""
        from energy_core.features.serving import training_sequences

        return training_sequences(self, entity, seq_len=seq_len, stride=stride, features=features, split=split,
                                  batch_size=batch_size, horizon=horizon, target=target, shuffle_seed=shuffle_seed)

    def get_real_time_context(self, entity: str, lookback_hours: int = 168, features: list[str] | None = None,
                              *, source: str = "lancedb"):
        from energy_core.features.serving import real_time_context

        return real_time_context(self, entity, lookback_hours=lookback_hours, features=features, source=source)


def _arrow(ts: np.ndarray, values: np.ndarray, mask: np.ndarray) -> pa.Table:
    """Unobserved slots are stored as 0 (the mask says they are gaps): LanceDB refuses NaN in vectors."""
    width = values.shape[1]
    values = np.where(mask.astype(bool), values, 0).astype(np.float32)
    return pa.table({
        "ts": pa.array(ts.astype("datetime64[us]"), pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC")),
        "values": pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), width),
        "mask": pa.FixedSizeListArray.from_arrays(pa.array(mask.reshape(-1)), width),
    })


def _numpy(table: pa.Table, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ts = table["ts"].to_numpy().astype("datetime64[us]")
    values = table["values"].combine_chunks().flatten().to_numpy(zero_copy_only=False).reshape(-1, width)
    mask = table["mask"].combine_chunks().flatten().to_numpy(zero_copy_only=False).reshape(-1, width)
    return ts, values.astype(np.float32, copy=False), mask.astype(np.uint8, copy=False)


def _tail_row_groups(path: Path, rows: int) -> pa.Table:
    """Read row groups from the end of a Parquet file until they hold ``rows`` rows."""
    if not path.exists():
        raise ConfigError(f"no Parquet export at {path}; build the features first")
    reader = pq.ParquetFile(path)
    groups, count = [], 0
    for g in range(reader.num_row_groups - 1, -1, -1):
        groups.insert(0, g)
        count += reader.metadata.row_group(g).num_rows
        if count >= rows:
            break
    return pa.concat_tables([reader.read_row_group(g) for g in groups])


def _index_hours(table) -> None:
    from lancedb.index import BTree

    table.create_index("ts", config=BTree(), replace=True)


def _check_unique(table: pa.Table, what: str) -> None:
    hours = table["ts"]
    if len(hours) != len(pc.unique(hours)):
        raise StorageError(f"{what} holds an hour more than once; nothing further was written. Rebuild the entity "
                           "with `energy features build --entity ...` after checking the processed store.")


def _changed_rows(old: pa.Table, new: pa.Table) -> pa.Table | None:
    """Rows of ``new`` that are absent from ``old`` or differ; None when ``old`` has hours ``new`` lacks."""
    width = new.schema.field("values").type.list_size
    old_ts, old_values, old_mask = _numpy(old.sort_by("ts"), width)
    new_ts, new_values, new_mask = _numpy(new, width)
    if not np.isin(old_ts, new_ts).all():
        return None
    position = np.searchsorted(new_ts, old_ts)
    fresh = np.ones(len(new_ts), dtype=bool)
    unchanged = ((old_values == new_values[position]).all(axis=1)
                 & (old_mask == new_mask[position]).all(axis=1))
    fresh[position[unchanged]] = False
    return new.filter(pa.array(fresh))


def _split_points(ts: np.ndarray, splits: Splits) -> tuple[np.datetime64, np.datetime64]:
    first, last = ts[0], ts[-1]
    span = last - first

    def at(fraction: float) -> np.datetime64:
        return (first + span * fraction).astype("datetime64[D]").astype("datetime64[us]")  # a UTC midnight

    val = np.datetime64(splits.val_start.replace(tzinfo=None), "us") if splits.val_start else at(DEFAULT_SPLIT[0])
    test = (np.datetime64(splits.test_start.replace(tzinfo=None), "us") if splits.test_start
            else at(DEFAULT_SPLIT[0] + DEFAULT_SPLIT[1]))
    if not first < val <= test <= last:
        raise ConfigError(f"split points must satisfy first hour < val_start <= test_start <= last hour "
                          f"({_iso(first)} < {_iso(val)} <= {_iso(test)} <= {_iso(last)})")
    return val, test


def _train_stats(fused: Fused, val_start: np.datetime64) -> dict[str, list[float]]:
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


def _iso(moment: np.datetime64 | datetime) -> str:
    if isinstance(moment, np.datetime64):
        moment = moment.astype("datetime64[us]").item().replace(tzinfo=UTC)
    return moment.isoformat()


def _now() -> str:
    return datetime.now(UTC).isoformat()


__all__ = ["BuildInfo", "FeatureStore", "Splits"]
