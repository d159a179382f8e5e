"""Typed mirrors of EIA API v2 bodies.

Pages in EIA's plain shape are read by the native decoder (``_pages.c``, see :mod:`energy_eia.parse`);
every other page, and every page where that decoder is not built, is decoded with msgspec structs: one
pass over the bytes, only the fields we use become Python objects, and a page of 5,000 rows is checked
against the types below without a dict per row (msgspec 6.7 M rows/s, pydantic TypedDict pages 2.1 M,
``orjson.loads`` alone 3.0 M, on this project's benchmark pages). The error bodies are small and rare,
so they stay pydantic models.

Field names are the API's own; ``period`` stays text here and is read as a UTC hour for the whole page at
once in :mod:`energy_eia.parse`.
"""

from __future__ import annotations

import types

import msgspec
from pydantic import BaseModel, TypeAdapter


class EiaWarning(msgspec.Struct, frozen=True):
    warning: str
    description: str = ""


def _page_decoders(code_column: str) -> tuple[msgspec.json.Decoder, msgspec.json.Decoder]:
    """A fast decoder whose ``value`` must be numeric (numbers or numeric strings, as EIA sends them),
    and a general one that also takes text such as ``"NA"``, used when the fast one refuses a page."""
    decoders = []
    for value_type in (float | None, str | float | None):
        row = msgspec.defstruct(
            f"{code_column.title()}Row",
            [("period", str), ("respondent", str), (code_column, str), ("value", value_type, None)],
            gc=False, array_like=False)
        rows = types.GenericAlias(list, (row,))  # list[row]; row is a class made here, not a type mypy can name
        response = msgspec.defstruct(
            "Response", [("total", int), ("data", rows), ("warnings", list[EiaWarning], [])], gc=False)
        page = msgspec.defstruct("Page", [("response", response)], gc=False)
        decoders.append(msgspec.json.Decoder(page, strict=False))  # lax: "169" -> 169, "2455" -> 2455.0
    return decoders[0], decoders[1]


PAGE_DECODERS = {"type": _page_decoders("type"), "fueltype": _page_decoders("fueltype")}


class KeyErrorDetail(BaseModel):
    code: str
    message: str = ""


class KeyErrorBody(BaseModel):
    """Gateway errors: ``{"error": {"code": "API_KEY_INVALID", "message": ...}}``."""

    error: KeyErrorDetail


class ParamErrorBody(BaseModel):
    """API errors: ``{"error": "Invalid frequency ...", "code": 400}``."""

    error: str
    code: int


ERROR_BODY = TypeAdapter(KeyErrorBody | ParamErrorBody)
