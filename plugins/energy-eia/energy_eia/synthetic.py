"""Deterministic, plausible EIA-930 data: daily and seasonal demand, solar at zero by night,
wind with the small negative values real BAs report. Values depend only on (respondent, code,
hour), so any range or page order gives the same numbers.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np

from energy_eia import api

# Typical average demand (MW) of the larger balancing authorities and of the regions; others get a size from
# their name.
_MEAN_DEMAND = {
    "PJM": 88000, "MISO": 75000, "ERCO": 46000, "SWPP": 31000, "SOCO": 30000, "CISO": 26000, "TVA": 20000,
    "NYIS": 17000, "FPL": 15000, "ISNE": 14000, "DUK": 13000, "PACE": 6000, "BPAT": 6500, "AZPS": 4000,
    "PACW": 2600, "FPC": 5000, "CPLE": 7000, "LDWP": 3000, "PSCO": 6000, "SRP": 3800, "NEVP": 4200,
    "US48": 470000, "CAL": 32000, "CAR": 26000, "CENT": 32000, "FLA": 27000, "MIDA": 88000, "MIDW": 82000,
    "NE": 14000, "NW": 44000, "NY": 17000, "SE": 31000, "SW": 13000, "TEN": 20000, "TEX": 46000,
}
BALANCING_AUTHORITIES = tuple(api.BALANCING_AUTHORITIES)
"""The EIA-930 balancing authorities: what the simulator serves when a request names no respondent."""


def _winter_offset(zone: str) -> int:
    """Hours from UTC of ``zone`` in January (standard time)."""
    january = datetime(2001, 1, 15, tzinfo=UTC)
    return int((january.astimezone(ZoneInfo(zone)).replace(tzinfo=UTC) - january).total_seconds()) // 3600


_UTC_OFFSET = {code: _winter_offset(zone) for code, zone in api.RESPONDENTS.items()}
"""UTC offset (standard time) by respondent, for the shape of the day; Central for a code not listed."""

_FUELS_EVERYWHERE = ("NG", "OTH", "SUN", "WAT", "WND")
_FUELS_SOMETIMES = ("COL", "NUC", "OIL", "BAT")


def _seed(*parts: str) -> int:
    return zlib.crc32("/".join(parts).encode())


def _noise(seed: int, hours: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Deterministic pseudo-random values in [-1, 1], a pure function of (seed, hour)."""
    x = np.sin(hours * 12.9898 + (seed % 10007) * 78.233) * 43758.5453
    return (x - np.floor(x)) * 2 - 1


def _smooth(seed: int, hours: np.ndarray) -> np.ndarray:
    phase = (seed % 997) / 997 * 2 * np.pi
    return 0.6 * np.sin(hours / 17.0 + phase) + 0.4 * np.sin(hours / 53.0 + 2 * phase)


def mean_demand(respondent: str) -> float:
    return float(_MEAN_DEMAND.get(respondent, 800 + _seed(respondent) % 4000))


def fuels_for(respondent: str) -> tuple[str, ...]:
    seed = _seed(respondent, "fuels")
    extra = tuple(f for i, f in enumerate(_FUELS_SOMETIMES) if (seed >> i) & 1)
    return tuple(sorted(_FUELS_EVERYWHERE + extra))


def _calendar(respondent: str, hours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local hour of day (interval start) and day of year for hour-ending UTC stamps."""
    local = hours - 1 + _UTC_OFFSET.get(respondent, -6)
    return np.mod(local, 24), np.mod(local // 24, 365.25)


def demand(respondent: str, hours: np.ndarray) -> np.ndarray:
    hour, day = _calendar(respondent, hours)
    season = 0.10 * np.cos(4 * np.pi * (day - 20) / 365.25) + 0.06 * np.cos(2 * np.pi * (day - 200) / 365.25)
    daily = 0.13 * np.sin(2 * np.pi * (hour - 10) / 24) + 0.05 * np.sin(4 * np.pi * (hour - 4) / 24)
    noise = 0.02 * _noise(_seed(respondent, "D"), hours)
    return np.round(mean_demand(respondent) * (1 + season + daily + noise))


def fuel(respondent: str, code: str, hours: np.ndarray) -> np.ndarray:
    load = demand(respondent, hours)
    size = mean_demand(respondent)
    hour, day = _calendar(respondent, hours)
    seed = _seed(respondent, code)
    if code == "SUN":
        sun = np.clip(np.sin(np.pi * (hour - 6) / 12), 0, None) * (1 + 0.3 * np.sin(2 * np.pi * (day - 80) / 365.25))
        return np.round(0.12 * size * sun * (0.75 + 0.25 * _noise(seed, hours)))
    if code == "WND":
        wind = 0.15 * size * (0.45 + 0.55 * _smooth(seed, hours))
        return np.where(wind < 0.01 * size, -1 - np.mod(hours, 3), np.round(wind))
    if code == "NUC":
        return np.round(np.full(hours.shape, 0.18 * size))
    if code == "BAT":
        return np.round(0.01 * size * np.sin(2 * np.pi * (hour - 14) / 24))
    shares = {"WAT": 0.08, "OTH": 0.03, "COL": 0.2, "OIL": 0.01, "NG": 0.4}
    return np.round(np.clip(load * shares[code] * (1 + 0.08 * _noise(seed, hours)), 0, None))


def region(respondent: str, code: str, hours: np.ndarray) -> np.ndarray:
    if code == "D":
        return demand(respondent, hours)
    if code == "DF":
        return np.round(demand(respondent, hours) * (1 + 0.03 * _noise(_seed(respondent, "DF"), hours)))
    generation = sum((fuel(respondent, f, hours) for f in fuels_for(respondent)), np.zeros(hours.shape))
    if code == "NG":
        return generation
    if code == "TI":
        return generation - demand(respondent, hours)
    raise ValueError(f"unknown region-data type {code!r}")
