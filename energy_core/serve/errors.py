"""Every error the API answers is JSON: ``{"error": "<what was wrong and what to do>", ...}``, with
whatever helps fix the request (the entities, datasets, regions or series that exist). An error may quote
the request (an unknown dataset, say); a secret the server knows is removed from it first, in case a
client put its token where it does not belong."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from energy_core.ingest.redaction import REDACTED

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An answer other than 2xx, with a message saying what was wrong and what to do."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def install(app: FastAPI, secrets: Iterable[str] = ()) -> None:
    """Answer every error as JSON, a validation error as 422 naming each bad parameter; ``secrets`` never
    appear in an answer."""
    hidden = [secret for secret in secrets if secret]

    def error_response(status: int, message: str, headers: Mapping[str, str] | None = None, **extra: Any) -> Response:
        body = json.dumps({"error": message, **extra})
        for secret in hidden:
            body = body.replace(secret, REDACTED)
        return Response(body, status_code=status, headers=headers, media_type="application/json")

    async def api_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.message, **exc.extra)

    async def invalid(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = [{"parameter": ".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]), "problem": e["msg"]}
                    for e in exc.errors()]
        text = "; ".join(f"{p['parameter']}: {p['problem']}" for p in problems)
        return error_response(422, f"invalid request: {text}; see /docs for the parameters", problems=problems)

    async def no_route(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)  # the router's HTTPException
        return error_response(status, f"no route {request.method} {request.url.path}; see /docs for the API",
                              headers=getattr(exc, "headers", None))

    async def unexpected(request: Request, exc: Exception) -> Response:
        logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal error; the server's log has the details")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, invalid)
    for status in (404, 405):  # what the router raises for an unknown path or method
        app.add_exception_handler(status, no_route)
    app.add_exception_handler(Exception, unexpected)
