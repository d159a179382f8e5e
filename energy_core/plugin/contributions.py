"""What plugins contribute besides components: value objects returned by the contribution hooks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from energy_core.errors import PluginError

if TYPE_CHECKING:
    import polars as pl


@dataclass(frozen=True)
class QualityCheck:
    """A check that compares several stored datasets (e.g. generation by fuel against net generation).

    The per-series checks (gap, duplicate, stuck, outlier, impossible) are the core's; a plugin adds
    the ones that know how its datasets relate. ``energy quality`` runs a check when every dataset it
    names is among those checked.
    """

    name: str
    """Names the check in errors, e.g. ``"eia_consistency"``; the flags carry their own ``check``."""
    datasets: tuple[str, ...]
    """The datasets it reads, e.g. ``("eia.region", "eia.fuel")``."""
    run: Callable[[Mapping[str, pl.DataFrame]], pl.DataFrame]
    """Takes each named dataset's rows (``dataset, region, series, ts, value``, narrowed to the regions
    asked for) by dataset name and returns its flags, one row per flagged span, with the columns of
    ``FLAG_SCHEMA``: ``check, dataset, region, series, start, end, hours, detail``. A large home is checked
    a group of regions at a time: each call gets every row of some regions, in every dataset it names."""


class PanelStyle(Enum):
    """How a plot panel draws its columns."""

    LINES = "lines"
    """One line per column, in the feature table's order."""
    STACKED = "stacked"
    """Areas stacked in column-name order; an hour where any column is missing is left blank."""


@dataclass(frozen=True)
class PlotPanel:
    """A panel of ``energy plot``: the feature columns whose names start with ``prefix``.

    The core draws the target panel (the target and its forecasts) first, then every contributed
    panel that has columns in the entity's feature table, in plugin order.
    """

    prefix: str
    """Feature columns drawn, by name prefix, e.g. ``"weather.temperature"``."""
    unit: str
    """The y-axis label, e.g. ``"degC"``."""
    style: PanelStyle = PanelStyle.LINES
    max_columns: int | None = None
    """Draw at most this many columns (``None``: all)."""
    short_labels: bool = False
    """Label each column without the prefix (``"eia.gen."`` + ``"SUN"`` shows as ``SUN``)."""


@dataclass(frozen=True)
class Setting:
    """An environment variable a plugin reads; ``energy config show`` lists it, masked when secret."""

    variable: str
    """The variable's name, e.g. ``"EIA_API_KEY"``."""
    description: str
    """One line: what it sets."""
    secret: bool = False
    """A credential: its value is never shown, and a key like it in ``energy.toml`` is refused."""


@dataclass(frozen=True)
class Selector:
    """The rows of one region in a dataset, or in every dataset starting with ``dataset`` when it ends
    in a dot (``"eia."``). Each selected series becomes a feature named ``<source>.<series>``."""

    dataset: str
    region: str
    suffix: str = ""
    """Appended to feature names (``caiso.lmp@sp15``) when several regions give the same series."""

    def matches(self, dataset: str) -> bool:
        return dataset.startswith(self.dataset) if self.dataset.endswith(".") else dataset == self.dataset


@dataclass(frozen=True)
class EntitySpec:
    """An entity (what one training sequence describes, e.g. a balancing authority), or more data for one.

    With ``timezone`` and ``target`` it defines the entity; with only ``selectors`` it extends the
    entity of that name another plugin defines (the weather of a BA, a market's prices). The specs of
    one name merge: their selectors are concatenated. An entity that no plugin defines is not built.
    """

    name: str
    """The entity's name, e.g. ``"PACW"``: the name users pass to ``--entity``."""
    selectors: tuple[Selector, ...]
    """The data this spec adds to the entity."""
    timezone: str | None = None
    """IANA time zone of the calendar features (``"America/Los_Angeles"``); set only to define."""
    target: str | None = None
    """The feature a model forecasts (``"eia.demand"``); set only to define."""
    states: tuple[str, ...] = ()
    """US states (postal codes, ``("OR", "WA", "CA")``) whose holidays the calendar features observe; set
    only to define (none: the federal holidays)."""

    def __post_init__(self) -> None:
        if (self.timezone is None) != (self.target is None):
            raise PluginError(f"entity spec {self.name!r}: give both timezone and target to define the entity, "
                             "or neither to extend one another plugin defines")
        if self.states and self.timezone is None:
            raise PluginError(f"entity spec {self.name!r}: states belong to the definition (with timezone and "
                              "target), not to a spec that extends an entity")
        if self.timezone is not None and not is_time_zone(self.timezone):
            raise PluginError(f"entity spec {self.name!r}: timezone {self.timezone!r} is no IANA time zone name "
                              "(e.g. 'America/Chicago')")

    @property
    def defines(self) -> bool:
        return self.timezone is not None


def is_time_zone(name: str) -> bool:
    """Whether ``name`` is a time zone of the IANA database (``"America/Chicago"``, ``"UTC"``)."""
    try:
        ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError):
        return False
    return True
