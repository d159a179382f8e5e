"""``GET /v1/observations``: stored rows of one dataset and region over a time range, every parameter checked."""

from __future__ import annotations

import difflib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from energy_core.ops.observations import ObservationReader, Selection
from energy_core.serve.answers import Answers
from energy_core.serve.errors import ApiError
from energy_core.serve.formats import Encoded, Format, encode

if TYPE_CHECKING:
    from energy_core.serve.app import Services

router = APIRouter(tags=["observations"])

_WHEN = "UTC date (YYYY-MM-DD) or ISO timestamp (YYYY-MM-DDTHH:MM[:SS], with Z or an offset; none means UTC)"


@router.get("/v1/observations", summary="Stored observations of one dataset and region over a time range",
            responses={404: {"description": "unknown dataset, region or series (the answer lists those stored)"},
                       422: {"description": "a bad date, a range over the cap, a limit over the cap"}})
async def observations(
    request: Request,
    dataset: Annotated[str, Query(description="e.g. eia.region")],
    region: Annotated[str, Query(description="e.g. PACW")],
    start: Annotated[str, Query(description=f"First hour, included: {_WHEN}")],
    end: Annotated[str, Query(description=f"End, excluded: {_WHEN}")],
    series: Annotated[str | None, Query(description="e.g. demand; default: every series of the region")] = None,
    format: Annotated[Format, Query(description="json, csv, arrow (IPC stream) or parquet")] = Format.JSON,
    limit: Annotated[int | None, Query(description="Most rows to return (default and cap: see the error)")] = None,
) -> Response:
    """Rows of the canonical schema (ts, source, dataset, region, series, value, unit, retrieved_at) with
    ``start <= ts < end``, sorted by hour and series. ``truncated`` (JSON) or ``X-Energy-Truncated`` says
    whether more rows were stored than ``limit``."""
    services: Services = request.app.state.energy
    settings = services.settings
    begin, finish = _instant("start", start), _instant("end", end)
    if finish <= begin:
        raise ApiError(422, f"end {end!r} is not after start {start!r}; the range is [start, end)")
    days = (finish - begin).total_seconds() / 86400
    if days > settings.max_days:
        raise ApiError(422, f"the range is {days:.1f} days, over the cap of {settings.max_days}; ask for it in parts")
    rows = settings.default_rows if limit is None else limit
    if not 1 <= rows <= settings.max_rows:
        raise ApiError(422, f"limit {rows} is not between 1 and {settings.max_rows}; ask for a shorter range instead")
    selection = Selection(dataset, region, series, begin, finish)
    encoded = await run_in_threadpool(_answer, services.observations, services.answers, selection, rows, format)
    return Response(encoded.body, media_type=encoded.media_type, headers=encoded.headers)


def _answer(reader: ObservationReader, answers: Answers, selection: Selection, limit: int, fmt: Format) -> Encoded:
    """On a worker thread: check the names, read and encode, or answer as before while the dataset's
    table has not changed (one hop off the event loop per request)."""
    version = reader.version(selection.dataset)
    if version is None:
        stored = reader.datasets()
        raise ApiError(404, f"unknown dataset {selection.dataset!r}{_did_you_mean(selection.dataset, stored)}",
                       datasets=stored)
    key = (selection, limit, fmt, version)
    answer = answers.get(key)
    if answer is not None:
        return answer
    frame, truncated = reader.read(selection, limit)
    if frame.height == 0:  # only an empty answer costs a look at what is stored
        _check_names(reader, selection)
    answer = encode(frame, fmt, {"dataset": selection.dataset, "region": selection.region, "series": selection.series,
                                 "start": selection.start.isoformat(), "end": selection.end.isoformat(),
                                 "truncated": truncated})
    answers.keep(key, answer)
    return answer


def _instant(name: str, text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(422, f"{name}={text!r} is not a {_WHEN}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _check_names(reader: ObservationReader, selection: Selection) -> None:
    names = reader.series_by_region(selection.dataset)
    if selection.region not in names:
        regions = sorted(names)
        raise ApiError(404, f"unknown region {selection.region!r} in {selection.dataset}"
                            f"{_did_you_mean(selection.region, regions)}", regions=regions)
    if selection.series is not None and selection.series not in names[selection.region]:
        series = names[selection.region]
        raise ApiError(404, f"unknown series {selection.series!r} for {selection.dataset} {selection.region}"
                            f"{_did_you_mean(selection.series, series)}", series=series)


def _did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3)
    return f"; did you mean {', '.join(close)}?" if close else ""
