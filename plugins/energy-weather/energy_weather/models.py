"""Pydantic models of Open-Meteo's JSON: one location, or a list when several are asked at once."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator


class Location(BaseModel):
    model_config = ConfigDict(extra="ignore")

    latitude: float
    longitude: float
    utc_offset_seconds: int = 0
    hourly_units: dict[str, str] = Field(default_factory=dict)
    hourly: dict[str, list[float | None] | list[str]] | None = None

    @field_validator("latitude", "longitude")
    @classmethod
    def finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("not a finite coordinate; the location is outside the model's coverage")
        return value


class ErrorBody(BaseModel):
    """``{"error": true, "reason": "..."}`` on HTTP 400 (and 429 for exhausted quotas)."""

    error: bool
    reason: str


LOCATIONS = TypeAdapter(list[Location] | Location)
ERROR_BODY = TypeAdapter(ErrorBody)
