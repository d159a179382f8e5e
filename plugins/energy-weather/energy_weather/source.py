"""The weather source: Open-Meteo's archive for history, its forecast API for recent days and ahead,
and its Previous Runs API for the forecasts of past hours (each as known a day before the hour)."""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, ClassVar

import polars as pl

from energy_core.api import ConfigError, FetchRequest, RateBudget, RawBatch, Source, SourceContext, Window
from energy_weather.api import (
    ARCHIVE_LAG,
    ARCHIVE_URL_VARIABLE,
    DEFAULT_ARCHIVE_URL,
    DEFAULT_FORECAST_URL,
    DEFAULT_PREVIOUS_RUNS_URL,
    FORECAST_HORIZON,
    FORECAST_URL_VARIABLE,
    PREVIOUS_DAY,
    PREVIOUS_DAY_LEAD,
    PREVIOUS_RUNS_START,
    PREVIOUS_RUNS_START_VARIABLE,
    PREVIOUS_RUNS_URL_VARIABLE,
)
from energy_weather.parse import classify, parse_locations
from energy_weather.points import Point, load_points
from energy_weather.variables import DEFAULT_VARIABLES, VARIABLES_VARIABLE

if TYPE_CHECKING:
    from energy_weather.simulator import WeatherSimulator

logger = logging.getLogger(__name__)

POINTS_PER_REQUEST = 10
FREE_TIER = (RateBudget(600, per=60.0, burst=600), RateBudget(5000, per=3600.0, burst=5000),
             RateBudget(10_000, per=86_400.0, burst=10_000))
"""Open-Meteo's non-commercial limits, in its weighted calls: under 600 a minute, 5,000 an hour and
10,000 a day (the hourly and daily ones are quotas: spent, then renewed)."""
VARIABLES_PER_CALL = 10
DAYS_PER_CALL = 14
"""One location with up to this many variables over up to this many days counts as one call; more count
proportionally more (API_FACTS 4.4)."""


class WeatherSource(Source):
    name = "weather"
    normalizer = "weather"
    datasets: ClassVar[dict[str, str]] = {
        "weather.hourly": "observed hourly weather (ERA5 archive; the forecast API's best estimate for the "
                          "last days) per point and per BA",
        "weather.forecast": "hourly weather forecasts: for hours still ahead when fetched, and for past hours the "
                            "forecast from a day before (Previous Runs API); retrieved_at is when it was known",
    }
    budget = FREE_TIER
    revision_lookback = timedelta(days=90)
    """ERA5's preliminary data are replaced for about three months: refetch windows that recent."""

    def __init__(self, context: SourceContext) -> None:
        super().__init__(context)
        self.archive_url = context.env.get(ARCHIVE_URL_VARIABLE, DEFAULT_ARCHIVE_URL)
        self.forecast_url = context.env.get(FORECAST_URL_VARIABLE, DEFAULT_FORECAST_URL)
        self.previous_runs_url = context.env.get(PREVIOUS_RUNS_URL_VARIABLE, DEFAULT_PREVIOUS_RUNS_URL)
        self.previous_runs_start = _previous_runs_start(context.env.get(PREVIOUS_RUNS_START_VARIABLE))
        self.points = load_points(dict(context.env))
        chosen = context.env.get(VARIABLES_VARIABLE, "")
        self.variables = tuple(v.strip() for v in chosen.split(",") if v.strip()) or DEFAULT_VARIABLES

    @classmethod
    def known_regions(cls, env: Mapping[str, str]) -> Collection[str]:
        """The BAs with weather points: the built-in table and the user's (``ENERGY_WEATHER_POINTS``)."""
        return load_points(dict(env)).keys()

    @classmethod
    def simulator(cls, env: Mapping[str, str]) -> WeatherSimulator:
        from energy_weather.simulator import WeatherSimulator

        return WeatherSimulator.from_env(env)

    def plan(self, request: FetchRequest) -> list[Window]:
        """Windows per calendar year (archive; Previous Runs for past forecasts), the recent days and the
        days ahead (forecast API), each for a group of BAs whose points fit one request; a BA's points
        are never split."""
        groups = self._groups(request.regions)
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        archive_end = _midnight(now - ARCHIVE_LAG)
        spans: list[tuple[str, datetime, datetime]] = []
        if "weather.hourly" in request.datasets:
            spans += [("weather.hourly", s, e) for s, e in _years(request.start, min(request.end, archive_end))]
            if max(request.start, archive_end) < min(request.end, now):
                spans.append(("weather.hourly", max(request.start, archive_end), min(request.end, now)))
        ahead = (max(request.start, now), min(request.end, now + FORECAST_HORIZON))
        if "weather.forecast" in request.datasets:
            past = max(request.start, self.previous_runs_start)
            spans += [("weather.forecast", s, e) for s, e in _years(past, min(request.end, now))]
            if ahead[0] < ahead[1]:
                spans.append(("weather.forecast", *ahead))
        return [Window(self.name, dataset, start, end, group) for dataset, start, end in spans for group in groups]

    def fetch(self, window: Window) -> Iterator[RawBatch]:
        """One request per window. A past window of ``weather.forecast`` asks the Previous Runs API for
        each variable's ``_previous_day1``: each row then carries ``issued``, when that value was known
        (its hour less a day), which becomes its ``retrieved_at``."""
        points = [p for ba in window.regions for p in self.points[ba]]
        archive_end = _midnight(datetime.now(UTC) - ARCHIVE_LAG)
        from_archive = window.dataset == "weather.hourly" and window.end <= archive_end
        previous = window.dataset == "weather.forecast" and window.end <= datetime.now(UTC)
        last_day = (window.end - timedelta(microseconds=1)).date() + timedelta(days=1)  # preceding-hour values
        if from_archive:
            last_day = min(last_day, (archive_end - timedelta(days=1)).date())
        variables = tuple(f"{v}{PREVIOUS_DAY}" for v in self.variables) if previous else self.variables
        url = self.archive_url if from_archive else self.previous_runs_url if previous else self.forecast_url
        fetched = self.http.get(
            url,
            params=self._params(points, window.start.date(), last_day, variables),
            parse=partial(parse_locations, points=points, variables=variables),
            classify=classify,
            cache=self.cache_mode(window),
            cost=calls(len(points), len(self.variables), (last_day - window.start.date()).days + 1),
        )
        owner = {p.id: ba for ba in window.regions for p in self.points[ba]}
        weight = {p.id: p.weight for p in points}
        rows = fetched.value.with_columns(
            ba=pl.col("point").replace_strict(owner, return_dtype=pl.String),
            weight=pl.col("point").replace_strict(weight, return_dtype=pl.Float64),
            variable=pl.col("variable").str.strip_suffix(PREVIOUS_DAY),
            issued=pl.col("stamp") - PREVIOUS_DAY_LEAD if previous else pl.lit(None, pl.Datetime("us", "UTC")),
        )
        yield RawBatch(window, rows, fetched.fetched_at)

    def cost(self, window: Window) -> float:
        points = sum(len(self.points.get(ba, ())) for ba in window.regions)
        days = (window.end - window.start) / timedelta(days=1)
        return calls(points, len(self.variables), math.ceil(days) + 1)

    def _params(self, points: list[Point], first: date, last: date,
                variables: tuple[str, ...]) -> list[tuple[str, str]]:
        return [("latitude", ",".join(f"{p.latitude:g}" for p in points)),
                ("longitude", ",".join(f"{p.longitude:g}" for p in points)),
                ("hourly", ",".join(variables)), ("start_date", first.isoformat()), ("end_date", last.isoformat()),
                ("timezone", "GMT"), ("wind_speed_unit", "ms"), ("timeformat", "iso8601")]

    def _groups(self, regions: tuple[str, ...]) -> list[tuple[str, ...]]:
        wanted = [r.upper() for r in regions] or sorted(self.points)
        missing = [r for r in wanted if r not in self.points]
        if missing:
            logger.warning("weather: no weather points for %s; add them with ENERGY_WEATHER_POINTS", missing)
        groups: list[list[str]] = []
        size = 0
        for ba in (r for r in wanted if r in self.points):
            count = len(self.points[ba])
            if not groups or size + count > POINTS_PER_REQUEST:
                groups.append([])
                size = 0
            groups[-1].append(ba)
            size += count
        return [tuple(g) for g in groups]


def calls(locations: int, variables: int, days: int) -> float:
    """What Open-Meteo counts a request as: its weight per location, times the locations, at least one."""
    weight = max(1.0, variables / VARIABLES_PER_CALL) * max(1.0, days / DAYS_PER_CALL)
    return max(1.0, locations * weight)


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _years(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Calendar-year pieces of ``[start, end)``: archive requests the API answers at a sensible size."""
    cursor = start
    while cursor < end:
        following = datetime(cursor.year + 1, 1, 1, tzinfo=UTC)
        yield cursor, min(following, end)
        cursor = min(following, end)


def _previous_runs_start(value: str | None) -> datetime:
    if not value:
        return PREVIOUS_RUNS_START
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        raise ConfigError(f"{PREVIOUS_RUNS_START_VARIABLE}={value!r} is no ISO date; give one such as 2024-01-01 "
                          "(the first day whose past forecasts the Previous Runs API keeps)") from None
