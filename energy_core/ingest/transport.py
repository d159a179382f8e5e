"""The client's network underneath httpx: kept-alive HTTP/1.1 connections of the standard library's
``http.client``, reading bodies in large pieces.

httpx's own transport reads a body 64 KiB at a time through h11, in Python: about 3.5 CPU seconds per
GB of pages with a source's requests in flight on many threads, as much as decoding the pages; urllib3
reads bodies well but parses and re-encodes every URL a character at a time in Python (1.4 ms of CPU a
request for EIA's long queries). Here a request goes out as httpx built it, and each piece of the body
is what one ``recv`` returns (``read1``), with the GIL released while it waits, so a page of a megabyte
arrives in one or two pieces. httpx still does the rest: building requests, timeouts, content decoding,
``Response``. A piece per ``recv`` keeps the client's checks between pieces (the byte cap, the
attempt's deadline) as close as they were.

Behind a proxy (``HTTP_PROXY`` and the like in the environment) the client keeps httpx's own transport,
which knows how to use one: see :func:`proxy_configured`.
"""

from __future__ import annotations

import http.client
import os
import select
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

PIECE_BYTES = 1 << 22
"""The most one read asks for; a read returns what has arrived, up to this."""

_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")

Origin = tuple[str, str, int]
"""(scheme, host, port): the connections a request may reuse."""


def proxy_configured(environ: dict[str, str] | None = None) -> bool:
    """Whether the environment names a proxy, which httpx's own transport honours and this one does not."""
    names = {name.lower() for name, value in (os.environ if environ is None else environ).items() if value}
    return any(name in names for name in _PROXY_VARIABLES)


class PooledTransport(httpx.BaseTransport):
    """An httpx transport keeping idle connections per origin, shared by every thread of a client. How
    many are open at once is the client's to bound (its requests in flight)."""

    def __init__(self) -> None:
        self._idle: dict[Origin, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        url = request.url
        origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        connection = self._connection(origin, timeout, request)
        try:
            with _as_httpx_errors(request, httpx.ReadTimeout, httpx.ReadError):
                connection.request(request.method, url.raw_path.decode("ascii"), body=request.read() or None,
                                   headers=request.headers)
                answer = connection.getresponse()
        except BaseException:
            connection.close()
            raise
        return httpx.Response(answer.status, headers=answer.getheaders(),
                              stream=_Body(self, origin, connection, answer, request),
                              extensions={"http_version": b"HTTP/1.1", "reason_phrase": answer.reason.encode()})

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    def _connection(self, origin: Origin, timeout: dict, request: httpx.Request) -> http.client.HTTPConnection:
        """An idle connection to ``origin`` that the server has not closed, or a new one."""
        while True:
            with self._lock:
                idle = self._idle.get(origin)
                connection = idle.pop() if idle else None
            if connection is None:
                break
            if connection.sock is not None and not _dropped(connection.sock):
                connection.sock.settimeout(timeout.get("read"))
                return connection
            connection.close()
        scheme, host, port = origin
        if scheme == "https":
            self._tls = self._tls or httpx.create_ssl_context()
            connection = http.client.HTTPSConnection(host, port, timeout=timeout.get("connect"), context=self._tls)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout.get("connect"))
        with _as_httpx_errors(request, httpx.ConnectTimeout, httpx.ConnectError):
            connection.connect()
        assert connection.sock is not None
        connection.sock.settimeout(timeout.get("read"))
        return connection

    def keep(self, origin: Origin, connection: http.client.HTTPConnection) -> None:
        """Take back a connection whose answer was read whole, for the next request to ``origin``."""
        with self._lock:
            self._idle.setdefault(origin, []).append(connection)


class _Body(httpx.SyncByteStream):
    """A response's body, as the pieces each ``recv`` brings. Its connection goes back to the pool when
    the body was read to its end, and is closed otherwise (an answer cut off by the byte cap or the
    deadline leaves the rest of it on the wire)."""

    def __init__(self, transport: PooledTransport, origin: Origin, connection: http.client.HTTPConnection,
                 answer: http.client.HTTPResponse, request: httpx.Request) -> None:
        self._transport, self._origin, self._connection = transport, origin, connection
        self._answer, self._request = answer, request
        self._complete = False

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx_errors(self._request, httpx.ReadTimeout, httpx.ReadError):
            while piece := self._answer.read1(PIECE_BYTES):
                yield piece
        if self._answer.length:  # read1 ends quietly where the server closed before the declared length
            raise httpx.RemoteProtocolError(f"the answer ended {self._answer.length} bytes short of its "
                                            "Content-Length", request=self._request)
        self._complete = True

    def close(self) -> None:
        self._answer.close()
        if self._complete and not self._answer.will_close and self._connection.sock is not None:
            self._transport.keep(self._origin, self._connection)
        else:
            self._connection.close()


def _dropped(sock: socket.socket) -> bool:
    """Whether an idle connection has something to read: the server closed it (or broke the protocol)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


@contextmanager
def _as_httpx_errors(request: httpx.Request, timed_out: type[httpx.TimeoutException],
                     failed: type[httpx.TransportError]) -> Iterator[None]:
    """Raise the socket's and http.client's errors as the httpx exceptions the client handles."""
    try:
        yield
    except TimeoutError as error:
        raise timed_out(str(error) or "timed out", request=request) from error
    except http.client.HTTPException as error:
        raise httpx.RemoteProtocolError(f"{type(error).__name__}: {error}", request=request) from error
    except OSError as error:
        raise failed(f"{type(error).__name__}: {error}", request=request) from error
