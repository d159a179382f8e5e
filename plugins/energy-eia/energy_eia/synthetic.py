"""Deterministic, plausible EIA-930 data: daily and seasonal demand, solar at zero by night,
wind with the small negative values real BAs report. Values depend only on (respondent, code,
hour), so any range or page order gives the same numbers.
"""

from __future__ import annotations

import zlib

import numpy as np

# Typical average demand (MW) of the larger balancing authorities; others get a size from their name.
_MEAN_DEMAND = {
    "PJM": 88000, "MISO": 75000, "ERCO": 46000, "SWPP": 31000, "SOCO": 30000, "CISO": 26000, "TVA": 20000,
    "NYIS": 17000, "FPL": 15000, "ISNE": 14000, "DUK": 13000, "PACE": 6000, "BPAT": 6500, "AZPS": 4000,
    "PACW": 2600, "FPC": 5000, "CPLE": 7000, "LDWP": 3000, "PSCO": 6000, "SRP": 3800, "NEVP": 4200,
}
# UTC offset (standard time) by BA, for the shape of the day; default Central.
_UTC_OFFSET = {
    "CISO": -8, "PACW": -8, "BPAT": -8, "LDWP": -8, "PGE": -8, "PSEI": -8, "SCL": -8, "TPWR": -8, "BANC": -8,
    "TIDC": -8, "IID": -8, "AVA": -8, "CHPD": -8, "DOPD": -8, "GCPD": -8, "NEVP": -8, "WAUW": -7, "PACE": -7,
    "AZPS": -7, "SRP": -7, "TEPC": -7, "EPE": -7, "PNM": -7, "PSCO": -7, "WACM": -7, "WALC": -7, "IPCO": -7,
    "NWMT": -7, "PJM": -5, "NYIS": -5, "ISNE": -5, "DUK": -5, "CPLE": -5, "CPLW": -5, "FPL": -5, "FPC": -5,
    "TEC": -5, "JEA": -5, "FMPP": -5, "TAL": -5, "GVL": -5, "SC": -5, "SCEG": -5, "SEC": -5, "HST": -5,
    "NSB": -5, "YAD": -5,
}
BALANCING_AUTHORITIES = (
    "AEC", "AECI", "AVA", "AVRN", "AZPS", "BANC", "BPAT", "CHPD", "CISO", "CPLE", "CPLW", "DOPD", "DUK", "EPE",
    "ERCO", "FMPP", "FPC", "FPL", "GCPD", "GRID", "GVL", "GWA", "HST", "IID", "IPCO", "ISNE", "JEA", "LDWP",
    "LGEE", "MISO", "NEVP", "NSB", "NWMT", "NYIS", "PACE", "PACW", "PGE", "PJM", "PNM", "PSCO", "PSEI", "SC",
    "SCEG", "SCL", "SEC", "SEPA", "SOCO", "SPA", "SRP", "SWPP", "TAL", "TEC", "TEPC", "TIDC", "TPWR", "TVA",
    "WACM", "WALC", "WAUW", "WWA", "YAD", "DEAA", "EEI", "GLHB", "HGMA",
)
"""65 EIA-930 respondents."""

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
