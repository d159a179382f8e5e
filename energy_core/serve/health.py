"""``GET /healthz`` (open, for load balancers) and ``GET /metrics`` (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the server answers and its home is there")
async def healthz(request: Request) -> Response:
    """200 while the home folder is readable, 503 otherwise. Needs no token."""
    if request.app.state.energy.home.root.is_dir():
        return Response(b'{"status": "ok", "version": "%s"}' % request.app.version.encode(),
                        media_type="application/json")
    return Response(b'{"status": "unavailable", "error": "the home folder is gone"}', status_code=503,
                    media_type="application/json")


@router.get("/metrics", summary="Prometheus metrics of the home and of this server")
async def metrics(request: Request) -> Response:
    """The home's (runs, windows, requests, retries, rows, freshness lag per dataset and region, open
    problems, quality flags, builds, forecast error when known) and the server's (requests and latency per
    route), computed when scraped."""
    services = request.app.state.energy
    await services.overview.get()  # the collector reads the overview this refreshed
    return Response(await run_in_threadpool(generate_latest, services.registry), media_type=CONTENT_TYPE_LATEST)
