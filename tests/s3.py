"""A real S3 API on loopback for the tests: moto's server on 127.0.0.1, and a proxy in front of it that
answers with the faults object storage really has (500, 503 SlowDown) or lets a test act on a request."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "loopback-access-key", "AWS_SECRET_ACCESS_KEY": "loopback-secret-key-0123",
               "AWS_REGION": "us-east-1"}
"""Made up: moto accepts any; the tests check that they never reach disk, logs or output."""


class LoopbackS3:
    """moto's S3 server on 127.0.0.1, one per test session; each test gets its own bucket."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"

    def env(self, endpoint: str | None = None) -> dict[str, str]:
        """The standard AWS variables that point a client at this server (or at a proxy before it)."""
        return {**CREDENTIALS, "AWS_ENDPOINT_URL": endpoint or self.endpoint, "AWS_ALLOW_HTTP": "true"}

    def new_bucket(self) -> str:
        name = f"lake-{uuid.uuid4().hex[:12]}"
        response = httpx.put(f"{self.endpoint}/{name}")
        response.raise_for_status()
        return name

    def stop(self) -> None:
        self._server.stop()


Rule = Callable[[str, str], tuple[int, bytes] | None]
"""(method, path) -> a (status, body) to answer instead of S3, or None to pass the request through."""


class FaultyProxy:
    """Forwards requests to S3 unless a rule answers first; counts what it answered."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.rules: list[Rule] = []
        self.injected = 0
        self.requests: list[tuple[str, str]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _body(self) -> bytes:
                """The request's body, sent with a length or in chunks (Arrow's S3 client streams uploads)."""
                if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                    length = int(self.headers.get("Content-Length") or 0)
                    return self.rfile.read(length) if length else b""
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return b"".join(chunks)

            def _relay(self) -> None:
                body = self._body()
                proxy.requests.append((self.command, self.path))
                for rule in proxy.rules:
                    answer = rule(self.command, self.path)
                    if answer is not None:
                        proxy.injected += 1
                        self._answer(*answer, {"Content-Type": "application/xml"})
                        return
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "content-length", "transfer-encoding", "expect")}
                upstream = proxy._client.request(self.command, f"{proxy.upstream}{self.path}", headers=headers,
                                                 content=body)
                self._answer(upstream.status_code, upstream.content,
                             {k: v for k, v in upstream.headers.items()
                              if k.lower() not in ("content-length", "transfer-encoding", "connection",
                                                   "content-encoding")},
                             length=upstream.headers.get("content-length") if self.command == "HEAD" else None)

            def _answer(self, status: int, body: bytes, headers: dict[str, str], length: str | None = None) -> None:
                """Send an answer; a HEAD's ``length`` is the object's size, as S3 gave it."""
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", length or str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay

        self._client = httpx.Client(timeout=30)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()


def error(status: int, code: str) -> tuple[int, bytes]:
    return status, (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
                    f"<Message>injected by the test</Message></Error>").encode()


def every_nth(n: int, answer: tuple[int, bytes], *, method: str | None = None) -> Rule:
    """Answer every ``n``-th request (of ``method``) with ``answer``: an object store having a bad minute."""
    seen = [0]
    lock = threading.Lock()

    def rule(verb: str, path: str) -> tuple[int, bytes] | None:
        if method is not None and verb != method:
            return None
        with lock:
            seen[0] += 1
            return answer if seen[0] % n == 0 else None

    return rule


@contextmanager
def faulty(s3: LoopbackS3) -> Iterator[FaultyProxy]:
    proxy = FaultyProxy(s3.endpoint)
    try:
        yield proxy
    finally:
        proxy.close()
