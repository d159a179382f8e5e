"""LanceDB I/O: one table per entity (``ts``, ``values`` and ``mask`` as fixed-size lists, one slot
per feature), written by merging changed hours or replacing the table, and read back as numpy."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from energy_core.crash_points import fault_point
from energy_core.errors import StorageError

if TYPE_CHECKING:
    from lancedb.db import DBConnection
    from lancedb.table import Table

    from energy_core.features.fusion import Fused

LOG_VARIABLE = "LANCEDB_LOG"
"""The level of Lance's Rust logger, which has no Python switch: it reads the variable when lancedb is
first imported, so the setting is made just before that and stays for the rest of the process."""


def connect(uri: str) -> DBConnection:
    """Open the LanceDB database at ``uri``. Lance's routine warnings ("no existing dataset at ..., it
    will be created") are silenced unless the user set :data:`LOG_VARIABLE` themselves."""
    os.environ.setdefault(LOG_VARIABLE, "error")
    import lancedb  # imported here: it takes a second, which commands that never read features should not pay

    return lancedb.connect(uri)


def table_name(entity: str) -> str:
    return "entity_" + re.sub(r"[^A-Za-z0-9_]", "_", entity)


def has_table(db: DBConnection, name: str) -> bool:
    return name in db.list_tables().tables


def write_rows(db: DBConnection, name: str, fused: Fused, incremental: bool) -> int:
    """Merge only new or changed hours when ``incremental`` (the feature list is unchanged), otherwise
    replace the table; return how many rows were written.

    Each write is one LanceDB commit: a crash before it leaves the previous version, which is what the
    last build record points at. The hour key is checked unique before and after.
    """
    rows = to_arrow(fused.ts, fused.values, fused.mask)
    _check_unique(rows, f"features for {name} before writing")
    if incremental and has_table(db, name):
        table = db.open_table(name)
        changed = _changed_rows(table.to_arrow(), rows)
        if changed is not None:
            if changed.num_rows:
                fault_point("lance_before_commit")
                table.merge_insert("ts").when_matched_update_all().when_not_matched_insert_all().execute(changed)
                _index_hours(table)
                merged = table.search().select(["ts"]).limit(None).to_arrow()
                _check_unique(merged, f"LanceDB table {name} after the merge")
            return changed.num_rows
    fault_point("lance_before_commit")
    table = db.create_table(name, rows, mode="overwrite")
    _index_hours(table)
    return rows.num_rows


def read_version(db: DBConnection, name: str, version: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every row of table ``name`` as of ``version``, sorted by hour: ts, values and mask."""
    table = db.open_table(name)
    table.checkout(version)
    return to_numpy(table.to_arrow().sort_by("ts"), width)


def read_since(db: DBConnection, name: str, cut: np.datetime64) -> pa.Table:
    """The rows of table ``name`` from hour ``cut`` on, found through the ``ts`` index."""
    where = f"ts >= timestamp '{str(cut).replace('T', ' ')}'"
    return db.open_table(name).search().where(where).limit(None).to_arrow()


def to_arrow(ts: np.ndarray, values: np.ndarray, mask: np.ndarray) -> pa.Table:
    """Unobserved slots are stored as 0 (the mask says they are gaps): LanceDB refuses NaN in vectors."""
    width = values.shape[1]
    values = np.where(mask.astype(bool), values, 0).astype(np.float32)
    return pa.table({
        "ts": pa.array(ts.astype("datetime64[us]"), pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC")),
        "values": pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), width),
        "mask": pa.FixedSizeListArray.from_arrays(pa.array(mask.reshape(-1)), width),
    })


def to_numpy(table: pa.Table, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ts (n,) datetime64[us], values (n, width) float32 and mask (n, width) uint8 of a feature table."""
    ts = table["ts"].to_numpy().astype("datetime64[us]")
    values = table["values"].combine_chunks().flatten().to_numpy(zero_copy_only=False).reshape(-1, width)
    mask = table["mask"].combine_chunks().flatten().to_numpy(zero_copy_only=False).reshape(-1, width)
    return ts, values.astype(np.float32, copy=False), mask.astype(np.uint8, copy=False)


def _index_hours(table: Table) -> None:
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
    old_ts, old_values, old_mask = to_numpy(old.sort_by("ts"), width)
    new_ts, new_values, new_mask = to_numpy(new, width)
    if not np.isin(old_ts, new_ts).all():
        return None
    position = np.searchsorted(new_ts, old_ts)
    fresh = np.ones(len(new_ts), dtype=bool)
    unchanged = ((old_values == new_values[position]).all(axis=1)
                 & (old_mask == new_mask[position]).all(axis=1))
    fresh[position[unchanged]] = False
    return new.filter(pa.array(fresh))

