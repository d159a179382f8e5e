"""The feature store: fused entities in LanceDB, a Parquet export of each, and a record of every build.

:class:`FeatureStore` is the one object callers use; the work is done by the modules beside it:
:mod:`~energy_core.features.entities` (what to fuse), :mod:`~energy_core.features.build` (fuse, write,
record, export), :mod:`~energy_core.features.lance` (table I/O), :mod:`~energy_core.features.records`
(the ``_builds`` table), :mod:`~energy_core.features.export` (Parquet) and
:mod:`~energy_core.features.serving` (training windows and the live context as MLX arrays).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pluggy
import polars as pl

from energy_core.errors import ConfigError
from energy_core.features import export, lance, records
from energy_core.features.build import build_entities
from energy_core.features.entities import Entity, StoredRegions, read_config, resolve, touched
from energy_core.features.records import BuildInfo, Splits
from energy_core.features.vintages import Vintages, vintages
from energy_core.home import Home
from energy_core.plugin.contributions import EntitySpec
from energy_core.plugin.manager import get_plugin_manager
from energy_core.plugin.registry import entities as contributed_entities
from energy_core.storage.flags import masked_hours
from energy_core.storage.lake import Lake

if TYPE_CHECKING:
    from energy_core.features.serving import Batch, Context

Arrays = tuple[BuildInfo, np.ndarray, np.ndarray, np.ndarray]
"""A build's record, ts (n,), values (n, F) float32 and mask (n, F) uint8."""


class FeatureStore:
    """Build and serve fused, normalized training data.

    :param home: energy's data folder.
    :param uri: where the feature store lives, any location LanceDB accepts (default ``<home>/features``).
    :param entities: entity definitions over ``<home>/entities.toml`` (the ``[entities]`` of ``energy.toml``).
    :param plugins: the plugin manager whose plugins define the entities (default: the installed plugins,
        less those in ``ENERGY_DISABLE_PLUGINS``); loaded only when a build needs it.
    :param exports: where builds export Parquet (default ``<home>/features/exports``); a store at another
        ``uri``, such as a backtest's, gives its own so it leaves the home's exports alone.
    """

    def __init__(self, home: Home | Path | str = "data", *, uri: str | None = None,
                 entities: Mapping[str, Mapping[str, Any]] | None = None,
                 plugins: pluggy.PluginManager | None = None, exports: Path | None = None) -> None:
        self.home = Home.of(home)
        self.entity_config = dict(entities or {})
        self.uri = uri or str(self.home.features)
        self.exports = exports or self.home.feature_exports
        self._plugins = plugins
        self._contributed: tuple[tuple[tuple[str, int], ...], dict[str, EntitySpec]] | None = None
        """The plugins' entities and the state of the lake (its tables' versions) they saw."""
        self._db = lance.connect(self.uri)
        self._cache: dict[tuple[str, int], Arrays] = {}
        self._vintages: dict[tuple[str, int], Vintages] = {}

    # -- building ---------------------------------------------------------------------------------

    def definitions(self) -> dict[str, Entity]:
        """Every entity that can be built now: those the plugins define for the stored data, with the
        configured ones over them."""
        processed = Lake(self.home)
        state = tuple(processed.versions().items())
        if self._contributed is None or self._contributed[0] != state:  # the plugins read the store: ask again
            self._plugins = self._plugins or get_plugin_manager()
            self._contributed = state, contributed_entities(self._plugins, StoredRegions(processed))
        return resolve(self._contributed[1], read_config(self.home, self.entity_config))

    def touched(self, stored: Iterable[tuple[str, str]]) -> list[str]:
        """The entities that select any of the (dataset, region) pairs ``stored``, e.g. a run's."""
        return touched(self.definitions(), stored)

    def build(self, entities: list[str] | None = None, *, splits: Splits | None = None,
              runs: list[str] | None = None, on_built: Callable[[BuildInfo], object] | None = None,
              as_of: datetime | None = None) -> list[BuildInfo]:
        """Fuse and store ``entities`` (default: every entity of :meth:`definitions`); ``splits`` default
        to 80% train, 10% validation, 10% test. ``as_of`` builds from the data as it was known then (a
        reproduction of an earlier state; the next plain build returns to the latest). ``on_built`` hears of
        each entity as its build ends."""
        defined = self.definitions()
        names = list(defined) if entities is None else entities
        if entities is None and not defined:
            raise ConfigError("no entities to build: no plugin defines one for the stored data and none is "
                              f"configured in {self.home.entities_file}; run `energy run` for a source first")
        unknown = [name for name in names if name not in defined]
        if unknown:
            raise ConfigError(f"unknown entit{'y' if len(unknown) == 1 else 'ies'} {', '.join(map(repr, unknown))}: "
                              f"the plugins define {', '.join(defined) or 'none'} for the stored data; store its data "
                              f"with `energy run` or define it in {self.home.entities_file}")
        return build_entities(self._db, self.home, [defined[name] for name in names], splits=splits or Splits(),
                           runs=self.home.run_ids() if runs is None else runs, exports=self.exports,
                           on_built=on_built, as_of=as_of)

    def behind(self, entities: list[str] | None = None) -> bool:
        """Whether the processed store changed after the last build of ``entities`` (default: those built;
        when none is, whether anything is stored)."""
        changed = Lake(self.home).changed_at()
        if changed is None:
            return False
        built = records.last_built(self._db)
        names = list(built) if entities is None else entities
        if entities is None and not built:
            return bool(self.definitions())  # stored data that no entity selects needs no build
        return any(built.get(name, 0.0) < changed for name in names)

    # -- reading -----------------------------------------------------------------------------------

    def entities(self) -> list[str]:
        """The entities built so far."""
        return records.built_entities(self._db)

    def latest(self, entity: str) -> BuildInfo:
        """The newest build record of ``entity``."""
        info = records.latest(self._db, entity)
        if info is None:
            raise ConfigError(f"no features built for entity {entity!r}; run `energy features build --entity "
                              f"{entity}` (built: {', '.join(self.entities()) or 'none'})")
        return info

    def arrays(self, entity: str) -> Arrays:
        """The latest build of ``entity``: its record, ts (n,), values (n, F) float32 and mask (n, F) uint8."""
        info = self.latest(entity)
        key = (entity, info.build)
        if key not in self._cache:
            ts, values, mask = lance.read_version(self._db, lance.table_name(entity), info.table_version,
                                                  len(info.features))
            self._cache = {key: (info, ts, values, mask)}  # one entity at a time: memory stays one array
        return self._cache[key]

    def vintages(self, entity: str) -> Vintages:
        """The values that revisions replaced in the latest build of ``entity``, with when each was known: what
        point-in-time windows are patched with (see :mod:`energy_core.features.vintages`)."""
        info, ts, _, _ = self.arrays(entity)
        key = (entity, info.build)
        if key not in self._vintages:
            definitions = self.definitions()
            if entity not in definitions:
                raise ConfigError(f"{entity!r} is built but no longer defined, so its stored series are unknown; "
                                  f"point-in-time windows need its definition (defined: {', '.join(definitions)})")
            self._vintages = {key: vintages(Lake(self.home), definitions[entity], info.features, ts,
                                            masked_hours(self.home))}
        return self._vintages[key]

    def latest_hours(self, entity: str, hours: int, *, source: str = "lancedb") -> Arrays:
        """The last ``hours`` rows of the latest build, read from LanceDB (``ts`` index, the build's last
        hour as the watermark) or from the Parquet export (only its last row groups)."""
        info = self.latest(entity)
        cut = np.datetime64(info.last_ts[:19], "us") - np.timedelta64(hours - 1, "h")
        if source == "lancedb":
            rows = lance.read_since(self._db, lance.table_name(entity), cut)
        elif source == "parquet":
            rows = export.tail(self.exports / f"{entity}.parquet", hours)
        else:
            raise ConfigError(f"source must be 'lancedb' or 'parquet', not {source!r}")
        ts, values, mask = lance.to_numpy(rows.sort_by("ts"), len(info.features))
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

    def get_training_sequences(self, entity: str, seq_len: int = 8760, stride: int = 24,
                               features: list[str] | None = None, split: str = "train", batch_size: int = 8,
                               horizon: int = 24, target: str | None = None,
                               shuffle_seed: int | None = None, point_in_time: bool = False) -> Iterator[Batch]:
        """Batches of windows (see :mod:`energy_core.features.serving`); ``shuffle_seed`` draws windows
        in a random order (each batch then copies its own windows); ``point_in_time`` gives each window
        the values known at its issue time (see :meth:`vintages`)."""
        from energy_core.features.serving import training_sequences  # MLX: only for those who serve

        return training_sequences(*self.arrays(entity), seq_len=seq_len, stride=stride, features=features,
                                  split=split, batch_size=batch_size, horizon=horizon, target=target,
                                  shuffle_seed=shuffle_seed, vintages=self.vintages(entity) if point_in_time else None)

    def get_real_time_context(self, entity: str, lookback_hours: int = 168, features: list[str] | None = None,
                              *, source: str = "lancedb") -> Context:
        """The latest ``lookback_hours`` of ``entity``, normalized like a training window."""
        from energy_core.features.serving import real_time_context

        return real_time_context(*self.latest_hours(entity, lookback_hours, source=source), features=features)


__all__ = ["BuildInfo", "FeatureStore", "Splits"]
