"""``GET /v1/forecast/{entity}`` and ``GET /v1/context/{entity}``: the latest forecast and the live context."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from energy_core.serve.errors import ApiError
from energy_core.serve.formats import Format, encode
from energy_core.serve.live import LiveService, forecast_frame

router = APIRouter(tags=["forecasts"])
_ENTITY = Path(description="A built entity, e.g. PACW (404 lists them)")


@router.get("/v1/forecast/{entity}", summary="The latest forecast of an entity",
            responses={304: {"description": "unchanged since the ETag sent in If-None-Match"},
                       404: {"description": "no such entity, or no model for it (the answer says how to train one)"},
                       409: {"description": "the model cannot read the current features"}})
async def forecast(request: Request, entity: Annotated[str, _ENTITY],
                   format: Annotated[Format, Query(description="json, csv, arrow or parquet")] = Format.JSON,
                   ) -> Response:
    """The next ``horizon`` hours after the last stored hour (``value``, and the quantiles ``p10``, ``p50``,
    ``p90`` when the model gives them), from the entity's best model (the epoch of lowest validation loss)
    and its latest hours. Computed once per new build or new model, recorded in
    the issued-forecast log, and served from memory until then. ``X-Energy-Stale: true`` marks the
    previous forecast, answered while the one for newly landed data is being computed."""
    service: LiveService = request.app.state.energy.live
    served = await service.forecast(entity)
    issued = served.forecast
    headers = {"ETag": issued.etag, "Cache-Control": "no-cache"}
    if served.stale:
        headers["X-Energy-Stale"] = "true"
    if request.headers.get("if-none-match") == issued.etag:
        return Response(status_code=304, headers=headers)
    if format is Format.JSON:
        return Response(issued.body, media_type=format.media_type, headers=headers)
    assert issued.issue is not None
    issue = issued.issue
    encoded = encode(forecast_frame(issue), format, {"entity": issue.entity, "target": issue.target,
                                     "feature_build": issue.feature_build, "issued_at": issue.issued_at.isoformat()})
    return Response(encoded.body, media_type=encoded.media_type, headers={**headers, **encoded.headers})


@router.get("/v1/context/{entity}", summary="The latest hours of an entity's features",
            responses={404: {"description": "no such entity (the answer lists those built)"},
                       422: {"description": "hours out of range"}})
async def context(request: Request, entity: Annotated[str, _ENTITY],
                  hours: Annotated[int, Query(description="How many of the latest hours (at most the server's cap, "
                                                          "8760 by default)")] = 168,
                  format: Annotated[Format, Query(description="json, csv, arrow or parquet")] = Format.JSON,
                  ) -> Response:
    """One row per hour (``ts``, then one column per feature in its units), null where the hour was not
    observed; all from one feature build (``feature_build``), whatever is being built meanwhile."""
    service: LiveService = request.app.state.energy.live
    if not 1 <= hours <= service.max_hours:
        raise ApiError(422, f"hours={hours} is not between 1 and {service.max_hours}")
    encoded = await service.context(entity, hours, format)
    return Response(encoded.body, media_type=encoded.media_type, headers=encoded.headers)
