"""Turn EIA response bodies into validated page frames, or typed errors."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import polars as pl
from pydantic import ValidationError

from energy_core.errors import (
    AuthError,
    EnergyError,
    InvalidRequestError,
    PayloadValidationError,
    RateLimitedError,
    TransientSourceError,
    UnexpectedPayloadError,
)
from energy_core.http import HttpResponse
from energy_eia.codes import Route
from energy_eia.models import ERROR_BODY, PAGE_ADAPTERS, KeyErrorBody

KEY_VARIABLE = "EIA_API_KEY"
REGISTER_URL = "https://www.eia.gov/opendata/register.php"
_MISSING_TOKENS = ("", "na", "n/a", "null", "none", "nan", "-")


@dataclass(frozen=True)
class Page:
    rows: pl.DataFrame
    """period (hour-ending, UTC), respondent, code, value (float, null when missing)."""
    total: int
    warnings: tuple[str, ...]


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Validation allocates many short-lived objects; letting the collector scan them all is wasted work."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse_page(response: HttpResponse, route: Route) -> Page:
    """Validate one 2xx body as a page of ``route`` and return it as a frame."""
    body = response.body
    if body.lstrip()[:1] != b"{":
        raise UnexpectedPayloadError(
            f"eia: expected JSON from {response.request}, got {response.content_type or 'no content type'} "
            f"starting {body[:40]!r}", source="eia", status=response.status)
    try:
        with _gc_paused():
            page = PAGE_ADAPTERS[route.code_column].validate_json(body)
            rows = page.response.data
            code = route.code_column
            frame = pl.DataFrame({
                "period": [r["period"] for r in rows],
                "respondent": [r["respondent"] for r in rows],
                "code": [r[code] for r in rows],
                "value": pl.Series([r.get("value") for r in rows], dtype=pl.String, strict=False),
            }, schema={"period": pl.String, "respondent": pl.String, "code": pl.String, "value": pl.String})
    except ValidationError as exc:
        raise _invalid_body(exc, response, route) from None
    frame, warnings = _typed_columns(frame, route)
    warnings += tuple(f"EIA warning: {w.warning}: {w.description}" for w in page.response.warnings)
    return Page(frame, page.response.total, warnings)


def _invalid_body(exc: ValidationError, response: HttpResponse, route: Route) -> EnergyError:
    first = exc.errors(include_url=False, include_input=False)[0]
    if first["type"] == "json_invalid":
        return UnexpectedPayloadError(f"eia: invalid JSON from {response.request}: {first['msg']}",
                                      source="eia", status=response.status)
    error = classify(response)
    if error is not None:
        return error
    where = ".".join(str(part) for part in first["loc"])
    return PayloadValidationError(
        f"eia: {route.dataset} response does not match the API's documented shape at {where!r}: {first['msg']} "
        f"({exc.error_count()} problem(s)); the API may have changed", source="eia", status=response.status)


def _typed_columns(frame: pl.DataFrame, route: Route) -> tuple[pl.DataFrame, tuple[str, ...]]:
    """Parse periods and values for the whole page at once; count what had to be nulled."""
    period = (pl.col("period") + ":00").str.strptime(pl.Datetime("us", "UTC"), "%Y-%m-%dT%H:%M", strict=False)
    raw = pl.col("value")
    number = raw.str.strip_chars().cast(pl.Float64, strict=False)
    documented_missing = raw.is_null() | raw.str.strip_chars().str.to_lowercase().is_in(_MISSING_TOKENS)
    typed = frame.with_columns(
        period=period,
        value=pl.when(number.is_finite()).then(number).otherwise(None),
        _bad=~documented_missing & ~number.is_finite().fill_null(False),
    )
    bad_period = typed.filter(pl.col("period").is_null())
    if bad_period.height:
        example = frame["period"][typed["period"].is_null().arg_true()[0]]
        raise PayloadValidationError(
            f"eia: {route.dataset} has {bad_period.height} period(s) not in the hourly UTC form YYYY-MM-DDTHH, "
            f"e.g. {example!r}; other frequencies are not supported", source="eia")
    warnings: tuple[str, ...] = ()
    bad = typed["_bad"].sum()
    if bad:
        example = frame["value"][typed["_bad"].arg_true()[0]]
        warnings = (f"{bad} value(s) were not finite numbers and were stored as missing, e.g. {example!r}",)
    return typed.drop("_bad"), warnings


def classify(response: HttpResponse) -> EnergyError | None:
    """Map both EIA error envelopes to typed errors; None if the body is not one of them."""
    try:
        body = ERROR_BODY.validate_json(response.body)
    except ValidationError:
        return None
    status = response.status
    if isinstance(body, KeyErrorBody):
        code = body.error.code
        if "RATE" in code.upper():
            return RateLimitedError(f"eia: the API key is temporarily throttled ({code}, HTTP {status})",
                                    source="eia", status=status)
        return AuthError(
            f"EIA rejected the API key (HTTP {status}, {code}): set a valid key in {KEY_VARIABLE} "
            f"(free at {REGISTER_URL})", source="eia", status=status)
    message = f"eia: {body.error} (code {body.code}, HTTP {status}) for {response.request}"
    if body.code == 429 or status == 429:
        return RateLimitedError(message, source="eia", status=status)
    if body.code >= 500 and status >= 500:
        return TransientSourceError(message, source="eia", status=status)
    return InvalidRequestError(message, source="eia", status=status)
