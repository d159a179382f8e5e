"""Turn EIA response bodies into validated page frames, or typed errors."""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter

import msgspec
import polars as pl
import pyarrow as pa
from pydantic import ValidationError

from energy_core.api import (
    AuthError,
    EnergyError,
    HttpResponse,
    InvalidRequestError,
    PayloadValidationError,
    RateLimitedError,
    TransientSourceError,
    UnexpectedPayloadError,
)
from energy_eia.api import KEY_VARIABLE, REGISTER_URL
from energy_eia.codes import Route
from energy_eia.models import ERROR_BODY, PAGE_DECODERS, KeyErrorBody

try:
    from energy_eia import _pages  # compiled with the package; absent where it was installed without a compiler
except ImportError:  # pragma: no cover - the general decoder reads every page alike, only slower
    _pages = None  # type: ignore[assignment]  # mypy's idiom for an optional module

_MISSING_TOKENS = ("", "na", "n/a", "null", "none", "nan", "-")


@dataclass(frozen=True)
class Page:
    rows: pl.DataFrame
    """period (the UTC hour *ending* the interval, as EIA labels it), respondent, code, value (float, null when
    missing)."""
    total: int
    warnings: tuple[str, ...]


def parse_page(response: HttpResponse, route: Route) -> Page:
    """Validate one 2xx body as a page of ``route`` and return its rows as columns.

    A ``period`` not in the hourly form ``YYYY-MM-DDTHH`` fails the page: other frequencies are rejected,
    never guessed.
    """
    body = response.body
    if body.lstrip()[:1] != b"{":
        raise UnexpectedPayloadError(
            f"eia: expected JSON from {response.request}, got {response.content_type or 'no content type'} "
            f"starting {body[:40]!r}", source="eia", status=response.status)
    plain = _plain_page(body, route)
    if plain is not None:
        return plain
    fast, general = PAGE_DECODERS[route.code_column]
    warnings: tuple[str, ...] = ()
    try:
        try:
            page = fast.decode(body)
            values = pl.Series("value", list(map(_VALUE, page.response.data)), dtype=pl.Float64)
        except msgspec.ValidationError:
            page = general.decode(body)
            values, warnings = _numbers(pl.Series("value", list(map(_VALUE, page.response.data)), dtype=pl.String,
                                                  strict=False))
    except msgspec.DecodeError as exc:
        raise _invalid_body(exc, response, route) from None
    rows = page.response.data
    frame = pl.DataFrame([
        _hour_endings(pl.Series("period", list(map(_PERIOD, rows)), dtype=pl.String), route),
        pl.Series("respondent", list(map(_RESPONDENT, rows)), dtype=pl.String),
        pl.Series("code", list(map(attrgetter(route.code_column), rows)), dtype=pl.String),
        values,
    ])
    warnings += tuple(f"EIA warning: {w.warning}: {w.description}" for w in page.response.warnings)
    return Page(frame, page.response.total, warnings)


_PERIOD, _RESPONDENT, _VALUE = attrgetter("period"), attrgetter("respondent"), attrgetter("value")


def native_decoder() -> bool:
    """Whether pages in EIA's plain shape are decoded natively, without holding the GIL."""
    return _pages is not None


def _plain_page(body: bytes, route: Route) -> Page | None:
    """The page as read by the native decoder (``_pages.c``) while other threads run Python, or None where
    that decoder is missing or the page is not in the plain shape it reads (the general decoder reads it)."""
    found = _pages.decode(body, route.code_column.encode()) if _pages is not None else None
    if found is None:
        return None
    total, rows, nulls, hours, *texts, values, valid = found

    def text(offsets: bytes, data: bytes) -> pa.Array:
        return pa.Array.from_buffers(pa.string(), rows, [None, pa.py_buffer(offsets), pa.py_buffer(data)])

    columns = [pa.Array.from_buffers(pa.timestamp("us", "UTC"), rows, [None, pa.py_buffer(hours)]),
               text(*texts[0:2]), text(*texts[2:4]),
               pa.Array.from_buffers(pa.float64(), rows, [pa.py_buffer(valid) if nulls else None, pa.py_buffer(values)],
                                     null_count=nulls)]
    return Page(pl.DataFrame(pa.table(columns, names=["period", "respondent", "code", "value"])), total, ())


def _hour_endings(period: pl.Series, route: Route) -> pl.Series:
    """``YYYY-MM-DDTHH`` text as UTC hours; any other form fails the page, naming an example."""
    hours = (period + ":00").str.strptime(pl.Datetime("us", "UTC"), "%Y-%m-%dT%H:%M", strict=False)
    bad = hours.is_null() | ~period.str.contains(r"^\d{4}-\d{2}-\d{2}T\d{2}$")
    if bad.any():
        raise PayloadValidationError(
            f"eia: {route.dataset} has {bad.sum()} period(s) not in the hourly UTC form YYYY-MM-DDTHH, "
            f"e.g. {period.filter(bad)[0]!r}; other frequencies are not supported", source="eia")
    return hours


def _numbers(raw: pl.Series) -> tuple[pl.Series, tuple[str, ...]]:
    """Values sent as text: numbers become floats, documented blanks (``NA``, ``""``) become missing,
    and anything else becomes missing too, counted in a warning."""
    text = raw.str.strip_chars()
    number = text.cast(pl.Float64, strict=False)
    documented_missing = raw.is_null() | text.str.to_lowercase().is_in(_MISSING_TOKENS)
    undocumented = ~documented_missing & ~number.is_finite().fill_null(False)
    warnings: tuple[str, ...] = ()
    if undocumented.any():
        example = raw[undocumented.arg_true()[0]]
        warnings = (f"{undocumented.sum()} value(s) were not finite numbers and were stored as missing, "
                    f"e.g. {example!r}",)
    finite = pl.select(pl.when(number.is_finite()).then(number).otherwise(None)).to_series()
    return finite.alias("value"), warnings


def _invalid_body(exc: msgspec.DecodeError, response: HttpResponse, route: Route) -> EnergyError:
    if not isinstance(exc, msgspec.ValidationError):
        return UnexpectedPayloadError(f"eia: invalid JSON from {response.request}: {exc}",
                                      source="eia", status=response.status)
    error = classify(response)
    if error is not None:
        return error
    return PayloadValidationError(
        f"eia: {route.dataset} response does not match the API's documented shape: {exc}; the API may have changed",
        source="eia", status=response.status)


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
