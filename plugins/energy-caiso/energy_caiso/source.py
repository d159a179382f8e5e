"""The CAISO source: OASIS SingleZip reports and Today's Outlook history files."""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import TYPE_CHECKING, ClassVar
from zoneinfo import ZoneInfo

import polars as pl

from energy_caiso.api import (
    DEFAULT_OASIS_URL,
    DEFAULT_OUTLOOK_URL,
    FUELSOURCE,
    HISTORY_DAY_FORMAT,
    HUB_NODES,
    MIN_INTERVAL_S,
    OASIS_URL_VARIABLE,
    OUTLOOK_URL_VARIABLE,
    PACIFIC,
    SINGLE_ZIP,
    STAMP_FORMAT,
    TAC_AREAS,
)
from energy_caiso.archive import oasis_error, read_single_member
from energy_caiso.parse import read_fuelsource, read_report
from energy_caiso.reports import OASIS_DATASETS, OUTLOOK_DATASET, SYSTEM, Report, region
from energy_core.api import (
    CacheMode,
    EnergyError,
    FetchRequest,
    HttpResponse,
    RateBudget,
    RateLimitedError,
    RawBatch,
    Source,
    SourceContext,
    UnexpectedPayloadError,
    Window,
    month_windows,
)

if TYPE_CHECKING:
    from energy_caiso.simulator import CaisoSimulator

logger = logging.getLogger(__name__)

OASIS_BUDGET = RateBudget(1, per=MIN_INTERVAL_S, burst=1, concurrency=1)
"""OASIS asks for one request at a time, five seconds apart."""
OUTLOOK_BUDGET = RateBudget(1, per=1.0, burst=2)
"""Today's Outlook publishes no limit; one file a second is polite."""
_RETRY_AFTER = re.compile(rb"retry your request after (\d+) seconds", re.IGNORECASE)


@dataclass(frozen=True)
class Answer:
    """One OASIS answer: intervals, or none when OASIS said "no data" (ERR_CODE 1000)."""

    rows: pl.DataFrame | None


class CaisoSource(Source):
    name = "caiso"
    normalizer = "caiso"
    datasets: ClassVar[dict[str, str]] = {
        "caiso.load": "actual system and TAC-area load (SLD_FCST ACTUAL)",
        "caiso.load_forecast": "day-ahead, two-day-ahead and seven-day-ahead load forecasts (SLD_FCST)",
        "caiso.renewables_forecast": "day-ahead solar and wind forecasts by trading hub (SLD_REN_FCST)",
        "caiso.lmp": "day-ahead hourly LMP and its components at the three trading hubs (PRC_LMP)",
        "caiso.schedules": "day-ahead generation, import and export schedules by TAC area (ENE_SLRS)",
        "caiso.fuelmix": "generation by fuel, 5-minute MW averaged to hours (Today's Outlook)",
    }
    budget = OASIS_BUDGET
    revision_lookback = timedelta(days=7)
    """Windows ending within this many days of now are refetched; older ones come from the cache."""

    def __init__(self, context: SourceContext) -> None:
        super().__init__(context)
        self.oasis_url = context.env.get(OASIS_URL_VARIABLE, DEFAULT_OASIS_URL).rstrip("/")
        self.outlook_url = context.env.get(OUTLOOK_URL_VARIABLE, DEFAULT_OUTLOOK_URL).rstrip("/")

    @classmethod
    def known_regions(cls, env: Mapping[str, str]) -> Collection[str]:
        """The system (``CISO``), its TAC areas and its trading hubs. Naming any of them fetches the whole
        system: OASIS reports cover every area at once."""
        return {SYSTEM, *(region("caiso.load", area) for area in TAC_AREAS),
                *(region("caiso.lmp", node) for node in HUB_NODES)}

    @classmethod
    def simulator(cls, env: Mapping[str, str]) -> CaisoSimulator:
        from energy_caiso.simulator import CaisoSimulator

        return CaisoSimulator.from_env(env)

    def plan(self, request: FetchRequest) -> list[Window]:
        """Calendar months (never more than the 31 days OASIS allows), one window per dataset.

        OASIS reports cover the whole system, so ``--region`` does not narrow what CAISO fetches.
        """
        return [Window(self.name, dataset, start, end)
                for start, end in month_windows(request.start, request.end)
                for dataset in request.datasets]

    def fetch(self, window: Window) -> Iterator[RawBatch]:
        mode = self.cache_mode(window)
        if window.dataset == OUTLOOK_DATASET:
            yield from self._fetch_outlook(window, mode)
            return
        for report in OASIS_DATASETS[window.dataset]:
            fetched = self.http.get(
                f"{self.oasis_url}/{SINGLE_ZIP}", params=oasis_params(report, window.start, window.end),
                parse=partial(parse_oasis, report=report), classify=classify, cache=mode)
            if fetched.value.rows is None:
                logger.info("caiso: no data (ERR_CODE 1000) for %s %s", report.queryname, report.market)
                continue
            rows = fetched.value.rows.filter(pl.col("start") >= window.start, pl.col("start") < window.end)
            yield RawBatch(window, rows, fetched.fetched_at)

    def _fetch_outlook(self, window: Window, mode: CacheMode) -> Iterator[RawBatch]:
        for day in pacific_days(window.start, window.end):
            fetched = self.http.get(f"{self.outlook_url}/history/{day.strftime(HISTORY_DAY_FORMAT)}/{FUELSOURCE}",
                                    parse=partial(parse_fuelsource, day=day), cache=mode, budget=OUTLOOK_BUDGET)
            day_start, day_end = pacific_day_bounds(day)
            yield RawBatch(Window(self.name, OUTLOOK_DATASET, day_start, day_end), fetched.value,
                           fetched.fetched_at)


def oasis_params(report: Report, start: datetime, end: datetime) -> list[tuple[str, str]]:
    """SingleZip parameters; times in GMT as ``YYYYMMDDTHH:MM-0000`` (ISO dashes are refused: 1002)."""
    return [*report.params(), ("startdatetime", start.astimezone(UTC).strftime(STAMP_FORMAT)),
            ("enddatetime", end.astimezone(UTC).strftime(STAMP_FORMAT))]


def parse_oasis(response: HttpResponse, report: Report) -> Answer:
    member = read_single_member(response.body, response.request)
    if member.name.lower().endswith(".xml"):
        error = oasis_error(member.data, response.request)
        if error is None:
            return Answer(None)
        raise error
    return Answer(read_report(member.data, report))


def parse_fuelsource(response: HttpResponse, day: date) -> pl.DataFrame:
    if response.body.lstrip()[:1] == b"<":
        raise UnexpectedPayloadError(f"caiso: expected CSV from {response.request}, got markup", source="caiso")
    return read_fuelsource(response.body, day)


def classify(response: HttpResponse) -> EnergyError | None:
    """OASIS throttles with HTTP 429 and an HTML page asking for a pause: wait that long, then retry."""
    if response.status != 429:
        return None
    error = RateLimitedError(f"caiso: OASIS rate limit (HTTP 429) on {response.request}", source="caiso", status=429)
    match = _RETRY_AFTER.search(response.body)
    error.retry_after = float(match.group(1)) if match else OASIS_BUDGET.per
    return error


def pacific_days(start: datetime, end: datetime) -> list[date]:
    """The Pacific operating days that overlap ``[start, end)``."""
    zone = ZoneInfo(PACIFIC)
    first = start.astimezone(zone).date()
    last = (end - timedelta(microseconds=1)).astimezone(zone).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def pacific_day_bounds(day: date) -> tuple[datetime, datetime]:
    """UTC instants of a Pacific day's first and next day's first moment (23, 24 or 25 hours apart)."""
    zone = ZoneInfo(PACIFIC)
    start = datetime.combine(day, time(), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), zone).astimezone(UTC)
    return start, end
