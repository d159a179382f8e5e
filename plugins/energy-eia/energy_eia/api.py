"""What EIA API v2 documents for the RTO routes, shared by the client and the simulator.

Both sides import these facts from here, so a mistake in the client is not copied into the double
that tests it. Sources: https://www.eia.gov/opendata/documentation.php and recorded responses.
"""

from __future__ import annotations

DEFAULT_URL = "https://api.eia.gov/v2"
URL_VARIABLE = "ENERGY_EIA_URL"
"""Overrides the base URL (the simulator points it at itself)."""
KEY_VARIABLE = "EIA_API_KEY"
"""The API key, sent as the ``api_key`` query parameter: EIA reads it from the URL, not from headers."""
REGISTER_URL = "https://www.eia.gov/opendata/register.php"
TABLE_VARIABLE = "ENERGY_EIA_SIMULATOR_TABLE"
"""A Parquet or CSV table of EIA-930 rows the simulator replays instead of its synthetic data."""

REGION_DATA = "electricity/rto/region-data"
FUEL_TYPE_DATA = "electricity/rto/fuel-type-data"
CODE_COLUMNS = {REGION_DATA: "type", FUEL_TYPE_DATA: "fueltype"}
"""Route -> the field (and facet) that holds a row's code. A route's data are at ``<route>/data/``."""

FREQUENCY = "hourly"
"""UTC hours (``local-hourly`` would be local time)."""
PERIOD_FORMAT = "%Y-%m-%dT%H"
"""``period`` of an hourly row, the hour *ending* the interval; ``start`` and ``end`` take the same form
and both bounds are inclusive."""
PAGE_LENGTH = 5000
"""The most rows one JSON response holds; longer answers are read page by page with ``offset``."""

REGION_TYPE_NAMES = {
    "D": "Demand", "DF": "Day-ahead demand forecast", "NG": "Net generation", "TI": "Total interchange",
}
"""region-data ``type`` codes and their ``type-name``."""
FUEL_TYPE_NAMES = {
    "BAT": "Battery storage", "COL": "Coal", "GEO": "Geothermal", "NG": "Natural Gas", "NUC": "Nuclear",
    "OES": "Other energy storage", "OIL": "Petroleum", "OTH": "Other", "PS": "Pumped storage",
    "SNB": "Solar with integrated battery storage", "SUN": "Solar", "UES": "Unknown energy storage",
    "UNK": "Unknown", "WAT": "Hydro", "WNB": "Wind with integrated battery storage", "WND": "Wind",
}
"""fuel-type-data ``fueltype`` codes and their ``type-name`` (whose casing is not stable)."""

KEY_MISSING = "API_KEY_MISSING"
KEY_INVALID = "API_KEY_INVALID"
"""Gateway error codes, sent as ``{"error": {"code": ..., "message": ...}}`` with HTTP 403; parameter errors
come as ``{"error": "<text>", "code": <int>}`` instead."""
