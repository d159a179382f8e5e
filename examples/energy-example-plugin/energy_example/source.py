"""The example source: one window per zone and month, fetched from the API that :mod:`energy_example.api`
describes and validated at the boundary."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

import polars as pl
from pydantic import BaseModel, Field, ValidationError

from energy_core.api import (
    AuthError,
    FetchRequest,
    HttpResponse,
    PayloadValidationError,
    RateBudget,
    RawBatch,
    Source,
    SourceContext,
    UnexpectedPayloadError,
    Window,
    month_windows,
)
from energy_example.api import DEFAULT_URL, KEY_VARIABLE, PATH, TIME_FORMAT, URL_VARIABLE

if TYPE_CHECKING:
    from energy_example.simulator import ExampleSimulator

ZONES = ("PACW", "CISO", "ERCO")


class Interval(BaseModel):
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    actual: float | None
    forecast: float | None


class Answer(BaseModel):
    zone: str
    unit: str
    data: list[Interval]


def parse(response: HttpResponse) -> pl.DataFrame:
    """Validate one answer at the boundary and return its rows as columns."""
    if response.body.lstrip()[:1] != b"{":
        raise UnexpectedPayloadError(f"example: expected JSON from {response.request}", source="example")
    try:
        answer = Answer.model_validate_json(response.body)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise PayloadValidationError(f"example: {'.'.join(map(str, first['loc']))}: {first['msg']} in the answer "
                                     f"to {response.request}", source="example") from None
    return pl.DataFrame({
        "start": [i.start for i in answer.data], "end": [i.end for i in answer.data],
        "actual": [i.actual for i in answer.data], "forecast": [i.forecast for i in answer.data],
    }, schema={"start": pl.Datetime("us", "UTC"), "end": pl.Datetime("us", "UTC"), "actual": pl.Float64,
               "forecast": pl.Float64}).with_columns(zone=pl.lit(answer.zone), unit=pl.lit(answer.unit))


class ExampleSource(Source):
    name = "example"
    normalizer = "example"
    datasets: ClassVar[dict[str, str]] = {"example.intensity": "hourly grid carbon intensity, observed and forecast"}
    budget = RateBudget(10, per=1.0, burst=5)
    revision_lookback = timedelta(days=2)

    def __init__(self, context: SourceContext) -> None:
        super().__init__(context)
        self.base_url = context.env.get(URL_VARIABLE, DEFAULT_URL).rstrip("/")
        self._key = context.secret(KEY_VARIABLE)  # from now on energy removes it from logs, errors and cached bodies

    @classmethod
    def simulator(cls, env: Mapping[str, str]) -> ExampleSimulator:
        from energy_example.simulator import ExampleSimulator

        return ExampleSimulator.from_env(env)

    def plan(self, request: FetchRequest) -> list[Window]:
        zones = request.regions or ZONES
        return [Window(self.name, "example.intensity", start, end, (zone,))
                for start, end in month_windows(request.start, request.end) for zone in zones]

    def fetch(self, window: Window) -> Iterator[RawBatch]:
        if not self._key:
            raise AuthError(f"{KEY_VARIABLE} is not set: export your key for the example API", source="example")
        (zone,) = window.regions
        fetched = self.http.get(f"{self.base_url}{PATH}", parse=parse, secrets={"key": self._key},
                                cache=self.cache_mode(window),
                                params=[("zone", zone), ("start", window.start.strftime(TIME_FORMAT)),
                                        ("end", window.end.strftime(TIME_FORMAT))])
        rows = fetched.value.filter(pl.col("start") >= window.start, pl.col("start") < window.end)
        yield RawBatch(window, rows, fetched.fetched_at)
