"""EIA-930 codes and their canonical series names."""

from __future__ import annotations

from dataclasses import dataclass

from energy_eia.api import CODE_COLUMNS, FUEL_TYPE_DATA, REGION_DATA

REGION_TYPES = {
    "D": "demand",
    "DF": "demand_forecast",
    "NG": "net_generation",
    "TI": "interchange",
}

FUEL_TYPES = {
    "BAT": "gen.battery",
    "COL": "gen.coal",
    "GEO": "gen.geothermal",
    "NG": "gen.gas",
    "NUC": "gen.nuclear",
    "OES": "gen.other_energy_storage",
    "OIL": "gen.oil",
    "OTH": "gen.other",
    "PS": "gen.pumped_storage",
    "SNB": "gen.solar_with_battery",
    "SUN": "gen.solar",
    "UES": "gen.unknown_energy_storage",
    "UNK": "gen.unknown",
    "WAT": "gen.hydro",
    "WNB": "gen.wind_with_battery",
    "WND": "gen.wind",
}


@dataclass(frozen=True)
class Route:
    """One EIA dataset: its API route, the column holding its code, and the code vocabulary."""

    dataset: str
    path: str
    code_column: str
    series: dict[str, str]
    series_prefix: str
    facet_codes: bool
    """Ask for the known codes explicitly (region-data) rather than every code the API has (fuels)."""

    def series_for_unknown(self, code: str) -> str:
        return f"{self.series_prefix}{code.lower()}"


ROUTES = {
    "eia.region": Route("eia.region", REGION_DATA, CODE_COLUMNS[REGION_DATA], REGION_TYPES, "", True),
    "eia.fuel": Route("eia.fuel", FUEL_TYPE_DATA, CODE_COLUMNS[FUEL_TYPE_DATA], FUEL_TYPES, "gen.", False),
}

UNIT = "MWh"
