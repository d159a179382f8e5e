"""A loopback imitation of EIA API v2's RTO routes, for tests, demos and replaying recorded data.

It speaks the real API's path, parameters, pagination (``offset``/``length`` up to 5,000, ``total``
as a string), key check and both error envelopes, and echoes the request (key included) in every
200 body, as EIA does. Data come from :mod:`energy_eia.synthetic` or from a user's long table.
A :class:`Throttle` makes it slow and rate-limited (429 ``OVER_RATE_LIMIT``); fault switches produce
server errors and truncated responses.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import polars as pl

from energy_core.api import ConfigError, SimRequest, SimResponse, Simulator, Throttle
from energy_eia import synthetic
from energy_eia.api import (
    CODE_COLUMNS,
    FREQUENCY,
    FUEL_TYPE_NAMES,
    KEY_INVALID,
    KEY_MISSING,
    KEY_VARIABLE,
    PAGE_LENGTH,
    PERIOD_FORMAT,
    REGION_TYPE_NAMES,
    REGISTER_URL,
    RESPONDENTS,
    TABLE_VARIABLE,
    URL_VARIABLE,
)

_ROUTES = {f"{route}/data": column for route, column in CODE_COLUMNS.items()}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FRAME = pl.Schema({"period": pl.Datetime("us", "UTC"), "respondent": pl.String(), "code": pl.String(),
                    "value": pl.Float64()})


@dataclass(frozen=True)
class Faults:
    """Deterministic fault injection, counted over the data requests the throttle admits (1-based).
    Throttling and slowness are the :class:`Throttle`'s."""

    error_every: int = 0
    """Every Nth request answers ``error_status``."""
    error_status: int = 503
    truncate_every: int = 0
    """Every Nth request sends half its body, then closes the connection."""

    @staticmethod
    def hits(every: int, count: int) -> bool:
        return every > 0 and count % every == 0


class EiaSimulator(Simulator):
    def __init__(self, *, api_key: str | None = None, table: pl.DataFrame | Path | str | None = None,
                 respondents: tuple[str, ...] = synthetic.BALANCING_AUTHORITIES, faults: Faults = Faults(),
                 throttle: Throttle | None = None, numeric_values: float = 0.0) -> None:
        super().__init__(throttle=throttle)
        self.api_key = api_key or f"SIM-{secrets.token_hex(8)}"
        self.faults = faults
        self.numeric_values = numeric_values
        """Share of values sent as JSON numbers (API versions before 2.1.6) rather than strings."""
        self.respondents = respondents
        """What a request naming no respondent gets; one naming others gets those of them EIA has (or the
        table holds)."""
        self._known = frozenset(RESPONDENTS) | frozenset(respondents)
        self.tables = load_table(table) if table is not None else None
        if table is not None:
            self.data_id = f"table-{_table_digest(table)}"
        self._count = itertools.count(1)
        self._lock = threading.Lock()
        self._results: OrderedDict[tuple, pl.DataFrame] = OrderedDict()

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> EiaSimulator:
        """The simulator ``energy run --simulate`` starts; ``ENERGY_EIA_SIMULATOR_TABLE`` replays a file,
        ``ENERGY_SIM_*`` throttle it (:meth:`Throttle.from_env`)."""
        table = environ.get(TABLE_VARIABLE)
        return cls(table=Path(table) if table else None, throttle=Throttle.from_env(environ))

    def env(self) -> dict[str, str]:
        return {URL_VARIABLE: f"{self.url}/v2", KEY_VARIABLE: self.api_key}

    def metered(self, request: SimRequest) -> bool:
        return _route(request) in _ROUTES

    def throttled(self) -> SimResponse:
        retry_after = self.throttle.retry_after
        return _json(429, {"error": {"code": "OVER_RATE_LIMIT", "message": "You have exceeded your rate limit."}},
                     headers={"Retry-After": retry_after} if retry_after is not None else None)

    def handle(self, request: SimRequest) -> SimResponse:
        route = _route(request)
        if route not in _ROUTES:
            return _json(500, {"error": "Not found.", "code": 404})
        key = request.first("api_key")
        if not key:
            return _json(403, {"error": {"code": KEY_MISSING, "message": "No api_key was supplied.  Please "
                               f"register for one at {REGISTER_URL}"}})
        if key != self.api_key:
            return _json(403, {"error": {"code": KEY_INVALID,
                                         "message": "An invalid api_key was supplied. Get one at https://api.eia.gov:443"}})
        with self._lock:
            count = next(self._count)
        if Faults.hits(self.faults.error_every, count):
            return _json(self.faults.error_status, {"error": "Service temporarily unavailable.",
                                                    "code": self.faults.error_status})
        try:
            body = self._page(route, request, count)
        except ValueError as exc:
            return _json(400, {"error": str(exc), "code": 400})
        truncate = len(body) // 2 if Faults.hits(self.faults.truncate_every, count) else None
        return SimResponse(200, body, {"Content-Type": "application/json"}, truncate_at=truncate)

    def _page(self, route: str, request: SimRequest, count: int) -> bytes:
        code_column = _ROUTES[route]
        frequency = request.first("frequency")
        if frequency != FREQUENCY:
            raise ValueError(f"Invalid frequency '{frequency}' provided. The simulator serves '{FREQUENCY}' only.")
        start, end = _bound(request.first("start"), "start"), _bound(request.first("end"), "end")
        respondents = tuple(request.all("facets[respondent][]")) or self.respondents
        codes = tuple(request.all(f"facets[{code_column}][]"))
        offset, length = _int_param(request, "offset", 0), _int_param(request, "length", PAGE_LENGTH)
        warnings = []
        if length > PAGE_LENGTH:
            warnings.append({"warning": "incomplete return", "description": "The API can only return 5000 rows in "
                             "JSON format.  Please consider constraining your request with facet, start, or end, "
                             "or using offset to paginate results."})
            length = PAGE_LENGTH
        result = self._result(code_column, respondents, codes, start, end, _sort(request, code_column))
        if not _sort(request, code_column):
            result = result.sample(fraction=1.0, shuffle=True, seed=count)  # unstable order, like the real API
        rows = self._rows(result.slice(offset, length), code_column, "value" in request.all("data[0]") +
                          request.all("data[]"))
        response = {"total": str(result.height), "dateFormat": 'YYYY-MM-DD"T"HH24', "frequency": FREQUENCY,
                    "data": rows, "description": "Simulated EIA-930 data."}
        if warnings:
            response["warnings"] = warnings
        return orjson.dumps({"response": response, "request": {"command": f"/v2/{route}/",
                             "params": _echo(request)}, "apiVersion": "2.1.8", "ExcelAddInVersion": "2.1.0"})

    def _result(self, code_column: str, respondents: tuple[str, ...], codes: tuple[str, ...], start: datetime,
                end: datetime, sort: tuple[tuple[str, bool], ...]) -> pl.DataFrame:
        key = (code_column, respondents, codes, start, end, sort)
        with self._lock:
            if key in self._results:
                self._results.move_to_end(key)
                return self._results[key]
        frame = self._select(code_column, respondents, codes, start, end)
        if sort:
            frame = frame.sort([c for c, _ in sort], descending=[d for _, d in sort], maintain_order=True)
        with self._lock:
            self._results[key] = frame
            while len(self._results) > 4:
                self._results.popitem(last=False)
        return frame

    def _select(self, code_column: str, respondents: tuple[str, ...], codes: tuple[str, ...], start: datetime,
                end: datetime) -> pl.DataFrame:
        if self.tables is not None:
            return self.tables[code_column].filter(
                pl.col("period").is_between(start, end), pl.col("respondent").is_in(respondents),
                *([pl.col("code").is_in(codes)] if codes else []))
        first = int((start - _EPOCH).total_seconds() // 3600)
        hours = np.arange(first, int((end - _EPOCH).total_seconds() // 3600) + 1, dtype=np.int64)
        parts = []
        for respondent in (r for r in respondents if r in self._known):  # others get no rows and no error, as EIA's
            known = REGION_TYPE_NAMES if code_column == "type" else synthetic.fuels_for(respondent)
            for code in (c for c in known if not codes or c in codes):
                make = synthetic.region if code_column == "type" else synthetic.fuel
                parts.append(pl.DataFrame({"period": hours * 3_600_000_000, "respondent": respondent, "code": code,
                                           "value": make(respondent, code, hours.astype(np.float64))}))
        if not parts:
            return pl.DataFrame(schema=_FRAME)
        return pl.concat(parts).with_columns(pl.col("period").cast(pl.Datetime("us", "UTC")))

    def _rows(self, page: pl.DataFrame, code_column: str, with_values: bool) -> list[dict]:
        names = REGION_TYPE_NAMES if code_column == "type" else FUEL_TYPE_NAMES
        periods = page["period"].dt.strftime(PERIOD_FORMAT).to_list()
        texts = page["value"].map_elements(_value_text, return_dtype=pl.String, skip_nulls=True).to_list()
        numbers = page["value"].to_list()
        cutoff = int(self.numeric_values * 10)
        rows = []
        for i, (period, respondent, code, text, number) in enumerate(
                zip(periods, page["respondent"].to_list(), page["code"].to_list(), texts, numbers, strict=True)):
            row = {"period": period, "respondent": respondent, "respondent-name": f"{respondent} (simulated)",
                   code_column: code, "type-name": names.get(code, code)}
            if with_values:
                row["value"] = number if i % 10 < cutoff and number is not None else text
            row["value-units"] = "megawatthours"
            rows.append(row)
        return rows


def _route(request: SimRequest) -> str:
    return request.path.removeprefix("/v2/").strip("/")


def _value_text(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def _json(status: int, payload: object, headers: dict[str, str] | None = None) -> SimResponse:
    return SimResponse(status, orjson.dumps(payload), {"Content-Type": "application/json", **(headers or {})})


def _bound(text: str | None, name: str) -> datetime:
    if not text:
        raise ValueError(f"The simulator needs '{name}' (YYYY-MM-DD or YYYY-MM-DDTHH).")
    for form in (PERIOD_FORMAT, "%Y-%m-%d"):
        try:
            return datetime.strptime(text, form).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(f"Invalid {name} '{text}' provided.")


def _int_param(request: SimRequest, name: str, default: int) -> int:
    """An integer parameter (``offset``, ``length``), ``default`` when it is not given."""
    text = request.first(name)
    return default if text is None else int(text)


def _sort(request: SimRequest, code_column: str) -> tuple[tuple[str, bool], ...]:
    sort = []
    for i in itertools.count():
        column = request.first(f"sort[{i}][column]")
        if column is None:
            break
        name = "code" if column == code_column else column
        if name not in _FRAME:
            raise ValueError(f"Invalid sort column '{column}'.")
        sort.append((name, request.first(f"sort[{i}][direction]", "asc") == "desc"))
    return tuple(sort)


def _echo(request: SimRequest) -> dict:
    """The request's parameters, echoed the way EIA does, api_key included."""
    echoed: dict[str, list[str]] = {}
    for name, value in request.query:
        echoed.setdefault(name, []).append(value)
    return {k: v[0] if len(v) == 1 else v for k, v in echoed.items()}


def load_table(source: pl.DataFrame | Path | str) -> dict[str, pl.DataFrame]:
    """Read a long table of EIA-930 rows into the simulator's region-data and fuel-type-data tables.

    Accepted columns: ``period`` or ``timestamp`` (hour-ending UTC, as the API's period), ``respondent``
    or ``region``, ``type`` and/or ``fueltype`` codes (or ``data_type`` demand/generation with
    ``fuel_type``, as in recorded EIA-930 extracts), and ``value``.
    """
    frame = source if isinstance(source, pl.DataFrame) else _read(Path(source))
    columns = set(frame.columns)

    def pick(*names: str) -> str:
        for name in names:
            if name in columns:
                return name
        raise ConfigError(f"simulator table needs one of the columns {names}; it has {sorted(columns)}")

    period, respondent = pick("period", "timestamp"), pick("respondent", "region")
    base = frame.select(
        period=_as_utc(frame[period]), respondent=pl.col(respondent), value=pl.col("value").cast(pl.Float64),
        type=_type_codes(frame, columns), fueltype=_fuel_codes(frame, columns))
    region = base.filter(pl.col("type").is_not_null()).select("period", "respondent", code="type", value="value")
    fuel = base.filter(pl.col("fueltype").is_not_null()).select("period", "respondent", code="fueltype",
                                                                value="value")
    if region.height + fuel.height == 0:
        raise ConfigError("simulator table has no rows with a region-data type or a fuel type")
    return {"type": region.sort("period", "respondent", "code"), "fueltype": fuel.sort("period", "respondent", "code")}


def _table_digest(source: pl.DataFrame | Path | str) -> str:
    """A short digest of a replayed table's content (its file's bytes, or the frame's IPC bytes)."""
    if isinstance(source, pl.DataFrame):
        buffer = io.BytesIO()
        source.write_ipc(buffer)
        data = buffer.getvalue()
    else:
        data = Path(source).read_bytes()
    return hashlib.sha256(data).hexdigest()[:16]


def _read(path: Path) -> pl.DataFrame:
    if not path.exists():
        raise ConfigError(f"simulator table {path} does not exist")
    return pl.read_csv(path, try_parse_dates=True) if path.suffix.lower() == ".csv" else pl.read_parquet(path)


def _as_utc(column: pl.Series) -> pl.Series:
    if column.dtype == pl.String:
        eia_period = column.str.contains(r"^\d{4}-\d{2}-\d{2}T\d{2}$").all()
        try:
            column = ((column + ":00").str.to_datetime("%Y-%m-%dT%H:%M", time_zone="UTC") if eia_period
                      else column.str.to_datetime(time_zone="UTC"))
        except pl.exceptions.PolarsError as exc:
            raise ConfigError(
                f"simulator table column {column.name!r} holds text that is not a timestamp: {exc}") from None
    dtype = column.dtype
    if not isinstance(dtype, pl.Datetime):
        raise ConfigError(f"simulator table column {column.name!r} must hold timestamps, not {dtype}")
    column = column.dt.cast_time_unit("us")
    return column.dt.replace_time_zone("UTC") if dtype.time_zone is None else column.dt.convert_time_zone("UTC")


_DATA_TYPES = {"demand": "D", "demand_forecast": "DF", "forecast": "DF", "net_generation": "NG",
               "interchange": "TI"}


def _type_codes(frame: pl.DataFrame, columns: set[str]) -> pl.Expr:
    if "type" in columns:
        return pl.col("type").cast(pl.String)
    if "data_type" in columns:
        return pl.col("data_type").str.to_lowercase().replace_strict(_DATA_TYPES, default=None, return_dtype=pl.String)
    return pl.lit(None, dtype=pl.String)


def _fuel_codes(frame: pl.DataFrame, columns: set[str]) -> pl.Expr:
    name = "fueltype" if "fueltype" in columns else "fuel_type" if "fuel_type" in columns else None
    if name is None:
        return pl.lit(None, dtype=pl.String)
    codes = pl.col(name).cast(pl.String).str.to_uppercase()
    if "data_type" in columns:
        return pl.when(pl.col("data_type").str.to_lowercase() == "generation").then(codes)
    return codes


