"""Tables as JSON, CSV, Arrow IPC or Parquet: the formats ``format=`` selects."""

from __future__ import annotations

import enum
import io
import json
from dataclasses import dataclass, field
from typing import Any

import polars as pl


class Format(enum.StrEnum):
    JSON = "json"
    CSV = "csv"
    ARROW = "arrow"
    PARQUET = "parquet"

    @property
    def media_type(self) -> str:
        return _MEDIA[self]


_MEDIA = {Format.JSON: "application/json", Format.CSV: "text/csv; charset=utf-8",
          Format.ARROW: "application/vnd.apache.arrow.stream", Format.PARQUET: "application/vnd.apache.parquet"}


@dataclass(frozen=True)
class Encoded:
    """A response body ready to send, with its media type and headers."""

    body: bytes
    media_type: str
    headers: dict[str, str] = field(default_factory=dict)


def encode(frame: pl.DataFrame, fmt: Format, about: dict[str, Any]) -> Encoded:
    """``frame`` in ``fmt``. JSON wraps the rows (``data``, one object per row) in ``about``; the other
    formats carry ``about``'s scalar fields as ``X-Energy-*`` headers."""
    if fmt is Format.JSON:
        head = json.dumps({**about, "rows": frame.height}, default=str)
        return Encoded(head[:-1].encode() + b', "data": ' + frame.write_json().encode() + b"}", fmt.media_type)
    headers = {f"X-Energy-{key.replace('_', '-').title()}": str(value) for key, value in {**about, "rows": frame.height}
               .items() if isinstance(value, str | int | float | bool)}
    buffer = io.BytesIO()
    if fmt is Format.CSV:
        frame.write_csv(buffer, datetime_format="%Y-%m-%dT%H:%M:%S%.fZ")
    elif fmt is Format.ARROW:
        frame.write_ipc_stream(buffer)
    else:
        frame.write_parquet(buffer, compression="zstd")
    return Encoded(buffer.getvalue(), fmt.media_type, headers)
