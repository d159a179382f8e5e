"""The ASGI app: :func:`create_app` wires the routes, the caches, the token check, CORS and the metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import CollectorRegistry

from energy_core.home import Home
from energy_core.ops.metrics import HomeCollector
from energy_core.ops.monitor.metrics import MonitorCollector
from energy_core.ops.observations import ObservationReader
from energy_core.serve import errors, forecasts, health, observations, status
from energy_core.serve.answers import Answers
from energy_core.serve.live import LiveService
from energy_core.serve.security import BearerAuth
from energy_core.serve.settings import ServeSettings
from energy_core.serve.status import OverviewCache
from energy_core.serve.telemetry import RequestMetrics

DESCRIPTION = """Forecasts, the live context and stored observations of an energy home, its status and its metrics.

When the server was started with `ENERGY_SERVE_TOKEN`, every request but `/healthz` and these docs needs
`Authorization: Bearer <token>`. Errors are JSON: `{"error": "<what was wrong and what to do>", ...}`."""


@dataclass
class Services:
    """What the routes share (``request.app.state.energy``)."""

    settings: ServeSettings
    home: Home
    live: LiveService
    observations: ObservationReader
    answers: Answers
    """Observation answers, by selection and table version."""
    overview: OverviewCache
    registry: CollectorRegistry


def create_app(settings: ServeSettings) -> FastAPI:
    home = Home.of(settings.home)
    registry = CollectorRegistry()
    overview = OverviewCache(home)
    services = Services(settings, home, LiveService(home, max_hours=settings.max_context_hours),
                        ObservationReader(home), Answers(settings.answer_cache_bytes), overview, registry)
    registry.register(HomeCollector(home, overview=lambda: overview.latest or overview.reader.read()))
    registry.register(MonitorCollector(home))  # what the last `energy monitor` found, once one has run

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        services.live.close()

    app = FastAPI(title="energy", version=metadata.version("energy-core"), description=DESCRIPTION,
                  lifespan=lifespan)
    app.state.energy = services
    for module in (forecasts, observations, status, health):
        app.include_router(module.router)
    errors.install(app, secrets=[settings.token] if settings.token else [])
    if settings.token is not None:  # added first: runs innermost, after CORS has answered any preflight
        app.add_middleware(BearerAuth, token=settings.token)
        app.openapi = _with_bearer(app)  # type: ignore[method-assign]
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET"],
                           allow_headers=["Authorization"], expose_headers=["ETag", "X-Energy-Stale"])
    app.add_middleware(RequestMetrics, registry=registry)
    return app


def _with_bearer(app: FastAPI) -> Any:
    """The OpenAPI document, saying every route but the open ones needs the bearer token (the docs page
    then offers to send it)."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        schema = plain()
        schema.setdefault("components", {})["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        schema["security"] = [{"bearer": []}]
        schema["paths"].get("/healthz", {}).get("get", {})["security"] = []
        return schema

    return openapi
