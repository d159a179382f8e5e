"""What Open-Meteo documents for its archive and forecast APIs, shared by the client and the simulator.

Both sides import these facts from here, so a mistake in the client is not copied into the double that
tests it. Source: https://open-meteo.com/en/docs and https://open-meteo.com/en/docs/historical-weather-api.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

DEFAULT_ARCHIVE_URL = "https://archive-api.open-meteo.com/v1/archive"
DEFAULT_FORECAST_URL = "https://api.open-meteo.com/v1/forecast"
DEFAULT_PREVIOUS_RUNS_URL = "https://previous-runs-api.open-meteo.com/v1/forecast"
"""The Previous Runs API: for past hours, the forecast each hour had from the model runs a day or more
before it (https://open-meteo.com/en/docs/previous-runs-api)."""
ARCHIVE_URL_VARIABLE = "ENERGY_WEATHER_URL"
FORECAST_URL_VARIABLE = "ENERGY_WEATHER_FORECAST_URL"
PREVIOUS_RUNS_URL_VARIABLE = "ENERGY_WEATHER_PREVIOUS_RUNS_URL"
"""Override the URLs (the simulator points them at itself)."""
TABLE_VARIABLE = "ENERGY_WEATHER_SIMULATOR_TABLE"
"""A recorded table (Parquet or CSV) the simulator replays instead of its invented weather."""

PREVIOUS_DAY = "_previous_day1"
"""Suffix of a Previous Runs variable (``temperature_2m_previous_day1``): each hour's value as forecast
by the run one day (24 hours) before it, so known 24 hours ahead."""
PREVIOUS_RUNS_START = datetime(2024, 1, 1, tzinfo=UTC)
"""The Previous Runs API keeps past runs from January 2024 (most models; GFS's 2 m temperature from April
2021): a plan asks it for no earlier hour (https://open-meteo.com/en/docs/previous-runs-api)."""
PREVIOUS_RUNS_START_VARIABLE = "ENERGY_WEATHER_PREVIOUS_RUNS_START"
"""Override :data:`PREVIOUS_RUNS_START` (an ISO date; the simulator, which replays any year, sets it)."""
PREVIOUS_DAY_LEAD = timedelta(days=1)
"""How long before its hour a ``_previous_day1`` value was known: its ``retrieved_at`` is the hour less this."""

ARCHIVE_LAG = timedelta(days=5)
"""The archive (ERA5) reaches up to about five days ago; asking beyond its last day is a 400, not an empty
answer. The forecast API covers what is newer."""
FORECAST_HORIZON = timedelta(days=16)
"""The forecast API's longest ``forecast_days``."""
TIME_FORMAT = "%Y-%m-%dT%H:%M"
"""``hourly.time`` with ``timeformat=iso8601``: no offset, local to ``timezone`` (GMT unless asked)."""
