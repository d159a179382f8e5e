"""EIA API v2 page bodies for the EIA plugin's parser tests, shaped as the API sends them."""

from __future__ import annotations

from typing import Any

import orjson


def row(value: Any = "2455", **fields: Any) -> dict[str, Any]:
    """One region-data row (PACW's demand at 2024-03-10T07); ``fields`` replace any of its fields."""
    return {"period": "2024-03-10T07", "respondent": "PACW", "respondent-name": "PacifiCorp West", "type": "D",
            "type-name": "Demand", "value": value, "value-units": "megawatthours", **fields}


def page(rows: list[dict[str, Any]], total: Any = None, **response: Any) -> bytes:
    """A page of ``rows``; ``total`` is their number unless given, as text, as EIA sends it."""
    return orjson.dumps({"response": {"total": str(len(rows) if total is None else total), "dateFormat":
                                      'YYYY-MM-DD"T"HH24', "data": rows, **response}, "apiVersion": "2.1.8"})
