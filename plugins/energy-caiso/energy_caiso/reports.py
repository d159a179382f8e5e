"""Which OASIS reports make up each dataset, and how their columns map to canonical names."""

from __future__ import annotations

from dataclasses import dataclass

from energy_caiso.api import CSV_RESULT, HUB_NODES, REPORT_VERSIONS

SYSTEM = "CISO"
"""The CAISO balancing authority as EIA names it, so system totals line up with EIA's respondent."""


@dataclass(frozen=True)
class Report:
    """One OASIS SingleZip query and the CSV columns that carry its area, item and value."""

    queryname: str
    market: str
    area_column: str
    item_column: str
    value_column: str = "MW"
    extra: tuple[tuple[str, str], ...] = ()

    def params(self) -> list[tuple[str, str]]:
        return [("queryname", self.queryname), ("market_run_id", self.market),
                ("version", str(REPORT_VERSIONS[self.queryname])), *self.extra, ("resultformat", CSV_RESULT)]


def _load(market: str) -> Report:
    return Report("SLD_FCST", market, "TAC_AREA_NAME", "MARKET_RUN_ID")


OASIS_DATASETS: dict[str, tuple[Report, ...]] = {
    "caiso.load": (_load("ACTUAL"),),
    "caiso.load_forecast": (_load("DAM"), _load("2DA"), _load("7DA")),
    "caiso.renewables_forecast": (Report("SLD_REN_FCST", "DAM", "TRADING_HUB", "RENEWABLE_TYPE"),),
    "caiso.lmp": (Report("PRC_LMP", "DAM", "NODE", "LMP_TYPE", extra=(("node", ",".join(HUB_NODES)),)),),
    "caiso.schedules": (Report("ENE_SLRS", "DAM", "TAC_ZONE_NAME", "SCHEDULE",
                               extra=(("tac_zone_name", "ALL"), ("schedule", "ALL"))),),
}
OUTLOOK_DATASET = "caiso.fuelmix"

SERIES: dict[str, dict[str, str]] = {
    "caiso.load": {"ACTUAL": "load"},
    "caiso.load_forecast": {"DAM": "load_forecast.dam", "2DA": "load_forecast.2da", "7DA": "load_forecast.7da"},
    "caiso.renewables_forecast": {"SOLAR": "solar_forecast", "WIND": "wind_forecast"},
    "caiso.lmp": {"LMP": "lmp", "MCE": "lmp.energy", "MCC": "lmp.congestion", "MCL": "lmp.loss", "MGHG": "lmp.ghg"},
    "caiso.schedules": {"GENERATION": "schedule.generation", "IMPORT": "schedule.imports",
                        "EXPORT": "schedule.exports"},
    "caiso.fuelmix": {
        "SOLAR": "gen.solar", "WIND": "gen.wind", "GEOTHERMAL": "gen.geothermal", "BIOMASS": "gen.biomass",
        "BIOGAS": "gen.biogas", "SMALL HYDRO": "gen.small_hydro", "COAL": "gen.coal", "NUCLEAR": "gen.nuclear",
        "NATURAL GAS": "gen.gas", "LARGE HYDRO": "gen.large_hydro", "BATTERIES": "gen.battery",
        "IMPORTS": "gen.imports", "OTHER": "gen.other",
    },
}
PRICE_DATASETS = {"caiso.lmp"}
"""Averaged as prices (USD/MWh); everything else is MW averaged over the hour, i.e. MWh."""


def region(dataset: str, area: str) -> str:
    """CAISO's area, hub or node name -> canonical region; system totals become ``CISO``."""
    if area in ("CA ISO-TAC", "Caiso_Totals", SYSTEM):
        return SYSTEM
    if dataset == "caiso.lmp":
        return f"CAISO.HUB.{HUB_NODES[area]}" if area in HUB_NODES else f"CAISO.NODE.{area}"
    if dataset == "caiso.renewables_forecast":
        return f"CAISO.HUB.{area}"
    return f"CAISO.TAC.{area.removeprefix('TAC_')}"
