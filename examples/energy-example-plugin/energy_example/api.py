"""The example API, as its documentation states it; the source and the simulator both import these facts,
so a mistake in the source is not copied into the double that tests it.

``GET {base}/v1/intensity?zone=PACW&start=...&end=...&key=...`` answers

    {"zone": "PACW", "unit": "gCO2/kWh",
     "data": [{"from": "2024-01-01T00:00Z", "to": "2024-01-01T01:00Z", "actual": 312.5, "forecast": 300.1}]}

with at most 31 days per request; ``from`` is the start of the hour, in UTC.
"""

from __future__ import annotations

from datetime import timedelta

DEFAULT_URL = "https://api.example.org"
URL_VARIABLE = "ENERGY_EXAMPLE_URL"
"""Overrides the base URL (the simulator points it at itself)."""
KEY_VARIABLE = "EXAMPLE_API_KEY"
"""The API key, sent as the ``key`` query parameter."""

PATH = "/v1/intensity"
TIME_FORMAT = "%Y-%m-%dT%H:%MZ"
"""``start``, ``end``, ``from`` and ``to``: UTC minutes."""
MAX_SPAN = timedelta(days=31)
"""The longest ``start``..``end`` one request may ask for."""
UNIT = "gCO2/kWh"
