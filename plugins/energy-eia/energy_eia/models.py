"""Pydantic models that mirror EIA API v2 responses, validated a whole page at a time.

Rows are TypedDicts inside one page model, so a page of 5,000 rows is validated by pydantic-core
in one call without building a Python model object per row. ``period`` is kept as text here and
parsed for the whole page at once in :mod:`energy_eia.parse` (per-value Python validators cost
several times the decode).
"""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from typing_extensions import NotRequired, TypedDict

Value = str | int | float | None
"""Strings since API 2.1.6, numbers before it, null when missing."""


class RegionRow(TypedDict):
    period: str
    respondent: str
    respondent_name: NotRequired[Annotated[str, Field(alias="respondent-name")]]
    type: str
    type_name: NotRequired[Annotated[str, Field(alias="type-name")]]
    value: NotRequired[Value]
    value_units: NotRequired[Annotated[str, Field(alias="value-units")]]


class FuelRow(TypedDict):
    period: str
    respondent: str
    respondent_name: NotRequired[Annotated[str, Field(alias="respondent-name")]]
    fueltype: str
    type_name: NotRequired[Annotated[str, Field(alias="type-name")]]
    value: NotRequired[Value]
    value_units: NotRequired[Annotated[str, Field(alias="value-units")]]


RowT = TypeVar("RowT", RegionRow, FuelRow)


class EiaWarning(BaseModel):
    warning: str
    description: str = ""


class EiaResponse(BaseModel, Generic[RowT]):
    model_config = ConfigDict(populate_by_name=True)

    total: int
    """A string in API 2.1.8 (``"169"``), an integer in older versions."""
    data: list[RowT]
    date_format: str | None = Field(None, alias="dateFormat")
    frequency: str | None = None
    warnings: list[EiaWarning] = []


class EiaPage(BaseModel, Generic[RowT]):
    model_config = ConfigDict(populate_by_name=True)

    response: EiaResponse[RowT]
    api_version: str | None = Field(None, alias="apiVersion")


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
PAGE_ADAPTERS = {"type": TypeAdapter(EiaPage[RegionRow]), "fueltype": TypeAdapter(EiaPage[FuelRow])}
