"""The layout of a home, energy's data folder: where each part of the toolkit keeps its files.

Nothing else spells out a path under a home; every module asks this object.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def of(cls, where: Home | Path | str) -> Home:
        """``where`` as a home: a home is returned as it is, a path becomes the home at that path."""
        return where if isinstance(where, Home) else cls(Path(where))

    @property
    def processed(self) -> Path:
        """The Parquet store of canonical observations."""
        return self.root / "processed"

    @property
    def processed_lock(self) -> Path:
        """Held by the one process that writes the processed store."""
        return self.processed / ".lock"

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
    def features(self) -> Path:
        """The LanceDB feature store (its default location)."""
        return self.root / "features"

    @property
    def feature_exports(self) -> Path:
        """One Parquet export per built entity."""
        return self.features / "exports"

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
