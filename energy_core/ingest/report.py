"""What a run did: each window's outcome, rows received per series, requests, gaps, as the run report."""

from __future__ import annotations

import enum
import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from energy_core.errors import StorageError
from energy_core.plugin.interfaces import Window


class WindowStatus(enum.StrEnum):
    """What became of a window a run planned to fetch."""

    OK = "ok"
    """Fetched and stored."""
    EMPTY = "empty"
    """Fetched; the service had no rows for it."""
    FAILED = "failed"
    SKIPPED = "skipped"
    """Not attempted: an earlier window's error (a refused key, a spent quota) would repeat."""
    INTERRUPTED = "interrupted"
    """Not started: the run was asked to stop; the next run resumes it."""

    @property
    def succeeded(self) -> bool:
        return self in (WindowStatus.OK, WindowStatus.EMPTY)


@dataclass
class WindowOutcome:
    spec: Window
    status: WindowStatus
    rows: int = 0
    from_cache: bool = False
    error: str | None = None
    seconds: float = 0.0
    requests: list[str] = field(default_factory=list)
    """The requests this window made as reports show them (credentials removed; ``cache:`` marks
    cache hits): see :meth:`energy_core.ingest.client.RequestRecord.describe`."""
    retrieved_at: list[datetime] = field(default_factory=list)
    """When each of its batches was retrieved: the ``retrieved_at`` its stored rows carry."""

    @property
    def source(self) -> str:
        return self.spec.source

    @property
    def window(self) -> str:
        return self.spec.describe()


@dataclass
class RunReport:
    run_id: str
    started_at: datetime
    sources: tuple[str, ...]
    start: datetime
    end: datetime
    windows: list[WindowOutcome] = field(default_factory=list)
    series_rows: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    """Rows received per (dataset, region, series)."""
    resumed: int = 0
    """Windows taken over from earlier runs that did not store them."""
    skipped: list[Window] = field(default_factory=list)
    """Windows not fetched because the store already holds them (incremental runs)."""
    rows_stored: int = 0
    requests: dict[str, dict[str, float]] = field(default_factory=dict)
    gaps: dict[tuple[str, str, str], int] = field(default_factory=dict)
    """Hours missing in the requested range per (dataset, region, series)."""
    warnings: list[str] = field(default_factory=list)
    finished_at: datetime | None = None

    @property
    def failed(self) -> list[WindowOutcome]:
        return [w for w in self.windows if not w.status.succeeded]

    @property
    def rows(self) -> Counter[tuple[str, str]]:
        """Rows received per (dataset, region)."""
        return _per_region(self.series_rows)

    @property
    def skipped_stored(self) -> int:
        return len(self.skipped)

    @property
    def interrupted(self) -> bool:
        return any(w.status is WindowStatus.INTERRUPTED for w in self.windows)

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["rows"] = [{"dataset": d, "region": r, "rows": n} for (d, r), n in sorted(self.rows.items())]
        data["series_rows"] = [{"dataset": d, "region": r, "series": s, "rows": n}
                               for (d, r, s), n in sorted(self.series_rows.items())]
        data["gaps"] = [{"dataset": d, "region": r, "series": s, "missing_hours": n}
                        for (d, r, s), n in sorted(self.gaps.items())]
        for entry, outcome in zip(data["windows"], self.windows, strict=True):
            entry.update(source=outcome.source, window=outcome.window)
        data["ok"] = self.ok
        return data

    def write(self, path: Path) -> None:
        """Write the report as JSON (``<home>/runs/<run_id>.json``), whole or not at all."""
        tmp = path.with_name(f".tmp-{path.name}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(self.to_json(), indent=2, default=str))
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StorageError(f"could not write the run report {path}: {exc.strerror or exc}; what the run stored "
                               "is stored and recorded in the catalog") from None


def _per_region(series_rows: Counter[tuple[str, str, str]]) -> Counter[tuple[str, str]]:
    rows: Counter[tuple[str, str]] = Counter()
    for (dataset, region, _), n in series_rows.items():
        rows[(dataset, region)] += n
    return rows


