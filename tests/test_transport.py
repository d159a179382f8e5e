"""The client's transport under httpx: kept-alive connections, bodies read whole in pieces, and the
network's failures raised as the httpx errors the client retries. Against a raw server on 127.0.0.1
that counts its connections and answers with exactly the bytes a test gives it."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

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

    def __init__(self, answer: Answer, *, close_after: bool = False, delay_s: float = 0.0,
                 tls: ssl.SSLContext | None = None) -> None:
        self.answer, self.close_after, self.delay_s, self.tls = answer, close_after, delay_s, tls
        self.connections = 0
        self.requests = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self._listener.getsockname()[1]}"
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
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError):
                return  # the client refused the certificate
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


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, valid for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "energy test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    (cert := folder / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (private := folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert, private


def test_https_verifies_the_server_and_keeps_the_connection(serve, tmp_path, monkeypatch):
    """The trusted certificates are httpx's (certifi, or ``SSL_CERT_FILE``): a server they do not vouch
    for is refused before a byte of the request is sent."""
    cert, key = self_signed(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server = serve(lambda n: plain(b'{"n": %d}' % n), tls=tls)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with client() as http, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        http.get(f"{server.url}/x")
    assert server.requests == 0
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    with client() as http:
        assert [http.get(f"{server.url}/x").json() for _ in range(2)] == [{"n": 0}, {"n": 1}]
    assert server.connections == 2, "one refused, then one kept for both requests"
