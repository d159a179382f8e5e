"""The client's transport under httpx: kept-alive connections, bodies read whole in pieces, and the
network's failures raised as the httpx errors the client retries. Against a raw server on 127.0.0.1
that counts its connections and answers with exactly the bytes a test gives it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from energy_core.ingest.transport import PooledTransport, proxy_configured

Answer = Callable[[int], bytes]
"""The raw bytes to send for the n-th request (counted from 0)."""


def plain(body: bytes, *headers: str) -> bytes:
    head = "".join(f"{line}\r\n" for line in (f"Content-Length: {len(body)}", *headers))
    return f"HTTP/1.1 200 OK\r\n{head}\r\n".encode() + body


class RawServer:
    """Answers each request on a connection with ``answer(n)``; closes the connection after it when
    ``close_after`` is set."""

    def __init__(self, answer: Answer, *, close_after: bool = False, delay_s: float = 0.0) -> None:
        self.answer, self.close_after, self.delay_s = answer, close_after, delay_s
        self.connections = 0
        self.requests = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as reader:
            while reader.readline() not in (b"", b"\r\n"):  # a request line
                while reader.readline() not in (b"\r\n", b""):
                    pass
                number, self.requests = self.requests, self.requests + 1
                time.sleep(self.delay_s)
                conn.sendall(self.answer(number))
                if self.close_after:
                    return

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., RawServer]]:
    made: list[RawServer] = []

    def start(answer: Answer, **options: object) -> RawServer:
        made.append(RawServer(answer, **options))  # type: ignore[arg-type]
        return made[-1]

    yield start
    for server in made:
        server.close()


def client(**options: object) -> httpx.Client:
    return httpx.Client(transport=PooledTransport(), **options)  # type: ignore[arg-type]


def test_requests_reuse_one_connection_and_large_bodies_arrive_whole(serve):
    bodies = [bytes([65 + n]) * (n * 1_500_000 + 10) for n in range(4)]  # up to 4.5 MB: several pieces
    server = serve(lambda n: plain(bodies[n]))
    with client() as http:
        received = [http.get(f"{server.url}/page?n={n}").content for n in range(4)]
    assert received == bodies
    assert server.connections == 1


def test_a_connection_the_server_closed_while_idle_is_replaced_not_failed(serve):
    server = serve(lambda n: plain(b'{"n": %d}' % n), close_after=True)  # no "Connection: close" said
    with client() as http:
        for n in range(3):
            time.sleep(0.05)  # the server's close has arrived before the next request
            assert http.get(f"{server.url}/x").json() == {"n": n}
    assert server.connections == 3 and server.requests == 3


def test_a_body_cut_short_of_its_length_is_an_error_and_its_connection_is_not_kept(serve):
    server = serve(lambda n: plain(b"x" * 100)[:-40] if n == 0 else plain(b"whole"), close_after=True)
    with client() as http:
        with pytest.raises(httpx.RemoteProtocolError, match="40 bytes short"):
            http.get(f"{server.url}/x")
        assert http.get(f"{server.url}/x").content == b"whole"


def test_a_chunked_body_is_read_whole(serve):
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    server = serve(lambda n: chunked)
    with client() as http:
        assert [http.get(f"{server.url}/x").content for _ in range(2)] == [b"hello world"] * 2
    assert server.connections == 1


def test_an_answer_that_says_close_closes_its_connection(serve):
    server = serve(lambda n: plain(b"ok", "Connection: close"), close_after=True)
    with client() as http:
        assert [http.get(f"{server.url}/x").content for _ in range(2)] == [b"ok", b"ok"]
    assert server.connections == 2


def test_failures_are_the_httpx_errors_the_client_retries(serve):
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    with client() as http, pytest.raises(httpx.ConnectError):
        http.get(f"http://127.0.0.1:{port}/x")
    slow = serve(lambda n: plain(b"late"), delay_s=1.0)
    with client(timeout=httpx.Timeout(0.2)) as http, pytest.raises(httpx.ReadTimeout):
        http.get(f"{slow.url}/x")
    garbage = serve(lambda n: b"SPDY/9 banana\r\n\r\n")
    with client() as http, pytest.raises(httpx.RemoteProtocolError, match="BadStatusLine"):
        http.get(f"{garbage.url}/x")


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, False), ({"HTTPS_PROXY": "http://proxy:3128"}, True), ({"all_proxy": "socks5://p:1080"}, True),
    ({"HTTP_PROXY": ""}, False), ({"NO_PROXY": "*"}, False),
])
def test_a_proxy_in_the_environment_is_left_to_httpx(environ, expected):
    assert proxy_configured(environ) is expected
