"""The thresholds of the per-series quality checks, apart from the checks themselves so that
``energy quality --help`` can show them without loading polars."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QualityConfig:
    stuck_hours: int = 24
    """A non-zero value repeated for this many consecutive hours is flagged."""
    outlier_z: float = 6.0
    """How many typical hourly changes a consumption value may sit from its neighbours' median."""
