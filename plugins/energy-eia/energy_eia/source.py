"""The EIA API v2 source: hourly EIA-930 region data and generation by fuel."""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, ClassVar

import polars as pl

from energy_core.api import (
    AuthError,
    CacheMissError,
    CacheMode,
    Fetched,
    FetchRequest,
    IncompleteFetchError,
    RateBudget,
    RawBatch,
    Source,
    SourceContext,
    Window,
    WouldFetchError,
    calendar_windows,
    month_windows,
)
from energy_eia.api import (
    BALANCING_AUTHORITIES,
    DEFAULT_URL,
    FREQUENCY,
    KEY_VARIABLE,
    PAGE_LENGTH,
    PERIOD_FORMAT,
    REGISTER_URL,
    RESPONDENTS,
    URL_VARIABLE,
)
from energy_eia.codes import ROUTES, Route
from energy_eia.parse import Page, classify, native_decoder, parse_page

if TYPE_CHECKING:
    from energy_eia.simulator import EiaSimulator

logger = logging.getLogger(__name__)

RESPONDENTS_PER_WINDOW = 10
WINDOW_PAGES = 16
"""A window spans a calendar year or quarter instead of a month where its rows fill at most this many pages:
a month of one BA fills part of one or two pages, a year of it fills 8 to 15 whole ones."""
ESTIMATED_FUELS = 8
ESTIMATED_RESPONDENTS = len(BALANCING_AUTHORITIES)
"""For estimates only: a window naming no respondent gets every BA EIA-930 has, about this many."""
FETCH_ATTEMPTS = 2
"""A window whose row count does not match ``total`` is fetched again once, bypassing the cache."""


class EiaSource(Source):
    name = "eia"
    normalizer = "eia"
    datasets: ClassVar[dict[str, str]] = {
        "eia.region": "hourly demand, day-ahead demand forecast, net generation and total interchange per BA",
        "eia.fuel": "hourly net generation by energy source per BA",
    }
    budget = RateBudget(5, per=1.0, burst=5)
    revision_lookback = timedelta(days=14)
    """Windows ending within this many days of now are refetched: EIA revises recent hours."""

    def __init__(self, context: SourceContext) -> None:
        super().__init__(context)
        self.base_url = context.env.get(URL_VARIABLE, DEFAULT_URL).rstrip("/")
        self._api_key = context.secret(KEY_VARIABLE)
        if not native_decoder():
            logger.info("energy-eia was installed without its native page decoder (no C compiler?): pages "
                        "decode with msgspec, holding the GIL; reinstall it where a C compiler is available")

    def __repr__(self) -> str:
        return f"EiaSource(base_url={self.base_url!r}, api_key={'***' if self._api_key else None})"

    @classmethod
    def known_regions(cls, env: Mapping[str, str]) -> Collection[str]:
        """The EIA-930 respondents: balancing authorities and the regions EIA sums them into."""
        return RESPONDENTS.keys()

    @classmethod
    def simulator(cls, env: Mapping[str, str]) -> EiaSimulator:
        from energy_eia.simulator import EiaSimulator

        return EiaSimulator.from_env(env)

    def plan(self, request: FetchRequest) -> list[Window]:
        """Windows of at most ten respondents, over whole years or quarters where the first (largest)
        group's fill few pages (the months EIA still revises stay months), earliest first. A dataset's
        groups share their spans, so that a month's windows go out one after another and the lake's
        buffer holds fewer months at once."""
        regions = tuple(dict.fromkeys(r.upper() for r in request.regions))
        groups = [regions[i : i + RESPONDENTS_PER_WINDOW] for i in range(0, len(regions), RESPONDENTS_PER_WINDOW)]
        settled_before = datetime.now(UTC) - self.revision_lookback
        windows = [
            Window(self.name, dataset, start, end, group)
            for dataset in request.datasets
            for start, end in calendar_windows(request.start, request.end, settled_before=settled_before,
                                               fits=partial(self._fits, dataset, groups[0] if groups else ()))
            for group in groups or [()]
        ]
        return sorted(windows, key=lambda window: window.start)

    def _fits(self, dataset: str, regions: tuple[str, ...], start: datetime, end: datetime) -> bool:
        return self.cost(Window(self.name, dataset, start, end, regions)) <= WINDOW_PAGES

    def fetch(self, window: Window) -> Iterator[RawBatch]:
        route = ROUTES[window.dataset]
        mode = self.cache_mode(window)
        for attempt in range(1, FETCH_ATTEMPTS + 1):
            try:
                yield self._fetch_window(route, window, mode)
                return
            except IncompleteFetchError as exc:
                if attempt == FETCH_ATTEMPTS:
                    raise
                logger.warning("%s; fetching the window again", exc)
                mode = CacheMode.REFRESH

    def _fetch_window(self, route: Route, window: Window, mode: CacheMode) -> RawBatch:
        """The first page tells the total; the other pages then go out together."""
        try:
            first = self._page(route, window, 0, mode)
        except (CacheMissError, WouldFetchError):
            months = [Window(self.name, window.dataset, start, end, window.regions)
                      for start, end in month_windows(window.start, window.end)]
            if not self.http.offline or len(months) == 1:
                raise
            return join_windows(window, [self._fetch_window(route, month, mode) for month in months])
        total = first.value.total
        offsets = range(PAGE_LENGTH, total, PAGE_LENGTH) if first.value.rows.height else range(0)
        fetched = [first, *self.http.map(partial(self._page, route, window, mode=mode), offsets)]
        changed = sorted({f.value.total for f in fetched} - {total})
        if changed:
            raise IncompleteFetchError(f"eia: {window.describe()}: total changed from {total} to {changed[0]} "
                                       "between pages", source=self.name)
        return assemble_window(route, window, [f.value for f in fetched], max(f.fetched_at for f in fetched))

    def _page(self, route: Route, window: Window, offset: int, mode: CacheMode) -> Fetched[Page]:
        return self.http.get(
            f"{self.base_url}/{route.path}/data/",
            params=page_params(route, window, offset),
            secrets=self._secrets(),
            parse=partial(parse_page, route=route),
            classify=classify,
            cache=mode,
        )

    def cost(self, window: Window) -> float:
        """The pages the window's rows fill (a BA reports a handful of fuels: eight assumed)."""
        route = ROUTES[window.dataset]
        series = len(route.series) if route.facet_codes else ESTIMATED_FUELS
        hours = (window.end - window.start) / timedelta(hours=1)
        respondents = len(window.regions) or ESTIMATED_RESPONDENTS
        return float(max(1, math.ceil(respondents * series * hours / PAGE_LENGTH)))

    def _secrets(self) -> dict[str, str]:
        if not self._api_key and not self.http.offline:
            raise AuthError(f"{KEY_VARIABLE} is not set: get a free key at {REGISTER_URL} and export it, "
                            "or try the pipeline with --simulate", source=self.name)
        return {"api_key": self._api_key} if self._api_key else {}

def page_params(route: Route, window: Window, offset: int) -> list[tuple[str, str]]:
    """Query parameters for one page. ``period`` is hour-ending and both bounds are inclusive."""
    first, last = window.start + timedelta(hours=1), window.end
    params = [("frequency", FREQUENCY), ("data[0]", "value")]
    params += [("facets[respondent][]", r) for r in window.regions]
    if route.facet_codes:
        params += [(f"facets[{route.code_column}][]", code) for code in route.series]
    params += [("start", first.strftime(PERIOD_FORMAT)), ("end", last.strftime(PERIOD_FORMAT))]
    for i, column in enumerate(("period", "respondent", route.code_column)):
        params += [(f"sort[{i}][column]", column), (f"sort[{i}][direction]", "asc")]
    params += [("offset", str(offset)), ("length", str(PAGE_LENGTH))]
    return params


def assemble_window(route: Route, window: Window, pages: list[Page], retrieved_at: datetime) -> RawBatch:
    """Join a window's pages, drop overlap, and insist that exactly ``total`` distinct rows remain."""
    total = pages[0].total
    rows = pl.concat([p.rows for p in pages])
    received = rows.height
    if not _strictly_increasing(rows):  # the sort we ask for makes a correct answer strictly increasing
        rows = rows.unique(subset=["period", "respondent", "code"], keep="last", maintain_order=True)
    if rows.height != total:  # overlapping pages are fine once deduplicated; a missing row is not
        raise IncompleteFetchError(
            f"eia: {window.describe()}: received {received} rows ({rows.height} distinct) but the API "
            f"reported a total of {total}", source="eia")
    warnings = [w for p in pages for w in p.warnings]
    rows, outside = _inside(rows, window)
    if outside:
        warnings.append(f"{outside} row(s) outside the requested hours were dropped")
    unknown = sorted(set(rows["code"].unique()) - set(route.series))
    if unknown:
        warnings.append(f"unknown {route.code_column} code(s) {unknown} stored as "
                        f"{[route.series_for_unknown(c) for c in unknown]}")
    return RawBatch(window, rows, retrieved_at, tuple(dict.fromkeys(warnings)))


def join_windows(window: Window, parts: list[RawBatch]) -> RawBatch:
    """One batch for ``window`` from batches of its months: a raw cache written when this source
    fetched month by month still answers ``--offline`` and ``--plan``."""
    return RawBatch(window, pl.concat([part.rows for part in parts]), max(part.retrieved_at for part in parts),
                    tuple(dict.fromkeys(w for part in parts for w in part.warnings)))


def _strictly_increasing(rows: pl.DataFrame) -> bool:
    """True when (period, respondent, code) strictly increases row to row, which proves no key repeats."""
    later = pl.lit(False)
    for column in reversed(("period", "respondent", "code")):
        previous = pl.col(column).shift(1)
        later = (pl.col(column) > previous) | ((pl.col(column) == previous) & later)
    return rows.select(later.slice(1).all()).item()


def _inside(rows: pl.DataFrame, window: Window) -> tuple[pl.DataFrame, int]:
    first, last = window.start + timedelta(hours=1), window.end  # the window's hours, as hour-ending periods
    if rows.height == 0:
        return rows, 0
    earliest, latest = rows["period"].min(), rows["period"].max()
    if isinstance(earliest, datetime) and isinstance(latest, datetime) and first <= earliest and latest <= last:
        return rows, 0
    inside = rows.filter(pl.col("period").is_between(first, last))
    return inside, rows.height - inside.height
