"""Entities: what one training sequence describes, e.g. a balancing authority with its demand, its
weather and its market prices.

Plugins define and extend them (``register_entities``, see :mod:`energy_core.hookspecs`) for the
data they have stored. ``<home>/entities.toml`` (and ``[entities]`` of ``energy.toml``) replaces the
selectors of an entity or adds one; a timezone or target it leaves out comes from the plugins'
entity of the same name, else from the plugins' entity named after its first selector's region (an
entity left with no timezone is refused: its calendar features would be a guess; ``states``, the US
states whose holidays its calendar keeps, likewise comes from the plugins' entity when left out)::

    [PACW_NO_WEATHER]
    timezone = "America/Los_Angeles"
    states = ["OR", "WA", "CA"]
    target = "eia.demand"
    selectors = [{dataset = "eia.", region = "PACW"}]
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from energy_core.errors import ConfigError
from energy_core.home import Home
from energy_core.plugin.contributions import EntitySpec, Selector, is_time_zone
from energy_core.storage.lake import Lake


@dataclass(frozen=True)
class Entity:
    """A defined entity: everything fusion needs to lay it on its hourly grid."""

    name: str
    timezone: str
    """IANA time zone of its calendar features."""
    selectors: tuple[Selector, ...]
    target: str
    """The feature a model forecasts."""
    states: tuple[str, ...] = ()
    """US states (postal codes) whose holidays its calendar observes; none: the federal holidays."""

    def selects(self, dataset: str, region: str) -> bool:
        return any(s.region == region and s.matches(dataset) for s in self.selectors)


class StoredRegions(Mapping[str, frozenset[str]]):
    """Each dataset of the processed store -> the regions stored for it, read on first access (a
    plugin that asks only for its own datasets does not pay for the others)."""

    def __init__(self, store: Lake) -> None:
        self._store = store
        self._datasets = store.datasets()
        self._regions: dict[str, frozenset[str]] = {}

    def __getitem__(self, dataset: str) -> frozenset[str]:
        if dataset not in self._datasets:
            raise KeyError(dataset)
        if dataset not in self._regions:
            column = self._store.scan(dataset).select(pl.col("region").unique()).collect()["region"]
            self._regions[dataset] = frozenset(column.to_list())
        return self._regions[dataset]

    def __contains__(self, dataset: object) -> bool:
        return dataset in self._datasets  # Mapping's default would read the dataset's regions

    def __iter__(self) -> Iterator[str]:
        return iter(self._datasets)

    def __len__(self) -> int:
        return len(self._datasets)


def read_config(home: Home, extra: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Mapping[str, Any]]:
    """The entity definitions of ``<home>/entities.toml``, with those of ``extra`` (``energy.toml``) over them."""
    path = home.entities_file
    try:
        configured = tomllib.loads(path.read_text()) if path.exists() else {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc}); see energy_core/features/entities.py") from None
    return configured | dict(extra or {})


def resolve(contributed: Mapping[str, EntitySpec], configured: Mapping[str, Mapping[str, Any]]) -> dict[str, Entity]:
    """Every entity: the plugins' (``contributed``, merged) with the configured ones over them."""
    entities = {name: Entity(name, str(spec.timezone), spec.selectors, str(spec.target), spec.states)
                for name, spec in contributed.items() if spec.defines}
    for name, spec in configured.items():
        entities[name] = _configured(name, spec, entities)
    return dict(sorted(entities.items()))


def touched(entities: Mapping[str, Entity], stored: Iterable[tuple[str, str]]) -> list[str]:
    """The entities with a selector matching one of the (dataset, region) pairs ``stored``."""
    pairs = set(stored)
    return [name for name, entity in entities.items() if any(entity.selects(d, r) for d, r in pairs)]


def _configured(name: str, spec: Mapping[str, Any], plugins: Mapping[str, Entity]) -> Entity:
    where = "entities.toml or [entities] of energy.toml"
    try:
        selectors = tuple(Selector(s["dataset"], s["region"], s.get("suffix", "")) for s in spec["selectors"])
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"{where}: entity {name!r} needs selectors = [{{dataset = ..., region = ...}}, ...] "
                          f"(problem: {exc!r}); see energy_core/features/entities.py") from None
    if not selectors:
        raise ConfigError(f"{where}: entity {name!r} has no selectors")
    base = plugins.get(name) or plugins.get(selectors[0].region)
    timezone = spec.get("timezone") or (base.timezone if base else None)
    target = spec.get("target") or (base.target if base else None)
    if target is None:
        raise ConfigError(f"{where}: entity {name!r} needs a target (the feature to forecast, e.g. "
                          f"target = \"<source>.<series>\"): no plugin defines {name!r} or {selectors[0].region!r}")
    if timezone is None:
        raise ConfigError(f"{where}: entity {name!r} needs a timezone for its calendar features (an IANA name, "
                          f"e.g. timezone = \"America/Chicago\"): no plugin defines {name!r} or "
                          f"{selectors[0].region!r}")
    if not is_time_zone(str(timezone)):
        raise ConfigError(f"{where}: entity {name!r} has timezone = {timezone!r}, which is no IANA time zone name "
                          "(e.g. \"America/Chicago\", \"Europe/Paris\", \"UTC\")")
    states = spec.get("states", base.states if base else ())
    if isinstance(states, str) or not all(isinstance(state, str) for state in states):
        raise ConfigError(f"{where}: entity {name!r} has states = {states!r}; give a list of US postal codes, "
                          "e.g. states = [\"TX\"] (leave it out for the federal holidays)")
    return Entity(name, str(timezone), selectors, str(target), tuple(states))
