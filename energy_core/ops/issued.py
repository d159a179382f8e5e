"""The issued-forecast log: every forecast energy issues (``energy forecast``, ``energy serve``), kept so
its accuracy can be measured once the actual values arrive.

Layout: ``<home>/forecasts/entity=<entity>/month=YYYY-MM/<issued at>-<id>.parquet``, one file per issued
forecast (one row per forecast hour), partitioned by entity and by the month it was issued in. A file
is written to a temporary name, synced and renamed to a name no other issue has: an issue is a fact,
never overwritten, and a later forecast of the same hours is another issue. A reader lists finished
files only, so it never sees half of one. Once a month is over, its files are merged into one.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, unquote

import polars as pl

from energy_core.errors import ConfigError, StorageError
from energy_core.home import Home

CHECKPOINT = "checkpoint.json"
"""The record ``energy train`` writes last into a model folder (it commits the checkpoint)."""
_HOUR = timedelta(hours=1)
_STALE_TMP_S = 3600.0
"""A temporary file older than this was left by a writer that died; the next write there removes it."""

_UTC = pl.Datetime("us", "UTC")
ISSUED_SCHEMA = pl.Schema({
    "issue_id": pl.String(), "issued_at": _UTC, "entity": pl.String(), "issuer": pl.String(), "model": pl.String(),
    "model_digest": pl.String(), "model_epoch": pl.Int64(), "feature_build": pl.Int64(), "data_through": _UTC,
    "target": pl.String(), "ts": _UTC, "lead_hours": pl.Int64(), "value": pl.Float64(),
    "p10": pl.Float64(), "p50": pl.Float64(), "p90": pl.Float64(),
})
"""One row per forecast hour: ``issue_id`` names the forecast the row belongs to, ``ts`` is the hour forecast,
``lead_hours`` how far it lies after ``data_through`` (the last hour the forecast read), ``value`` the forecast
in the target's units and ``p10``, ``p50``, ``p90`` its quantiles (null when the model gave none)."""
BANDS = ("p10", "p50", "p90")
"""The quantile columns of a forecast frame (those of :data:`energy_core.ml.evaluate.BANDS`, named here so
that reading the log needs no MLX)."""


class Issuer(enum.StrEnum):
    """What issued a forecast."""

    API = "api"
    """``energy serve``, on the first request after the data or the model changed."""
    CLI = "cli"
    """``energy forecast``."""


@dataclass(frozen=True)
class ModelIdentity:
    """Which trained model a forecast came from: its folder, a digest of its checkpoint record (which
    changes whenever training writes new weights) and the epoch whose weights forecast."""

    path: str
    digest: str
    epoch: int
    entity: str
    trained_build: int
    """The feature-store build the model was trained on."""

    @classmethod
    def of(cls, model_dir: Path) -> ModelIdentity:
        record = model_dir / CHECKPOINT
        try:
            raw = record.read_bytes()
        except FileNotFoundError:
            raise ConfigError(f"no checkpoint in {model_dir}; train one with `energy train`") from None
        meta = json.loads(raw)
        state = meta["state"]
        return cls(path=str(model_dir), digest=hashlib.sha256(raw).hexdigest()[:16],
                   epoch=int(state.get("best_epoch") or state["epoch"]), entity=meta["feature_store"]["entity"],
                   trained_build=int(meta["feature_store"]["build"]))


@dataclass(frozen=True)
class Issue:
    """One issued forecast: ``values[i]`` is the forecast for hour ``ts[i]`` (UTC)."""

    entity: str
    issued_at: datetime
    issuer: Issuer
    model: ModelIdentity
    feature_build: int | None
    """The feature-store build whose hours the forecast read (None when not known)."""
    data_through: datetime
    """The last hour the forecast read; its hours follow it."""
    target: str
    ts: tuple[datetime, ...]
    values: tuple[float, ...]
    bands: dict[str, tuple[float, ...]] = field(default_factory=dict)
    """Quantile column (of :data:`BANDS`) -> its value for each hour."""
    issue_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    """Unique to this issue (two issues may share an instant)."""

    @classmethod
    def of(cls, frame: pl.DataFrame, *, entity: str, issuer: Issuer, model: ModelIdentity,
           feature_build: int | None, issued_at: datetime | None = None) -> Issue:
        """An issue from a forecast frame as :func:`energy_core.ml.forecast` returns it: ``ts``, a column
        named after the target, and any of the quantile columns :data:`BANDS`."""
        if frame.width < 2 or frame.columns[0] != "ts" or not set(frame.columns[2:]) <= set(BANDS):
            raise ConfigError(f"a forecast frame has columns ts, the target and any of {', '.join(BANDS)}, not "
                              f"{frame.columns}")
        if frame.height == 0:
            raise ConfigError("a forecast frame with no hours is no forecast")
        ts = tuple(frame["ts"].to_list())
        return cls(entity=entity, issued_at=issued_at or datetime.now(UTC), issuer=issuer, model=model,
                   feature_build=feature_build, data_through=ts[0] - _HOUR, target=frame.columns[1], ts=ts,
                   values=tuple(float(v) for v in frame[frame.columns[1]].to_list()),
                   bands={band: tuple(float(v) for v in frame[band].to_list()) for band in frame.columns[2:]})

    def frame(self) -> pl.DataFrame:
        """The issue as rows of :data:`ISSUED_SCHEMA`."""
        return pl.DataFrame({
            "issue_id": self.issue_id, "issued_at": [self.issued_at] * len(self.ts), "entity": self.entity,
            "issuer": str(self.issuer),
            "model": self.model.path, "model_digest": self.model.digest, "model_epoch": self.model.epoch,
            "feature_build": self.feature_build, "data_through": self.data_through, "target": self.target,
            "ts": list(self.ts), "lead_hours": [(t - self.data_through) // _HOUR for t in self.ts],
            "value": list(self.values), **{band: list(self.bands.get(band, [None] * len(self.ts))) for band in BANDS},
        }, schema=ISSUED_SCHEMA)


def log_root(home: Home | Path) -> Path:
    """Where the issued forecasts of a home are kept."""
    return Home.of(home).root / "forecasts"


def _entity_dir(home: Home | Path, entity: str) -> Path:
    # quoted, so no entity name can leave the folder (a "/" becomes %2F; "entity=" keeps ".." a plain name)
    return log_root(home) / f"entity={quote(entity, safe='')}"


def record(home: Home | Path, issue: Issue) -> Path:
    """Store ``issue`` under a name of its own, whole or not at all; return its path. The first issue of
    a month compacts the entity's earlier months (see :func:`compact`)."""
    directory = _entity_dir(home, issue.entity) / f"month={issue.issued_at:%Y-%m}"
    new_month = not directory.exists()
    path = _write(issue.frame(), directory, f"{issue.issued_at:%Y%m%dT%H%M%S%fZ}-{issue.issue_id}.parquet",
                  f"the forecast issued for {issue.entity}")
    if new_month:
        compact(home, issue.entity, before=issue.issued_at)
    return path


def compact(home: Home | Path, entity: str, *, before: datetime) -> int:
    """Merge the issue files of each of ``entity``'s months before the month of ``before`` into one file;
    return how many files were merged away. A server issuing every hour leaves about 720 files a month.

    The merged file is written whole before the files it holds are removed, and readers drop rows they
    see twice (:func:`issued`), so a crash between the two, or two processes compacting at once, loses
    and duplicates nothing.
    """
    current = f"month={before.astimezone(UTC):%Y-%m}"
    merged = 0
    for month in sorted(_entity_dir(home, entity).glob("month=*")):
        parts = _finished(month) if month.name < current else []
        if len(parts) < 2:
            continue
        frame = (pl.read_parquet(parts, schema=ISSUED_SCHEMA, missing_columns="insert")
                 .unique(["issue_id", "ts"], keep="first").sort("issued_at", "issue_id", "ts"))
        _write(frame, month, f"compacted-{uuid.uuid4().hex}.parquet", f"the forecasts issued for {entity}")
        for part in parts:
            part.unlink(missing_ok=True)
        merged += len(parts) - 1
    return merged


def _write(frame: pl.DataFrame, directory: Path, name: str, what: str) -> Path:
    """Write ``frame`` to ``directory/name`` through a synced temporary file: whole or not at all."""
    path, tmp = directory / name, directory / f".tmp-{uuid.uuid4().hex}.parquet"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(directory)
        with open(tmp, "wb") as fh:
            frame.write_parquet(fh, compression="zstd")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise StorageError(f"could not record {what} in {directory}: {exc.strerror or exc}; check free disk "
                           "space and permissions") from None
    return path


def _remove_stale_temporaries(directory: Path) -> None:
    """Another process may be writing here right now: only temporaries an hour old are removed."""
    limit = time.time() - _STALE_TMP_S
    for stale in directory.glob(".tmp-*"):
        with contextlib.suppress(OSError):
            if stale.stat().st_mtime < limit:
                stale.unlink()


def entities(home: Home | Path) -> list[str]:
    """The entities with at least one issued forecast."""
    root = log_root(home)
    if not root.is_dir():
        return []
    return sorted(unquote(p.name.removeprefix("entity=")) for p in root.glob("entity=*") if p.is_dir())


def files(home: Home | Path, entity: str, *, since: datetime | None = None) -> list[Path]:
    """The finished issue files of ``entity``, oldest first (those of months before ``since`` left out)."""
    first_month = f"month={since.astimezone(UTC):%Y-%m}" if since is not None else ""
    return [path for month in sorted(_entity_dir(home, entity).glob("month=*")) if month.name >= first_month
            for path in _finished(month)]


def _finished(month: Path) -> list[Path]:
    return [path for path in sorted(month.glob("*.parquet")) if not path.name.startswith(".")]


def issued(home: Home | Path, entity: str, *, since: datetime | None = None,
           until: datetime | None = None) -> pl.DataFrame:
    """Every forecast issued for ``entity`` (issued at or after ``since`` and before ``until``), one row
    per forecast hour in the columns of :data:`ISSUED_SCHEMA`, sorted by issue time and hour."""
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.tzinfo is None:
            raise ConfigError(f"{name} must be timezone-aware (UTC), not {moment}")
    paths = files(home, entity, since=since)
    if not paths:
        return ISSUED_SCHEMA.to_frame()
    frame = (pl.read_parquet(paths, schema=ISSUED_SCHEMA, missing_columns="insert")  # a column added later: null
             .unique(["issue_id", "ts"], keep="first"))  # a compaction under way shows some issues twice
    if since is not None:
        frame = frame.filter(pl.col("issued_at") >= since)
    if until is not None:
        frame = frame.filter(pl.col("issued_at") < until)
    return frame.sort("issued_at", "issue_id", "ts")


@dataclass(frozen=True)
class Accuracy:
    """How far issued forecasts were from what happened, over the hours whose actual value is known."""

    hours: int
    """Forecast hours scored (an hour forecast by several issues counts once per issue)."""
    issues: int
    mae: float
    mape: float
    """Percent; hours whose actual value is zero are left out."""


def accuracy(issues: pl.DataFrame, actual: pl.DataFrame) -> Accuracy | None:
    """Score ``issues`` (rows of :func:`issued`) against ``actual`` (``ts``, ``actual``); None when no
    forecast hour has an actual value yet."""
    scored = issues.join(actual, on="ts", how="inner").filter(pl.col("actual").is_not_null())
    if scored.height == 0:
        return None
    error = (pl.col("value") - pl.col("actual")).abs()
    row = scored.select(
        mae=error.mean(), mape=(error / pl.col("actual").abs()).filter(pl.col("actual") != 0).mean() * 100,
        issues=pl.col("issued_at").n_unique()).row(0, named=True)
    return Accuracy(hours=scored.height, issues=int(row["issues"]), mae=float(row["mae"]),
                    mape=float(row["mape"]) if row["mape"] is not None else float("nan"))
