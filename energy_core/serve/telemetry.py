"""The server's own metrics: requests and their latency per route, exposed at ``/metrics`` beside the home's."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram

from energy_core.serve.asgi import ASGIApp, Message, Receive, Scope, Send

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class RequestMetrics:
    """ASGI middleware counting requests by route template (never the raw path, so the labels stay few)
    and timing them until their last byte is sent."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter("energy_http_requests", "HTTP requests answered, by route and status.",
                                ["route", "method", "status"], registry=registry)
        self.latency = Histogram("energy_http_request_duration_seconds", "Time to answer an HTTP request, by route.",
                                 ["route", "method"], buckets=BUCKETS, registry=registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.latency.labels(template, scope["method"]).observe(time.perf_counter() - began)
            self.requests.labels(template, scope["method"], str(status)).inc()
