"""Deterministic, plausible CAISO numbers: a function of (series, instant) only, so any window
or request order gives the same values."""

from __future__ import annotations

import zlib

import numpy as np

TAC_LOAD = {"PGE-TAC": 11000.0, "SCE-TAC": 12500.0, "SDGE-TAC": 2300.0, "VEA-TAC": 110.0}
"""The four CAISO TAC areas (mean MW); the system total ``CA ISO-TAC`` is their sum."""
EIM_LOAD = {"PACW": 2600.0, "AZPS": 4000.0}
HUBS = {"NP15": (0.35, 0.45), "SP15": (0.55, 0.45), "ZP26": (0.10, 0.10)}
"""Trading hub -> (share of solar, share of wind)."""
ZONES = {"TAC_BPAT": 900.0, "TAC_NEVP": 600.0, "TAC_AZPS": 700.0, "TAC_PACW": 400.0}
"""Neighbouring zones of the schedules report -> typical MW flow."""
FUELS = {"Solar": 0.18, "Wind": 0.08, "Geothermal": 0.035, "Biomass": 0.015, "Biogas": 0.008, "Small hydro": 0.01,
         "Coal": 0.0, "Nuclear": 0.08, "Natural Gas": 0.33, "Large Hydro": 0.09, "Batteries": 0.0,
         "Imports": 0.2, "Other": 0.0}


def _seed(*parts: str) -> int:
    return zlib.crc32("/".join(parts).encode()) % 10007


def _noise(seed: int, t: np.ndarray) -> np.ndarray:
    x = np.sin(t * 12.9898 + seed * 78.233) * 43758.5453
    return (x - np.floor(x)) * 2 - 1


def _pacific_hour(hours: np.ndarray) -> np.ndarray:
    """Approximate Pacific standard hour of day for UTC hours since the epoch (fractional)."""
    return np.mod(hours - 8, 24)


def _sun(hours: np.ndarray) -> np.ndarray:
    day = np.mod(hours / 24, 365.25)
    return np.clip(np.sin(np.pi * (_pacific_hour(hours) - 6) / 12), 0, None) * (1 + 0.25 * np.sin(
        2 * np.pi * (day - 80) / 365.25))


def load(area: str, hours: np.ndarray) -> np.ndarray:
    """Actual load (MW) for a TAC or EIM area; ``CA ISO-TAC`` is the sum of the TAC areas."""
    if area == "CA ISO-TAC":
        return sum((load(tac, hours) for tac in TAC_LOAD), np.zeros(hours.shape))
    mean = TAC_LOAD.get(area) or EIM_LOAD[area]
    hour, day = _pacific_hour(hours), np.mod(hours / 24, 365.25)
    shape = 1 + 0.18 * np.sin(2 * np.pi * (hour - 11) / 24) + 0.12 * np.cos(2 * np.pi * (day - 210) / 365.25)
    return np.round(mean * shape * (1 + 0.015 * _noise(_seed(area), hours)), 2)


def load_forecast(area: str, market: str, hours: np.ndarray) -> np.ndarray:
    error = {"DAM": 0.02, "2DA": 0.035, "7DA": 0.06}[market]
    return np.round(load(area, hours) * (1 + error * _noise(_seed(area, market), hours)), 2)


def renewables(hub: str, kind: str, hours: np.ndarray) -> np.ndarray:
    solar_share, wind_share = HUBS[hub]
    if kind == "Solar":
        return np.round(14000 * solar_share * _sun(hours) * (0.85 + 0.15 * _noise(_seed(hub, kind), hours)), 2)
    wind = 0.5 + 0.35 * np.sin(hours / 19 + _seed(hub)) + 0.15 * _noise(_seed(hub, kind), hours)
    return np.round(6000 * wind_share * np.clip(wind, 0, None), 2)


def lmp(node: str, kind: str, hours: np.ndarray) -> np.ndarray:
    """Day-ahead price components (USD/MWh); LMP = energy + congestion + loss."""
    energy = 42 + 18 * np.sin(2 * np.pi * (_pacific_hour(hours) - 13) / 24) - 20 * _sun(hours) + 4 * _noise(7, hours)
    congestion = 3 * _noise(_seed(node, "MCC"), hours)
    loss = 0.8 + 0.4 * _noise(_seed(node, "MCL"), hours)
    parts = {"MCE": energy, "MCC": congestion, "MCL": loss, "MGHG": np.zeros_like(hours)}
    if kind == "LMP":
        return np.round(energy + congestion + loss, 5)
    return np.round(parts[kind], 5)


def schedule(zone: str, kind: str, hours: np.ndarray) -> np.ndarray:
    """Day-ahead schedules (MW): system totals for ``Caiso_Totals``, tie flows otherwise."""
    if zone == "Caiso_Totals":
        system = load("CA ISO-TAC", hours)
        totals = {"Import": 0.22 * system, "Export": 0.04 * system}
        totals["Generation"] = system - totals["Import"] + totals["Export"]
        return np.round(totals[kind], 2)
    flow = ZONES[zone] * (1 + 0.2 * _noise(_seed(zone, kind), hours))
    return np.round(flow if kind != "Generation" else 0.1 * flow, 2)


def fuel_mix(fuel: str, minutes: np.ndarray) -> np.ndarray:
    """5-minute generation (MW) by Today's Outlook fuel column, minutes since the epoch (UTC)."""
    hours = minutes / 60
    system = load("CA ISO-TAC", hours)
    if fuel == "Solar":
        return np.round(np.where(_sun(hours) > 0, 14000 * _sun(hours), -30 + 5 * _noise(3, minutes)), 0)
    if fuel == "Wind":
        return np.round(np.clip(3000 * (0.5 + 0.35 * np.sin(hours / 19)), 0, None), 0)
    if fuel == "Batteries":
        return np.round(3000 * np.sin(2 * np.pi * (_pacific_hour(hours) - 13) / 24), 0)  # < 0: charging
    return np.round(system * FUELS[fuel] * (1 + 0.03 * _noise(_seed(fuel), minutes)), 0)
