"""The client's network underneath httpx: urllib3's connection pool, reading bodies in large pieces.

httpx's own transport reads a body 64 KiB at a time through h11, in Python: about 3.5 CPU seconds per
GB of pages with a source's requests in flight on many threads, as much as decoding the pages
(benchmarks/README.md, Ingest). Here each piece is what one ``recv`` returns (``read1``), with the GIL
released while it waits, so a page of a megabyte arrives in one or two pieces. httpx still does the
rest: building requests, timeouts, content decoding, ``Response``. A piece per ``recv`` also keeps the
client's checks between pieces (the byte cap, the attempt's deadline) as close as they were.

Behind a proxy (``HTTP_PROXY`` and the like in the environment) the client keeps httpx's own transport,
which knows how to use one: see :func:`proxy_configured`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    EmptyPoolError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)

PIECE_BYTES = 1 << 22
"""The most one read asks for; a read returns what has arrived, up to this."""

_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")


def proxy_configured(environ: dict[str, str] | None = None) -> bool:
    """Whether the environment names a proxy, which httpx's own transport honours and this one does not."""
    names = {name.lower() for name, value in (os.environ if environ is None else environ).items() if value}
    return any(name in names for name in _PROXY_VARIABLES)


class PooledTransport(httpx.BaseTransport):
    """An httpx transport over one urllib3 pool manager, shared by every thread of a client.

    :param max_connections: connections kept per host; a request beyond them waits (httpx's ``pool``
        timeout) for one to come back.
    """

    def __init__(self, max_connections: int) -> None:
        self._pools = urllib3.PoolManager(maxsize=max_connections, block=True, retries=False,
                                          ssl_context=httpx.create_ssl_context())

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        with _as_httpx_errors(request):
            answer = self._pools.urlopen(
                request.method, str(request.url), body=request.read() or None,
                headers=urllib3.HTTPHeaderDict(request.headers.multi_items()),
                redirect=False, preload_content=False, decode_content=False,
                timeout=urllib3.Timeout(connect=timeout.get("connect"), read=timeout.get("read")),
                pool_timeout=timeout.get("pool"),
            )
        return httpx.Response(answer.status, headers=list(answer.headers.items()), stream=_Body(answer, request),
                              extensions={"http_version": b"HTTP/1.1", "reason_phrase": (answer.reason or "").encode()})

    def close(self) -> None:
        self._pools.clear()


class _Body(httpx.SyncByteStream):
    """A response's body, as the pieces each ``recv`` brings. Its connection goes back to the pool when
    the body was read to its end, and is closed otherwise (an answer cut off by the byte cap or the
    deadline leaves the rest of it on the wire)."""

    def __init__(self, answer: urllib3.BaseHTTPResponse, request: httpx.Request) -> None:
        self._answer = answer
        self._request = request
        self._complete = False

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx_errors(self._request):
            while piece := self._answer.read1(PIECE_BYTES, decode_content=False):
                yield piece
        self._complete = True

    def close(self) -> None:
        if not self._complete:
            self._answer.close()
        self._answer.release_conn()


@contextmanager
def _as_httpx_errors(request: httpx.Request) -> Iterator[None]:
    """Raise urllib3's errors as the httpx exceptions the client handles (timeouts, transport errors)."""
    try:
        yield
    except HTTPError as error:
        raise _httpx_error(error)(str(error), request=request) from error


def _httpx_error(error: HTTPError) -> type[httpx.TransportError]:
    # NewConnectionError subclasses ConnectTimeoutError in urllib3 2, so it is asked first.
    if isinstance(error, NewConnectionError | SSLError):
        return httpx.ConnectError
    if isinstance(error, ConnectTimeoutError):
        return httpx.ConnectTimeout
    if isinstance(error, ReadTimeoutError):
        return httpx.ReadTimeout
    if isinstance(error, EmptyPoolError):
        return httpx.PoolTimeout
    if isinstance(error, ProxyError):
        return httpx.ProxyError
    if isinstance(error, ProtocolError):
        return httpx.RemoteProtocolError
    return httpx.TransportError
