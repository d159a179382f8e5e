"""Build records: the ``_builds`` table of the feature store, one row per build of an entity.

A record holds the feature list, the per-feature normalization statistics (computed on the training
period only), the split boundaries, the runs the build came from and the LanceDB table version it
wrote, so a reader always sees the rows of the last finished build.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from lancedb.db import DBConnection

BUILDS_TABLE = "_builds"
_JSON_FIELDS = ("features", "stats", "splits", "runs")
"""Fields stored as JSON text (LanceDB columns hold scalars)."""


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
    as_of: str | None = None
    """Built from the data as it was known at this time (ISO UTC); None: the latest known."""


def append(db: DBConnection, info: BuildInfo) -> None:
    record = {k: json.dumps(v) if k in _JSON_FIELDS else v for k, v in asdict(info).items()}
    if BUILDS_TABLE in db.list_tables().tables:
        table = db.open_table(BUILDS_TABLE)
        missing = [name for name in record if name not in table.schema.names]
        if missing:  # a record field added after this store was made (``as_of``): null for the older builds
            table.add_columns({name: "CAST(NULL AS STRING)" for name in missing})
        table.add([record])
    else:
        db.create_table(BUILDS_TABLE, [record])


def latest(db: DBConnection, entity: str) -> BuildInfo | None:
    """The newest build record of ``entity``, None when it was never built."""
    if BUILDS_TABLE not in db.list_tables().tables:
        return None
    builds = pl.DataFrame(db.open_table(BUILDS_TABLE).to_arrow()).filter(entity=entity)
    if not builds.height:
        return None
    row = builds.sort("build").row(-1, named=True)
    return BuildInfo(**{k: json.loads(v) if k in _JSON_FIELDS else v for k, v in row.items()})


def built_entities(db: DBConnection) -> list[str]:
    if BUILDS_TABLE not in db.list_tables().tables:
        return []
    return sorted(set(db.open_table(BUILDS_TABLE).to_arrow()["entity"].to_pylist()))


def last_built(db: DBConnection) -> dict[str, float]:
    """Entity -> when (POSIX seconds) its last build ran, from one read of the records."""
    built: dict[str, float] = {}
    if BUILDS_TABLE in db.list_tables().tables:
        builds = db.open_table(BUILDS_TABLE).to_arrow()
        for entity, at in zip(builds["entity"].to_pylist(), builds["built_at"].to_pylist(), strict=True):
            built[entity] = max(built.get(entity, 0.0), datetime.fromisoformat(at).timestamp())
    return built
