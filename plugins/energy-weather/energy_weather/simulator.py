"""A loopback imitation of Open-Meteo's archive and forecast APIs.

Plausible weather per point: temperature with a seasonal and a daily cycle set by latitude and
longitude, humidity and dew point that follow it, wind, clouds, sunlight as the preceding hour's
mean (zero at night) and occasional rain as the preceding hour's sum. The real parameters, one
object per location (a list for several), the 400 error body for unknown variables and dates
beyond the archive, GMT time stamps, and HTTP 429 in the same envelope when a :class:`Throttle`
limits its rate.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from datetime import UTC, date, datetime

import numpy as np
import orjson

from energy_core.api import RateBudget, SimRequest, SimResponse, Simulator, Throttle
from energy_weather.api import ARCHIVE_LAG, ARCHIVE_URL_VARIABLE, FORECAST_HORIZON, FORECAST_URL_VARIABLE, TIME_FORMAT

_UNITS = {"temperature_2m": "°C", "dew_point_2m": "°C", "relative_humidity_2m": "%", "cloud_cover": "%",
          "wind_speed_10m": "m/s", "wind_speed_100m": "m/s", "shortwave_radiation": "W/m²", "direct_radiation": "W/m²",
          "precipitation": "mm", "rain": "mm", "snowfall": "cm"}


class WeatherSimulator(Simulator):
    budget = RateBudget(200, per=1.0, burst=20)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> WeatherSimulator:
        return cls(throttle=Throttle.from_env(environ))

    def env(self) -> dict[str, str]:
        return {ARCHIVE_URL_VARIABLE: f"{self.url}/v1/archive", FORECAST_URL_VARIABLE: f"{self.url}/v1/forecast"}

    def throttled(self) -> SimResponse:
        """Open-Meteo's per-minute limit, in its error envelope; the source waits a minute unless a
        ``Retry-After`` says less."""
        retry_after = self.throttle.retry_after
        return _error(429, "Minutely API request limit exceeded. Please try again in one minute.",
                      {"Retry-After": retry_after} if retry_after is not None else {})

    def handle(self, request: SimRequest) -> SimResponse:
        if request.path not in ("/v1/archive", "/v1/forecast"):
            return _error(404, "Not Found")
        try:
            body = answer(request, archive=request.path == "/v1/archive", today=datetime.now(UTC).date())
        except ValueError as exc:
            return _error(400, str(exc))
        return SimResponse(200, body, {"Content-Type": "application/json; charset=utf-8"})


def answer(request: SimRequest, *, archive: bool, today: date) -> bytes:
    latitude_text, longitude_text = request.first("latitude") or "", request.first("longitude") or ""
    latitudes = [float(v) for v in latitude_text.split(",") if v]
    longitudes = [float(v) for v in longitude_text.split(",") if v]
    if not latitudes or len(latitudes) != len(longitudes):
        raise ValueError("Parameter 'latitude' and 'longitude' must have the same number of elements")
    if any(not -90 <= lat <= 90 for lat in latitudes):
        raise ValueError("Latitude must be in range of -90 to 90°. Given: " + latitude_text)
    variables = [v for v in (request.first("hourly") or "").split(",") if v]
    for variable in variables:
        if variable not in _UNITS:
            raise ValueError(f"Cannot initialize WeatherVariable from invalid String value {variable} for key hourly")
    if (request.first("timezone") or "GMT") not in ("GMT", "UTC"):
        raise ValueError("The simulator answers in GMT only")
    first_text, last_text = request.first("start_date"), request.first("end_date")
    if first_text is None or last_text is None:
        raise ValueError("The simulator needs 'start_date' and 'end_date' (YYYY-MM-DD)")
    first, last = date.fromisoformat(first_text), date.fromisoformat(last_text)
    limit = today - ARCHIVE_LAG if archive else today + FORECAST_HORIZON
    if last > limit or first > last:
        raise ValueError(f"Parameter 'end_date' is out of allowed range from 1940-01-01 to {limit.isoformat()}")
    start = datetime.combine(first, datetime.min.time(), UTC)
    hours = np.arange(int(start.timestamp() // 3600), int(start.timestamp() // 3600) + 24 * ((last - first).days + 1))
    times = [datetime.fromtimestamp(h * 3600, UTC).strftime(TIME_FORMAT) for h in hours.tolist()]
    locations = []
    for lat, lon in zip(latitudes, longitudes, strict=True):
        series = weather(lat, lon, hours.astype(np.float64))
        hourly = {"time": times, **{v: [None if np.isnan(x) else round(float(x), 2) for x in series[v]]
                                    for v in variables}}
        locations.append({"latitude": round(lat, 4), "longitude": round(lon, 4), "generationtime_ms": 0.5,
                          "utc_offset_seconds": 0, "timezone": "GMT", "timezone_abbreviation": "GMT",
                          "elevation": 50.0, "hourly_units": {"time": "iso8601", **{v: _UNITS[v] for v in variables}},
                          "hourly": hourly})
    return orjson.dumps(locations if len(locations) > 1 else locations[0])


def weather(lat: float, lon: float, hours: np.ndarray) -> dict[str, np.ndarray]:
    """Every simulated variable at UTC hour stamps (hours since the epoch) for one point."""
    seed = zlib.crc32(f"{lat:.3f},{lon:.3f}".encode()) % 9973
    day = np.mod(hours / 24, 365.25)
    solar = np.mod(hours + lon / 15, 24)  # local solar hour
    season = -np.cos(2 * np.pi * (day - 15) / 365.25)  # -1 mid-January, +1 mid-July
    noise = _noise(seed, hours)
    temperature = (27 - 0.45 * (lat - 25)) + (4 + 0.3 * abs(lat - 25)) * season \
        + 5 * np.sin(2 * np.pi * (solar - 9) / 24) + 1.5 * noise
    humidity = np.clip(65 - 15 * np.sin(2 * np.pi * (solar - 9) / 24) + 10 * _noise(seed + 1, hours), 5, 100)
    a, b = 17.62, 243.12
    gamma = a * temperature / (b + temperature) + np.log(humidity / 100)
    clouds = np.clip(50 + 45 * np.sin(hours / 29 + seed) * np.sin(hours / 7.3), 0, 100)
    sun = np.clip(np.sin(np.pi * (np.mod(solar - 0.5, 24) - 6) / 12), 0, None)  # middle of the preceding hour
    wind = np.clip(4 + 2.5 * np.sin(hours / 11 + seed) + 1.0 * noise, 0, None)
    rain = np.where((clouds > 85) & (_noise(seed + 2, hours) > 0.3), np.round(2 * (_noise(seed + 3, hours) + 1), 1), 0)
    return {
        "temperature_2m": temperature, "relative_humidity_2m": humidity, "dew_point_2m": b * gamma / (a - gamma),
        "cloud_cover": clouds, "wind_speed_10m": wind, "wind_speed_100m": 1.4 * wind,
        "shortwave_radiation": 950 * sun * (1 + 0.25 * season) * (1 - 0.7 * clouds / 100),
        "direct_radiation": 700 * sun * (1 - clouds / 100), "precipitation": rain, "rain": rain,
        "snowfall": np.where(temperature < 0, rain * 0.7, 0),
    }


def _noise(seed: int, t: np.ndarray) -> np.ndarray:
    x = np.sin(t * 12.9898 + seed * 78.233) * 43758.5453
    return (x - np.floor(x)) * 2 - 1


def _error(status: int, reason: str, headers: Mapping[str, str] | None = None) -> SimResponse:
    return SimResponse(status, orjson.dumps({"error": True, "reason": reason}),
                       {"Content-Type": "application/json", **(headers or {})})
