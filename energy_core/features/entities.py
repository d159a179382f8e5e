"""Entities: what one training sequence describes. A balancing authority plus the data that belong
to it: its EIA series, its weather, and for CISO the CAISO system series and hub prices.

Built-in defaults cover every BA in the store; ``<home>/entities.toml`` overrides or adds::

    [PACW]
    timezone = "America/Los_Angeles"
    target = "eia.demand"
    selectors = [{dataset = "eia.", region = "PACW"}, {dataset = "weather.hourly", region = "PACW"}]
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass

from energy_core.errors import ConfigError
from energy_core.home import Home

DEFAULT_TARGET = "eia.demand"

TIMEZONES = {
    "CISO": "America/Los_Angeles", "PACW": "America/Los_Angeles", "BPAT": "America/Los_Angeles",
    "LDWP": "America/Los_Angeles", "PGE": "America/Los_Angeles", "PSEI": "America/Los_Angeles",
    "NEVP": "America/Los_Angeles", "PACE": "America/Denver", "PSCO": "America/Denver", "AZPS": "America/Phoenix",
    "SRP": "America/Phoenix", "ERCO": "America/Chicago", "MISO": "America/Chicago", "SWPP": "America/Chicago",
    "SPA": "America/Chicago", "PJM": "America/New_York", "NYIS": "America/New_York", "ISNE": "America/New_York",
    "DUK": "America/New_York", "CPLE": "America/New_York", "SOCO": "America/Chicago", "TVA": "America/Chicago",
    "FPL": "America/New_York", "FPC": "America/New_York",
}


@dataclass(frozen=True)
class Selector:
    """Rows of a dataset (or every dataset starting with ``dataset`` when it ends in a dot) for one region."""

    dataset: str
    region: str
    suffix: str = ""
    """Appended to feature names (``caiso.lmp@sp15``) when several regions give the same series."""

    def matches(self, dataset: str) -> bool:
        return dataset.startswith(self.dataset) if self.dataset.endswith(".") else dataset == self.dataset


@dataclass(frozen=True)
class Entity:
    name: str
    timezone: str
    selectors: tuple[Selector, ...]
    target: str = DEFAULT_TARGET


def default_entity(ba: str) -> Entity:
    selectors = [Selector("eia.", ba), Selector("weather.hourly", ba)]
    if ba == "CISO":
        selectors += [Selector("caiso.", "CISO")]
        selectors += [Selector("caiso.lmp", f"CAISO.HUB.{hub}", hub.lower()) for hub in ("NP15", "SP15", "ZP26")]
    return Entity(ba, TIMEZONES.get(ba, "America/Chicago"), tuple(selectors))


def _read_config(home: Home) -> dict:
    path = home.entities_file
    try:
        return tomllib.loads(path.read_text()) if path.exists() else {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc}); see energy_core/features/entities.py") from None


def configured_entities(home: Home, extra: dict[str, dict] | None = None) -> list[str]:
    """Entity names defined in ``<home>/entities.toml`` (and ``extra``, from ``energy.toml``)."""
    return sorted(_read_config(home) | (extra or {}))


def load_entities(home: Home, names: list[str], extra: dict[str, dict] | None = None) -> dict[str, Entity]:
    """The entities called ``names``: from ``extra`` (``energy.toml``) or ``<home>/entities.toml`` where
    defined, else the defaults."""
    configured: dict[str, Entity] = {}
    path = home.entities_file
    specs = _read_config(home) | (extra or {})
    if specs:
        try:
            for name, spec in specs.items():
                selectors = tuple(Selector(s["dataset"], s["region"], s.get("suffix", "")) for s in spec["selectors"])
                configured[name] = Entity(name, spec.get("timezone", TIMEZONES.get(name, "UTC")), selectors,
                                          spec.get("target", DEFAULT_TARGET))
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: invalid entity definition ({exc}); see energy_core/features/entities.py"
                              ) from None
    return {name: configured.get(name) or default_entity(name) for name in names}
