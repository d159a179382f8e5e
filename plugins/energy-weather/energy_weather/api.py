"""What Open-Meteo documents for its archive and forecast APIs, shared by the client and the simulator.

Both sides import these facts from here, so a mistake in the client is not copied into the double that
tests it. Source: https://open-meteo.com/en/docs and https://open-meteo.com/en/docs/historical-weather-api.
"""

from __future__ import annotations

from datetime import timedelta

DEFAULT_ARCHIVE_URL = "https://archive-api.open-meteo.com/v1/archive"
DEFAULT_FORECAST_URL = "https://api.open-meteo.com/v1/forecast"
ARCHIVE_URL_VARIABLE = "ENERGY_WEATHER_URL"
FORECAST_URL_VARIABLE = "ENERGY_WEATHER_FORECAST_URL"
"""Override the URLs (the simulator points them at itself)."""

ARCHIVE_LAG = timedelta(days=5)
"""The archive (ERA5) reaches up to about five days ago; asking beyond its last day is a 400, not an empty
answer. The forecast API covers what is newer."""
FORECAST_HORIZON = timedelta(days=16)
"""The forecast API's longest ``forecast_days``."""
TIME_FORMAT = "%Y-%m-%dT%H:%M"
"""``hourly.time`` with ``timeformat=iso8601``: no offset, local to ``timezone`` (GMT unless asked)."""
