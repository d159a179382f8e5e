"""What ``energy monitor`` holds a home to: freshness and completeness objectives per dataset and region,
and the limits of the other checks.

An objective comes from ``energy.toml`` (``[[monitor.objectives]]``, a table) or from ``--objective``
(the same keys as ``key=value`` words)::

    [[monitor.objectives]]
    dataset = "eia.region"
    series = "demand"
    regions = ["PACW", "CISO"]   # default: every region stored for the dataset
    max_age = "3h"               # the last value is for an hour that ended at most 3 hours ago
    max_gap = "2h"               # no run of missing hours longer than 2 hours ...
    within = "7d"                # ... in the last 7 days (the default)
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from energy_core.errors import ConfigError

_PART = re.compile(r"(\d+(?:\.\d+)?)([dhm])")
_UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}
_KEYS = ("dataset", "region", "regions", "series", "max_age", "max_gap", "within")


def parse_duration(text: str, what: str = "a duration") -> timedelta:
    """``"3h"``, ``"90m"``, ``"2d"``, ``"1h30m"`` as a timedelta; anything else is refused."""
    compact = text.replace(" ", "").lower() if isinstance(text, str) else ""
    if not compact or _PART.sub("", compact):
        raise ConfigError(f"{what} must be a duration such as 3h, 90m, 2d or 1h30m, not {text!r}")
    total = sum((float(n) * _UNITS[unit] for n, unit in _PART.findall(compact)), timedelta())
    if total <= timedelta():
        raise ConfigError(f"{what} must be longer than zero, not {text!r}")
    return total


def hours(span: timedelta) -> float:
    return span / timedelta(hours=1)


def describe_duration(span: timedelta) -> str:
    """``3 h``, ``90 min``, ``7 d``: how messages show a limit."""
    if span % timedelta(days=1) == timedelta() and span >= timedelta(days=2):
        return f"{span // timedelta(days=1)} d"
    if span % timedelta(hours=1) == timedelta():
        return f"{span // timedelta(hours=1)} h"
    return f"{span / timedelta(minutes=1):g} min"


@dataclass(frozen=True)
class Objective:
    """A freshness limit, a completeness limit or both, for one dataset (one series, or any) in some
    regions (or every region stored for it)."""

    dataset: str
    regions: tuple[str, ...] = ()
    """Empty: every region stored for the dataset."""
    series: str | None = None
    """None: an hour counts when any series of the dataset and region has a value for it."""
    max_age: timedelta | None = None
    """The last value's hour must have ended at most this long ago."""
    max_gap: timedelta | None = None
    """No run of missing hours between stored ones may be longer than this ..."""
    within: timedelta = timedelta(days=7)
    """... among the hours of this long before now."""

    def __post_init__(self) -> None:
        if not self.dataset:
            raise ConfigError("an objective names its dataset, e.g. dataset = \"eia.region\"")
        if self.max_age is None and self.max_gap is None:
            raise ConfigError(f"the objective for {self.dataset} sets neither max_age (freshness) nor max_gap "
                              "(completeness); give one or both, e.g. max_age = \"3h\"")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Objective:
        """An objective from a table of ``energy.toml`` (or the words of ``--objective``)."""
        unknown = sorted(set(data) - set(_KEYS))
        if unknown:
            raise ConfigError(f"an objective has no setting(s) {unknown}; it takes {', '.join(_KEYS)}")
        if "region" in data and "regions" in data:
            raise ConfigError("an objective takes region (one) or regions (a list), not both")
        regions = data.get("regions", [data["region"]] if "region" in data else [])
        if isinstance(regions, str) or not all(isinstance(r, str) and r for r in regions):
            raise ConfigError(f"regions must be a list of region codes, e.g. [\"PACW\", \"CISO\"], not {regions!r}")
        dataset = data.get("dataset")
        if not isinstance(dataset, str):
            raise ConfigError(f"an objective names its dataset, e.g. dataset = \"eia.region\" (got {dataset!r})")
        return cls(
            dataset=dataset, regions=tuple(regions), series=data.get("series") or None,
            max_age=parse_duration(data["max_age"], "max_age") if "max_age" in data else None,
            max_gap=parse_duration(data["max_gap"], "max_gap") if "max_gap" in data else None,
            within=parse_duration(data["within"], "within") if "within" in data else timedelta(days=7))

    @classmethod
    def parse(cls, text: str) -> Objective:
        """``"dataset=eia.region region=PACW series=demand max_age=3h max_gap=2h"`` (``region`` repeatable)."""
        data: dict[str, Any] = {}
        for word in shlex.split(text):
            key, sep, value = word.partition("=")
            if not sep or not value:
                raise ConfigError(f"objective {text!r}: {word!r} is not key=value (e.g. max_age=3h)")
            if key == "region":
                data.setdefault("regions", []).append(value)
            elif key in data:
                raise ConfigError(f"objective {text!r} sets {key} twice")
            else:
                data[key] = value
        return cls.from_mapping(data)

    def describe(self) -> str:
        limits = [f"at most {describe_duration(self.max_age)} old" if self.max_age else "",
                  f"no gap over {describe_duration(self.max_gap)} in the last {describe_duration(self.within)}"
                  if self.max_gap else ""]
        where = ", ".join(self.regions) or "every region"
        return f"{self.dataset} {self.series or 'any series'} in {where}: {'; '.join(filter(None, limits))}"


@dataclass(frozen=True)
class MonitorSettings:
    objectives: tuple[Objective, ...] = ()
    quality_days: float = 7.0
    """Quality flags on hours this many days back or later fail the quality check; 0 turns it off."""
    drift_days: float = 7.0
    """Forecasts issued this many days back are scored."""
    drift_tolerance: float = 0.10
    """Drift is a MAPE more than this fraction above the better seasonal-naive baseline's."""
    drift_min_hours: int = 24
    """Fewer forecast hours with an actual value than this, and drift is not judged yet."""

    def __post_init__(self) -> None:
        if self.quality_days < 0 or self.drift_days <= 0 or self.drift_tolerance < 0 or self.drift_min_hours < 1:
            raise ConfigError("quality_days must be >= 0, drift_days > 0, drift_tolerance >= 0 and drift_min_hours "
                              f">= 1 (got {self.quality_days}, {self.drift_days}, {self.drift_tolerance}, "
                              f"{self.drift_min_hours})")
