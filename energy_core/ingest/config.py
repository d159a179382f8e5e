"""What a run is asked to do: :class:`RunConfig`, shared by the runner and the planning helpers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from energy_core.errors import ConfigError
from energy_core.home import Home
from energy_core.ingest.retry import RetryPolicy
from energy_core.plugin.interfaces import Budget, Source


@dataclass(frozen=True)
class RunConfig:
    sources: tuple[str, ...]
    start: datetime
    end: datetime
    home: Home | Path = Path("data")
    """A folder, or a :class:`Home` (whose lake may be on object storage)."""
    regions: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    sinks: tuple[str, ...] = ("lake",)
    offline: bool = False
    simulate: bool = False
    refresh: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    env: Mapping[str, str] | None = None
    resume: bool = True
    """Also fetch the windows earlier runs planned but did not store (failed, interrupted, crashed)."""
    budgets: Mapping[str, Budget] = field(default_factory=dict)
    """Source name -> a request budget replacing the one it declares (a paid plan's higher quota, say)."""
    incremental: bool = True
    """Skip windows the store already holds, unless they are recent enough to be revised."""
    lookback: timedelta | None = None
    """How recent a window must be to be fetched again although stored (default: each source's own)."""

    def record(self) -> dict[str, Any]:
        """The configuration as the catalog keeps it: the environment (which holds keys) left out."""
        return {k: v for k, v in asdict(self).items() if k != "env"}

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            if getattr(self, name).tzinfo is None:
                raise ConfigError(f"run {name} must be timezone-aware (UTC)")
        if self.end <= self.start:
            raise ConfigError(f"run end {self.end:%Y-%m-%d %H:%M} is not after start {self.start:%Y-%m-%d %H:%M}")

    def datasets_of(self, source: type[Source]) -> tuple[str, ...]:
        """The source's datasets that the run asks for: all of them unless ``datasets`` narrows it."""
        if not self.datasets:
            return tuple(source.datasets)
        return tuple(d for d in self.datasets if d in source.datasets)
