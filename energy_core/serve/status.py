"""``GET /v1/status`` (JSON) and ``GET /`` (the status page): one overview of the home, read at most once
a second however many ask."""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from energy_core.home import Home
from energy_core.ops import issued
from energy_core.ops.overview import ACCURACY_DAYS, EntityState, Overview, OverviewReader
from energy_core.serve.errors import ApiError
from energy_core.serve.flights import SingleFlight
from energy_core.serve.live import LiveService
from energy_core.serve.page import PLOT_HOURS, EntityPlot, render

router = APIRouter(tags=["status"])


class OverviewCache:
    """The home's :class:`Overview`, read again only after something it reads changed (checked at most
    every ``check_every`` seconds; one read at a time). A large home takes seconds to read, so this is
    what keeps scrapes and page views cheap."""

    def __init__(self, home: Home, check_every: float = 1.0) -> None:
        self.reader = OverviewReader(home)
        self.check_every = check_every
        self.latest: Overview | None = None
        self._stamp: tuple[Any, ...] | None = None
        self._checked = -math.inf
        self._flight: SingleFlight[str, Overview] = SingleFlight()

    async def get(self) -> Overview:
        if self.latest is not None and time.monotonic() - self._checked < self.check_every:
            return self.latest
        return await self._flight.run("overview", self._refresh)

    async def _refresh(self) -> Overview:
        self._checked = time.monotonic()
        stamp = await run_in_threadpool(self.reader.stamp)
        if self.latest is None or stamp != self._stamp:
            self.latest = await run_in_threadpool(self.reader.read)
            self._stamp = stamp
        return self.latest


@router.get("/v1/status", summary="The state of the home")
async def status(request: Request) -> Response:
    """Freshness per dataset and region (with the lag since the last stored hour ended), recent runs,
    runs and windows by status, open problems, requests per source, built entities with their models
    and the accuracy of the forecasts issued in the last 30 days."""
    services = request.app.state.energy
    overview = await services.overview.get()
    return Response(_json({**overview.to_json(datetime.now(UTC)),
                           "server": {"forecasts_computed": services.live.computed}}),
                    media_type="application/json")


@router.get("/", response_class=HTMLResponse, summary="The status page, for a person")
async def page(request: Request) -> HTMLResponse:
    services = request.app.state.energy
    overview = await services.overview.get()
    plots = [await _plot(services.live, entity) for entity in overview.entities]
    return HTMLResponse(render(overview, plots, services.home.root.name or str(services.home.root), datetime.now(UTC)))


async def _plot(service: LiveService, entity: EntityState) -> EntityPlot:
    snapshot = (await service.snapshot(entity.entity)).last(PLOT_HOURS)
    actual = [(t, v) for t, v in snapshot.target().iter_rows()]
    forecast: list[tuple[datetime, float]] = []
    band: list[tuple[datetime, float, float]] = []
    if entity.model is None:
        caption = f"No model: train one with `energy train --entity {entity.entity}`."
    else:
        try:
            issue = (await service.forecast(entity.entity)).forecast.issue
        except ApiError as exc:
            caption = f"No forecast: {exc.message}"
        else:
            assert issue is not None
            forecast = list(zip(issue.ts, issue.values, strict=True))
            if {"p10", "p90"} <= set(issue.bands):
                band = list(zip(issue.ts, issue.bands["p10"], issue.bands["p90"], strict=True))
            caption = (f"Forecast issued {issue.issued_at:%Y-%m-%d %H:%M} UTC from build {issue.feature_build} by the "
                       f"model of epoch {issue.model.epoch} ({issue.model.digest}).")
    if entity.accuracy is not None:
        caption += (f" Issued forecasts of the last {ACCURACY_DAYS} days: MAE {entity.accuracy.mae:,.1f}, MAPE "
                    f"{entity.accuracy.mape:.2f}% over {entity.accuracy.hours:,} hours.")
    earlier = await run_in_threadpool(_earlier, service.home, entity.entity, actual)
    return EntityPlot(entity.entity, entity.target, actual, forecast, earlier, band, caption)


def _earlier(home: Home, entity: str, actual: list[tuple[datetime, float]]) -> list[tuple[datetime, float]]:
    """For each hour drawn with its actual value, the last forecast issued for it."""
    if not actual:
        return []
    rows = issued.issued(home, entity, since=datetime.now(UTC) - timedelta(days=ACCURACY_DAYS))
    rows = (rows.filter(pl.col("ts").is_between(actual[0][0], actual[-1][0]))
            .sort("issued_at").unique("ts", keep="last").sort("ts"))
    return list(rows.select("ts", "value").iter_rows())


def _json(data: Any) -> bytes:
    return json.dumps(data, default=str).encode()
