"""Loopback HTTP servers that imitate real APIs, so the real client code runs with no network.

A plugin subclasses :class:`Simulator`, answers :class:`SimRequest` with :class:`SimResponse`, and
says in :meth:`Simulator.env` which settings point its source at the server.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar, Self
from urllib.parse import parse_qsl, urlsplit

from energy_core.plugin.interfaces import Budget


@dataclass(frozen=True)
class SimRequest:
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.query if k == name]

    def first(self, name: str, default: str | None = None) -> str | None:
        values = self.all(name)
        return values[0] if values else default


@dataclass(frozen=True)
class SimResponse:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    """Sleep before answering (a slow server)."""
    truncate_at: int | None = None
    """Send only this many body bytes, then close, while promising the full length."""
    drip_s: float = 0.0
    """Send the body one byte at a time with this pause between bytes (a slow drip)."""


class Simulator(ABC):
    """A threaded HTTP server on 127.0.0.1 with a random free port."""

    budget: ClassVar[Budget | None] = None
    """The simulated service's own request limit, when it differs from the real one's; clients
    talking to the simulator use it instead of the source's declared budget."""

    def __init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.requests: list[SimRequest] = []
        self.data_id = ""
        """Names the data served when it is not the built-in data (a replayed table's digest), so
        answers drawn from different data never share a raw-cache entry."""

    @abstractmethod
    def handle(self, request: SimRequest) -> SimResponse:
        """Answer one GET request."""

    @abstractmethod
    def env(self) -> dict[str, str]:
        """Environment overrides that point the plugin's source at this server."""

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("simulator is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        simulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                request = SimRequest(parts.path, parse_qsl(parts.query, keep_blank_values=True), dict(self.headers))
                simulator.requests.append(request)
                response = simulator.handle(request)
                if response.delay_s:
                    time.sleep(response.delay_s)
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.body)))
                if response.truncate_at is not None:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                body = response.body[: response.truncate_at]
                step = 1 if response.drip_s else len(body) or 1
                try:
                    for i in range(0, len(body), step):
                        self.wfile.write(body[i : i + step])
                        if response.drip_s:
                            self.wfile.flush()
                            time.sleep(response.drip_s)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up or died; nothing to answer

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()
