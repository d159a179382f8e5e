"""The layout of a home, energy's data folder: where each part of the toolkit keeps its files.

A home is a local folder, or a lake on object storage (``s3://bucket/prefix``) shared by a team with
a local folder per machine beside it: the lake holds the processed store and the feature store, the
local folder everything that belongs to one machine (raw cache, catalog, locks, models).
Nothing else spells out a path under a home; every module asks this object.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

LOCAL_HOME_VARIABLE = "ENERGY_LOCAL_HOME"
"""Where a machine keeps its own part of a home whose lake is on object storage."""

_URI = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)

S3_LOCKING = {"conditional_put": "etag"}
"""Commits on S3 use conditional writes, so two writers never both commit one table version."""


def is_uri(where: str) -> bool:
    """Whether ``where`` names object storage (``s3://...``) rather than a local path."""
    return bool(_URI.match(where)) and not where.lower().startswith("file://")


@dataclass(frozen=True)
class Home:
    """``root`` is the local folder; ``lake``, when set, the object-storage URI of the shared lake."""

    root: Path
    lake: str | None = None

    @classmethod
    def of(cls, where: Home | Path | str) -> Home:
        """``where`` as a home: a home is returned as it is, a path becomes the home at that path, and a
        URI (``s3://bucket/prefix``) the lake there, with ``ENERGY_LOCAL_HOME`` (default: a folder under
        ``~/.cache/energy`` named after the URI) as this machine's part."""
        if isinstance(where, Home):
            return where
        text = str(where)
        if not is_uri(text):
            return cls(Path(text.removeprefix("file://")))
        lake = text.rstrip("/")
        local = os.environ.get(LOCAL_HOME_VARIABLE)
        if local:
            return cls(Path(local), lake)
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", lake.split("://", 1)[1]).strip("-")[:80]
        digest = hashlib.sha256(lake.encode()).hexdigest()[:8]
        return cls(Path.home() / ".cache" / "energy" / "lakes" / f"{slug}-{digest}", lake)

    def __str__(self) -> str:
        return self.lake or str(self.root)

    @property
    def shared(self) -> str:
        """Where the processed and feature stores live: the lake, or the local folder."""
        return self.lake or str(self.root)

    def storage_options(self) -> dict[str, str] | None:
        """Options for the lake's object store (none for a local home). Credentials and endpoint are read
        by the storage library from the standard variables (``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``,
        ...), never copied here, so no energy object holds them."""
        if self.lake is None:
            return None
        return dict(S3_LOCKING) if self.lake.lower().startswith(("s3://", "s3a://")) else {}

    @property
    def processed(self) -> str:
        """The lake of canonical observations: one Delta table per dataset under it."""
        return f"{self.shared}/lake"

    @property
    def legacy_processed(self) -> Path:
        """The processed store of energy 0.2 (partitioned Parquet files), which ``energy store migrate`` converts."""
        return self.root / "processed"

    @property
    def processed_lock(self) -> Path:
        """Held by the one process of this machine that writes the processed store (commits to the lake
        are atomic across machines; this lock keeps one machine's runs from racing each other)."""
        return self.root / ".lake.lock"

    @property
    def raw(self) -> Path:
        """The raw response cache."""
        return self.root / "raw"

    @property
    def catalog(self) -> Path:
        """The SQLite catalog of runs, windows and pending windows."""
        return self.root / "catalog.sqlite"

    @property
    def runs(self) -> Path:
        """One JSON report per run."""
        return self.root / "runs"

    def run_report(self, run_id: str) -> Path:
        return self.runs / f"{run_id}.json"

    def run_ids(self) -> list[str]:
        """The runs that left a report, oldest first."""
        return sorted(path.stem for path in self.runs.glob("*.json"))

    @property
    def features(self) -> str:
        """The LanceDB feature store (its default location), in the lake when there is one."""
        return f"{self.shared}/features"

    @property
    def feature_exports(self) -> Path:
        """One Parquet export per built entity (local to each machine, derived from the feature store)."""
        return self.root / "features" / "exports"

    @property
    def features_lock(self) -> Path:
        return self.root / ".features.lock"

    @property
    def entities_file(self) -> Path:
        """Entity definitions that override or add to the plugins' own."""
        return self.root / "entities.toml"

    @property
    def quality_flags(self) -> Path:
        return self.root / "quality" / "flags.parquet"

    def model(self, entity: str) -> Path:
        """The default checkpoint folder of an entity's model."""
        return self.root / "models" / entity

    def plot(self, name: str) -> Path:
        return self.root / "plots" / f"{name}.png"
