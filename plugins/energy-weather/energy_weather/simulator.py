"""A loopback imitation of Open-Meteo's archive and forecast APIs.

Plausible weather per point: temperature with a seasonal and a daily cycle set by latitude and
longitude, humidity and dew point that follow it, wind, clouds, sunlight as the preceding hour's
mean (zero at night) and occasional rain as the preceding hour's sum. The real parameters, one
object per location (a list for several), the 400 error body for unknown variables and dates
beyond the archive, GMT time stamps, and HTTP 429 in the same envelope when a :class:`Throttle`
limits its rate. The Previous Runs API (``/previous-runs/v1/forecast``) answers ``<variable>_previous_day1``.

Table mode replays a recorded table instead (:func:`load_table`): hourly values per BA or per point,
each requested location answered with the rows of the weather point at its coordinates, else of that
point's BA (so a BA's weighted mean is the recorded value). A ``<variable>_previous_day1`` column is the
day-ahead forecast the Previous Runs API serves; without one, it serves the recorded value itself (a
perfect forecast). Hours the table lacks come back null; the date limits of "today" do not apply.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import orjson
import polars as pl

from energy_core.api import ConfigError, RateBudget, SimRequest, SimResponse, Simulator, Throttle
from energy_weather.api import (
    ARCHIVE_LAG,
    ARCHIVE_URL_VARIABLE,
    FORECAST_HORIZON,
    FORECAST_URL_VARIABLE,
    PREVIOUS_DAY,
    PREVIOUS_RUNS_START_VARIABLE,
    PREVIOUS_RUNS_URL_VARIABLE,
    TABLE_VARIABLE,
    TIME_FORMAT,
)

_UNITS = {"temperature_2m": "°C", "dew_point_2m": "°C", "relative_humidity_2m": "%", "cloud_cover": "%",
          "wind_speed_10m": "m/s", "wind_speed_100m": "m/s", "shortwave_radiation": "W/m²", "direct_radiation": "W/m²",
          "precipitation": "mm", "rain": "mm", "snowfall": "cm"}


_PATHS = {"/v1/archive": "archive", "/v1/forecast": "forecast", "/previous-runs/v1/forecast": "previous"}
Series = Callable[[float, float, np.ndarray, list[str]], dict[str, np.ndarray]]
"""(latitude, longitude, UTC hours since the epoch, variables) -> each variable's values at those hours."""


class WeatherSimulator(Simulator):
    budget = RateBudget(200, per=1.0, burst=20)

    def __init__(self, *, table: pl.DataFrame | Path | str | None = None, throttle: Throttle | None = None) -> None:
        """:param table: replay this table (see :func:`load_table`) instead of inventing weather."""
        super().__init__(throttle=throttle)
        self.table = Replay(load_table(table)) if table is not None else None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> WeatherSimulator:
        """The simulator ``energy run --simulate`` starts; ``ENERGY_WEATHER_SIMULATOR_TABLE`` replays a
        file, ``ENERGY_SIM_*`` throttle it."""
        table = environ.get(TABLE_VARIABLE)
        return cls(table=Path(table) if table else None, throttle=Throttle.from_env(environ))

    def env(self) -> dict[str, str]:
        return {ARCHIVE_URL_VARIABLE: f"{self.url}/v1/archive", FORECAST_URL_VARIABLE: f"{self.url}/v1/forecast",
                PREVIOUS_RUNS_URL_VARIABLE: f"{self.url}/previous-runs/v1/forecast",
                PREVIOUS_RUNS_START_VARIABLE: "1940-01-01"}  # it answers any past hour

    def throttled(self) -> SimResponse:
        """Open-Meteo's per-minute limit, in its error envelope; the source waits a minute unless a
        ``Retry-After`` says less."""
        retry_after = self.throttle.retry_after
        return _error(429, "Minutely API request limit exceeded. Please try again in one minute.",
                      {"Retry-After": retry_after} if retry_after is not None else {})

    def handle(self, request: SimRequest) -> SimResponse:
        api = _PATHS.get(request.path)
        if api is None:
            return _error(404, "Not Found")
        try:
            if self.table is not None:
                body = answer(request, api=api, today=None, series=self.table.series)
            else:
                body = answer(request, api=api, today=datetime.now(UTC).date(), series=invented)
        except ValueError as exc:
            return _error(400, str(exc))
        return SimResponse(200, body, {"Content-Type": "application/json; charset=utf-8"})


def answer(request: SimRequest, *, api: str, today: date | None, series: Series) -> bytes:
    """The JSON of one request to ``api`` (archive, forecast or previous); ``today`` sets the date limits
    (None: no limits, for a replayed table)."""
    latitude_text, longitude_text = request.first("latitude") or "", request.first("longitude") or ""
    latitudes = [float(v) for v in latitude_text.split(",") if v]
    longitudes = [float(v) for v in longitude_text.split(",") if v]
    if not latitudes or len(latitudes) != len(longitudes):
        raise ValueError("Parameter 'latitude' and 'longitude' must have the same number of elements")
    if any(not -90 <= lat <= 90 for lat in latitudes):
        raise ValueError("Latitude must be in range of -90 to 90°. Given: " + latitude_text)
    variables = [v for v in (request.first("hourly") or "").split(",") if v]
    for variable in variables:
        if (variable.removesuffix(PREVIOUS_DAY) if api == "previous" else variable) not in _UNITS:
            raise ValueError(f"Cannot initialize WeatherVariable from invalid String value {variable} for key hourly")
    if (request.first("timezone") or "GMT") not in ("GMT", "UTC"):
        raise ValueError("The simulator answers in GMT only")
    first_text, last_text = request.first("start_date"), request.first("end_date")
    if first_text is None or last_text is None:
        raise ValueError("The simulator needs 'start_date' and 'end_date' (YYYY-MM-DD)")
    first, last = date.fromisoformat(first_text), date.fromisoformat(last_text)
    limit = None if today is None else today - ARCHIVE_LAG if api == "archive" else today + FORECAST_HORIZON
    if first > last or (limit is not None and last > limit):
        raise ValueError(f"Parameter 'end_date' is out of allowed range from 1940-01-01 to {limit or last}")
    start = datetime.combine(first, datetime.min.time(), UTC)
    hours = np.arange(int(start.timestamp() // 3600), int(start.timestamp() // 3600) + 24 * ((last - first).days + 1))
    times = [datetime.fromtimestamp(h * 3600, UTC).strftime(TIME_FORMAT) for h in hours.tolist()]
    units = {v: _UNITS[v.removesuffix(PREVIOUS_DAY)] for v in variables}
    locations = []
    for lat, lon in zip(latitudes, longitudes, strict=True):
        values = series(lat, lon, hours, variables)
        hourly = {"time": times, **{v: [None if np.isnan(x) else round(float(x), 2) for x in values[v]]
                                    for v in variables}}
        locations.append({"latitude": round(lat, 4), "longitude": round(lon, 4), "generationtime_ms": 0.5,
                          "utc_offset_seconds": 0, "timezone": "GMT", "timezone_abbreviation": "GMT",
                          "elevation": 50.0, "hourly_units": {"time": "iso8601", **units},
                          "hourly": hourly})
    return orjson.dumps(locations if len(locations) > 1 else locations[0])


def invented(lat: float, lon: float, hours: np.ndarray, variables: list[str]) -> dict[str, np.ndarray]:
    """The invented weather; a ``_previous_day1`` variable is the value itself (a perfect forecast)."""
    made = weather(lat, lon, hours.astype(np.float64))
    return {v: made[v.removesuffix(PREVIOUS_DAY)] for v in variables}


class Replay:
    """A recorded table's hourly values, answered per requested location."""

    def __init__(self, table: pl.DataFrame) -> None:
        self.places = {(round(lat, 4), round(lon, 4)): group.sort("hour")
                       for (lat, lon), group in table.group_by("latitude", "longitude")}
        self.columns = [c for c in table.columns if c not in ("hour", "latitude", "longitude")]

    def series(self, lat: float, lon: float, hours: np.ndarray, variables: list[str]) -> dict[str, np.ndarray]:
        rows = self.places.get((round(lat, 4), round(lon, 4)))
        if rows is None:
            raise ValueError(f"The replayed table has no rows for latitude {lat}, longitude {lon}")
        index = np.searchsorted(rows["hour"].to_numpy(), hours)
        found = (index < rows.height) & (rows["hour"].to_numpy()[np.minimum(index, rows.height - 1)] == hours)
        out = {}
        for variable in variables:
            column = variable if variable in self.columns else variable.removesuffix(PREVIOUS_DAY)
            if column not in self.columns:
                raise ValueError(f"The replayed table has no column {variable!r} (it has {', '.join(self.columns)}); "
                                 f"ask only for those, e.g. ENERGY_WEATHER_VARIABLES={self.columns[0]}")
            values = rows[column].cast(pl.Float64).fill_null(np.nan).to_numpy()
            out[variable] = np.where(found, values[np.minimum(index, rows.height - 1)], np.nan)
        return out


ALIASES = {"temperature_c": "temperature_2m", "forecast_temperature_c": "temperature_2m" + PREVIOUS_DAY}
"""Column names of recorded tables (the MERRA temperatures benchmarks/weather.py replays) -> Open-Meteo variables."""


def load_table(source: pl.DataFrame | Path | str) -> pl.DataFrame:
    """A recorded table as the simulator replays it: ``hour`` (UTC hours since the epoch), ``latitude``,
    ``longitude`` and one column per Open-Meteo variable.

    Accepted columns: ``ts`` (or ``time``/``timestamp``; an hour start, UTC when it has no zone),
    ``latitude`` and ``longitude`` (the places asked for; :func:`energy_weather.points.at_points` turns a
    table of BAs into rows at their weather points), and variables named
    as Open-Meteo names them (``temperature_2m``, ``temperature_2m_previous_day1``) or as in
    :data:`ALIASES` (``temperature_c``).
    """
    frame = source if isinstance(source, pl.DataFrame) else _read(Path(source))
    frame = frame.rename({old: new for old, new in ALIASES.items() if old in frame.columns})
    time_column = next((c for c in ("ts", "time", "timestamp") if c in frame.columns), None)
    if time_column is None or not {"latitude", "longitude"} <= set(frame.columns):
        raise ConfigError(f"weather simulator table needs 'ts', 'latitude' and 'longitude' columns; it has "
                          f"{frame.columns} (energy_weather.points.at_points places a table of BAs at their points)")
    stamps = frame[time_column]
    if not isinstance(stamps.dtype, pl.Datetime):
        raise ConfigError(f"weather simulator table column {time_column!r} must hold timestamps, not {stamps.dtype}")
    if stamps.dtype.time_zone is None:
        stamps = stamps.dt.replace_time_zone("UTC")
    variables = [c for c in frame.columns if c.removesuffix(PREVIOUS_DAY) in _UNITS]
    if not variables:
        raise ConfigError(f"weather simulator table has no variable column (e.g. temperature_2m or temperature_c); "
                          f"it has {frame.columns}")
    hours = stamps.dt.convert_time_zone("UTC").dt.epoch("s") // 3600
    return frame.select(pl.Series("hour", hours), pl.col("latitude", "longitude").cast(pl.Float64),
                        *(pl.col(v).cast(pl.Float64) for v in variables))


def _read(path: Path) -> pl.DataFrame:
    if not path.exists():
        raise ConfigError(f"weather simulator table {path} does not exist")
    return pl.read_csv(path, try_parse_dates=True) if path.suffix.lower() == ".csv" else pl.read_parquet(path)


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
