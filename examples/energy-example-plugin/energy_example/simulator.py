"""A loopback imitation of the example API for ``energy run --simulate`` and the tests: the same
path, parameters, key check and answer shape, with deterministic values. ``ENERGY_SIM_RATE`` and the
other ``ENERGY_SIM_*`` variables make it slow or throttling (:class:`energy_core.api.Throttle`)."""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from energy_core.api import SimRequest, SimResponse, Simulator, Throttle
from energy_example.api import KEY_VARIABLE, MAX_SPAN, PATH, TIME_FORMAT, UNIT, URL_VARIABLE


class ExampleSimulator(Simulator):
    def __init__(self, *, api_key: str | None = None, throttle: Throttle | None = None) -> None:
        super().__init__(throttle=throttle)
        self.api_key = api_key or f"SIM-{secrets.token_hex(8)}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ExampleSimulator:
        return cls(throttle=Throttle.from_env(environ))

    def env(self) -> dict[str, str]:
        return {URL_VARIABLE: self.url, KEY_VARIABLE: self.api_key}

    def throttled(self) -> SimResponse:
        """What the example API sends a caller over its rate limit."""
        retry_after = self.throttle.retry_after
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return _json(429, {"error": "rate limit exceeded"}, headers)

    def handle(self, request: SimRequest) -> SimResponse:
        if request.path != PATH:
            return _json(404, {"error": "not found"})
        if request.first("key") != self.api_key:
            return _json(401, {"error": "invalid key"})
        zone, start_text, end_text = request.first("zone"), request.first("start"), request.first("end")
        if zone is None:
            return _json(400, {"error": "zone is required"})
        if start_text is None or end_text is None:
            return _json(400, {"error": "start and end are required"})
        try:
            start = datetime.strptime(start_text, TIME_FORMAT).replace(tzinfo=UTC)
            end = datetime.strptime(end_text, TIME_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            return _json(400, {"error": "start and end must look like 2024-01-01T00:00Z"})
        if end - start > MAX_SPAN:
            return _json(400, {"error": f"at most {MAX_SPAN.days} days per request"})
        hours = int((end - start) / timedelta(hours=1))
        data = [_interval(zone, start + timedelta(hours=h)) for h in range(hours)]
        return _json(200, {"zone": zone, "unit": UNIT, "data": data})


def _interval(zone: str, at: datetime) -> dict:
    hour = at.timestamp() / 3600
    drift = 25 * math.sin(hour / 97)  # a slow swing no seasonal copy repeats, so forecasts have something to do
    actual = 300 + 80 * math.sin(2 * math.pi * (hour % 24) / 24) + 10 * (sum(map(ord, zone)) % 7) + drift
    return {"from": at.strftime(TIME_FORMAT), "to": (at + timedelta(hours=1)).strftime(TIME_FORMAT),
            "actual": round(actual, 1), "forecast": round(actual * 0.97 + 5, 1)}


def _json(status: int, payload: object, headers: Mapping[str, str] | None = None) -> SimResponse:
    return SimResponse(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})})
