"""An entity's latest hours as one consistent snapshot, read from its feature export.

The export (``<home>/features/exports/<entity>.parquet``) is replaced atomically at the end of every
build and carries that build's record in its metadata, so one open file holds the rows and the record
that describe them: a reader never pairs one build's rows with another's statistics or feature list,
which reading LanceDB and the build records separately could do while a build commits. The file's
identity (inode, size, modification time) says cheaply whether a newer build has landed.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from energy_core.errors import ConfigError
from energy_core.features.lance import to_numpy
from energy_core.features.records import BuildInfo
from energy_core.home import Home

Stamp = tuple[int, int, int, int]
"""A file's identity: device, inode, size and modification time (ns). A new build is a new file."""

_ENTITY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,127}")


class UnknownEntityError(ConfigError, LookupError):
    """No build of the entity is exported; the message lists those that are."""


def built_entities(home: Home | Path) -> list[str]:
    """The entities whose latest build is exported."""
    folder = Home.of(home).feature_exports
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.parquet") if not p.name.startswith("."))


def export_path(home: Home | Path, entity: str) -> Path:
    """The export of ``entity``; a name that is not an entity's (a path, say) is refused."""
    if not _ENTITY.fullmatch(entity) or ".." in entity:
        raise UnknownEntityError(f"{entity!r} is not an entity name (letters, digits and _.@+- only)")
    return Home.of(home).feature_exports / f"{entity}.parquet"


def stamp(path: Path) -> Stamp | None:
    """The identity of the file at ``path``, None when there is none."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


@dataclass(frozen=True)
class Snapshot:
    """The last hours of one build of an entity: its record, and ts (n,), values (n, F) float32 and
    mask (n, F) uint8 as :meth:`energy_core.features.FeatureStore.arrays` returns them."""

    info: BuildInfo
    stamp: Stamp
    ts: np.ndarray
    values: np.ndarray
    mask: np.ndarray

    def last(self, hours: int) -> Snapshot:
        """The last ``hours`` of the snapshot (all of it when it holds fewer)."""
        n = min(hours, len(self.ts))
        return Snapshot(self.info, self.stamp, self.ts[-n:], self.values[-n:], self.mask[-n:])

    def frame(self) -> pl.DataFrame:
        """One column per feature in its units, null where unobserved; ``ts`` first (UTC)."""
        shown = np.where(self.mask.astype(bool), self.values, np.nan)
        frame = pl.DataFrame(shown, schema=self.info.features, orient="row").fill_nan(None)
        return frame.insert_column(0, pl.Series("ts", self.ts).dt.replace_time_zone("UTC"))

    def target(self) -> pl.DataFrame:
        """``ts`` and the build's target, observed hours only."""
        column = self.info.features.index(self.info.target)
        observed = self.mask[:, column].astype(bool)
        return pl.DataFrame({"ts": pl.Series(self.ts[observed]).dt.replace_time_zone("UTC"),
                             "actual": self.values[observed, column].astype(np.float64)})


def read(home: Home | Path, entity: str, hours: int) -> Snapshot:
    """The last ``hours`` (or fewer, when the build holds fewer) of ``entity``'s latest build."""
    path = export_path(home, entity)
    try:
        with open(path, "rb") as fh:  # everything below reads this one file, whatever replaces its name meanwhile
            st = os.fstat(fh.fileno())
            reader = pq.ParquetFile(fh)
            info = BuildInfo(**json.loads(reader.schema_arrow.metadata[b"energy.build"]))
            groups: list[int] = []
            count = 0
            for group in range(reader.num_row_groups - 1, -1, -1):  # sorted by hour: the last groups are the latest
                groups.insert(0, group)
                count += reader.metadata.row_group(group).num_rows
                if count >= hours:
                    break
            rows = pa.concat_tables([reader.read_row_group(g) for g in groups]) if groups else reader.read()
    except FileNotFoundError:
        built = built_entities(home)
        raise UnknownEntityError(f"no features built for entity {entity!r}; build them with `energy features build "
                                 f"--entity {entity}` (built: {', '.join(built) or 'none'})") from None
    ts, values, mask = to_numpy(rows, len(info.features))
    snapshot = Snapshot(info, (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns), ts, values, mask)
    return snapshot.last(hours)
