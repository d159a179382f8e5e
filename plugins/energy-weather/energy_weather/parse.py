"""Open-Meteo bodies -> long frames of (point, stamp, variable, value), or typed errors."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import polars as pl
from pydantic import ValidationError

from energy_core.api import (
    EnergyError,
    HttpResponse,
    InvalidRequestError,
    PayloadValidationError,
    QuotaExhaustedError,
    RateLimitedError,
    UnexpectedPayloadError,
)
from energy_weather.api import TIME_FORMAT
from energy_weather.models import ERROR_BODY, LOCATIONS, Location
from energy_weather.points import Point
from energy_weather.variables import UNITS

_ROWS = pl.Schema({"point": pl.String(), "stamp": pl.Datetime("us", "UTC"), "variable": pl.String(),
                   "value": pl.Float64(), "unit": pl.String()})


def parse_locations(response: HttpResponse, points: Sequence[Point], variables: Sequence[str]) -> pl.DataFrame:
    """One row per point, hour and variable; ``stamp`` is Open-Meteo's time converted to UTC."""
    try:
        parsed = LOCATIONS.validate_json(response.body)
    except ValidationError as exc:
        raise _invalid(exc, response) from None
    locations = parsed if isinstance(parsed, list) else [parsed]
    if len(locations) != len(points):
        raise PayloadValidationError(f"weather: asked for {len(points)} locations, got {len(locations)} from "
                                     f"{response.request}", source="weather")
    frames = [_location_rows(loc, point, variables, response.request) for loc, point in zip(locations, points,
                                                                                            strict=True)]
    return pl.concat(frames) if frames else pl.DataFrame(schema=_ROWS)


def _location_rows(location: Location, point: Point, variables: Sequence[str], request: str) -> pl.DataFrame:
    hourly = location.hourly or {}
    times = hourly.get("time")
    if not variables:
        return pl.DataFrame(schema=_ROWS)
    if times is None:
        raise PayloadValidationError(f"weather: no hourly time axis for {point.id} from {request}", source="weather")
    columns = {}
    for variable in variables:
        values = hourly.get(variable)
        if values is None:
            raise PayloadValidationError(f"weather: variable {variable!r} missing for {point.id} from {request}",
                                         source="weather")
        if len(values) != len(times):
            raise PayloadValidationError(
                f"weather: variable {variable!r} has {len(values)} values for {len(times)} times at {point.id} "
                f"from {request}", source="weather")
        if any(isinstance(v, str) for v in values[:1]):
            raise PayloadValidationError(f"weather: variable {variable!r} holds text, not numbers", source="weather")
        columns[variable] = pl.Series(variable, values, dtype=pl.Float64)
    stamps = pl.Series("stamp", times).str.strptime(pl.Datetime("us"), TIME_FORMAT, strict=False)
    if stamps.null_count():
        raise PayloadValidationError(f"weather: times not in the form YYYY-MM-DDTHH:MM from {request}",
                                     source="weather")
    # times are local to the requested time zone; the single offset turns them into UTC instants
    stamps = (stamps - timedelta(seconds=location.utc_offset_seconds)).dt.replace_time_zone("UTC").alias("stamp")
    wide = pl.DataFrame([stamps, *columns.values()])
    units = {v: UNITS.get(location.hourly_units.get(v, ""), location.hourly_units.get(v, "")) for v in variables}
    return wide.unpivot(index="stamp", variable_name="variable", value_name="value").select(
        point=pl.lit(point.id), stamp="stamp", variable="variable", value="value",
        unit=pl.col("variable").replace_strict(units, return_dtype=pl.String),
    )


def _invalid(exc: ValidationError, response: HttpResponse) -> EnergyError:
    first = exc.errors(include_url=False, include_input=False)[0]
    if first["type"] == "json_invalid":
        if b"nan" in response.body.lower():
            return PayloadValidationError(
                f"weather: Open-Meteo answered invalid JSON with NaN coordinates for {response.request}: a point "
                "is outside the model's coverage; check the weather points' latitude and longitude",
                source="weather")
        return UnexpectedPayloadError(f"weather: invalid JSON from {response.request}: {first['msg']}",
                                      source="weather")
    error = classify(response)
    if error is not None:
        return error
    where = ".".join(str(p) for p in first["loc"])
    return PayloadValidationError(f"weather: response does not match Open-Meteo's shape at {where!r}: "
                                  f"{first['msg']} (from {response.request})", source="weather")


def classify(response: HttpResponse) -> EnergyError | None:
    """``{"error": true, "reason": ...}``: quotas stop the source, a refused parameter is terminal."""
    try:
        body = ERROR_BODY.validate_json(response.body)
    except ValidationError:
        return None
    reason = body.reason
    lowered = reason.lower()
    if "limit exceeded" in lowered and ("daily" in lowered or "hourly" in lowered):
        return QuotaExhaustedError(f"weather: Open-Meteo quota exhausted: {reason}; run again later",
                                   source="weather", status=response.status)
    if response.status == 429 or "limit exceeded" in lowered:
        error = RateLimitedError(f"weather: Open-Meteo rate limit: {reason}", source="weather", status=response.status)
        error.retry_after = 60.0
        return error
    return InvalidRequestError(f"weather: Open-Meteo refused {response.request}: {reason}", source="weather",
                               status=response.status)
