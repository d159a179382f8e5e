"""The bearer token, checked before any route runs: compared in constant time, never logged, never echoed."""

from __future__ import annotations

import hmac
import json

from energy_core.serve.asgi import ASGIApp, Receive, Scope, Send
from energy_core.serve.settings import TOKEN_VARIABLE

OPEN_PATHS = frozenset({"/healthz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
"""Answered without a token: liveness for load balancers, and the API's description."""

_REFUSAL = json.dumps({"error": f"this server needs a bearer token: send `Authorization: Bearer <token>` with the "
                                f"value of {TOKEN_VARIABLE} the server was started with"}).encode()


class BearerAuth:
    """ASGI middleware answering 401 to an HTTP request without the right ``Authorization: Bearer`` token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(_REFUSAL)).encode()),
            (b"www-authenticate", b'Bearer realm="energy"')]})
        await send({"type": "http.response.body", "body": _REFUSAL})

    def _authorized(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, credentials = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self._token)
        return False
