"""The protocol-level guards through a real uvicorn server on loopback: request heads that are
late (trickled byte by byte, or never sent) are cut off by :func:`guarded_h11` without hurting
other clients or keep-alive; ``/docs`` and ``/redoc`` fetch nothing from outside the server."""

from __future__ import annotations

import http.client
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn
from fastapi import FastAPI

from territory_opt.service.docs import DOC_PATHS, add_offline_docs
from territory_opt.service.protocol import guarded_h11

HEADER_TIMEOUT = 1.0
KEEP_ALIVE = 2.0  # longer than HEADER_TIMEOUT, to tell the two timers apart
GIVE_UP = 4.0  # a guard that has not acted by then has failed


@dataclass
class Running:
    port: int

    def get(self, path: str) -> tuple[int, bytes]:
        """One request on a new connection: status and body."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=GIVE_UP)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=GIVE_UP)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # one byte, one segment
        return sock


@pytest.fixture(scope="module")
def server() -> Iterator[Running]:
    app = FastAPI(docs_url=None, redoc_url=None)
    add_offline_docs(app)

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"pong": "yes"}

    # A listening socket made here: no race for a free port between choosing and binding it.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    # log_config=None: uvicorn's records reach the root logger, so caplog sees them.
    config = uvicorn.Config(app, host="127.0.0.1", port=port, http=guarded_h11(HEADER_TIMEOUT),
                            timeout_keep_alive=int(KEEP_ALIVE), log_level="warning",
                            log_config=None, lifespan="off")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield Running(port)
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        listener.close()


def read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    """Status line plus headers, and the body (by Content-Length), of one response."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed mid-response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    assert length, head
    while len(body) < int(length.group(1)):
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    return head, body


def wait_for_close(sock: socket.socket, trickle: bytes = b"") -> tuple[float, bytes]:
    """Seconds until the server closes ``sock`` (at most GIVE_UP), and what it sent meanwhile;
    sends one byte of ``trickle`` (cycled) every 0.3 s if given."""
    start = time.monotonic()
    received = b""
    sock.settimeout(0.3)
    sent = 0
    while time.monotonic() - start < GIVE_UP:
        if trickle:
            try:
                sock.sendall(trickle[sent % len(trickle):][:1])
            except OSError:  # already closed (EPIPE / ECONNRESET)
                break
            sent += 1
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            continue
        except ConnectionResetError:  # closed with our trickled byte unread
            break
        if not chunk:
            break
        received += chunk
    return time.monotonic() - start, received


def test_trickled_headers_are_cut_off_while_others_are_served(
        server: Running, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="uvicorn.error")
    with server.connect() as slow:
        slow.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n")
        # Another client, served while the slow one is still trickling.
        assert server.get("/ping") == (200, b'{"pong":"yes"}')
        elapsed, received = wait_for_close(slow, trickle=b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaa")
    assert HEADER_TIMEOUT * 0.8 <= elapsed < GIVE_UP - 0.5
    assert received == b"" or received.startswith(b"HTTP/1.1 408 "), received
    late = [r.getMessage() for r in caplog.records if "Request headers not complete" in r.message]
    assert len(late) == 1 and late[0].startswith("127.0.0.1:"), late


def test_a_silent_connection_gets_408_and_is_closed(server: Running) -> None:
    with server.connect() as silent:
        elapsed, received = wait_for_close(silent)
    assert HEADER_TIMEOUT * 0.8 <= elapsed < GIVE_UP - 0.5
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), received
    assert b"connection: close" in head.lower()
    assert body == b"Request headers not received in time.\n"


def test_keep_alive_is_untouched(server: Running) -> None:
    """Idle between requests, longer than the header timeout, is the keep-alive timer's job."""
    request = b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
    with server.connect() as conn:
        conn.sendall(request)
        assert read_response(conn)[0].startswith(b"HTTP/1.1 200 ")
        time.sleep(HEADER_TIMEOUT + 0.3)
        conn.sendall(request)
        head, body = read_response(conn)
        assert head.startswith(b"HTTP/1.1 200 ") and body == b'{"pong":"yes"}'
        elapsed, received = wait_for_close(conn)
    assert received == b""
    assert KEEP_ALIVE - 0.3 <= elapsed < GIVE_UP


def test_a_trickled_second_request_is_cut_off(server: Running) -> None:
    """Any byte cancels uvicorn's keep-alive timer: the header timer must take over."""
    with server.connect() as conn:
        conn.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(conn)[0].startswith(b"HTTP/1.1 200 ")
        elapsed, _ = wait_for_close(conn, trickle=b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: aaaa")
    assert HEADER_TIMEOUT * 0.8 <= elapsed < GIVE_UP - 0.5


SOURCE = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_fetch_nothing_from_outside(server: Running, page: str) -> None:
    status, body = server.get(page)
    assert status == 200
    html = body.decode()
    assert "<html" in html.lower()
    for outside in ("http://", "https://", "//cdn", "cdn.", "unpkg", "jsdelivr", "googleapis",
                    "gstatic", "fonts.g"):
        assert outside not in html.lower(), outside
    sources = SOURCE.findall(html)
    assert sources, "the page loads its script from somewhere"
    assert any(s.endswith(".js") for s in sources)
    for url in sources:
        assert url.startswith("/static-docs/"), url
        asset_status, asset = server.get(url)
        assert asset_status == 200 and len(asset) > 1000, url
        # The scripts themselves must not pull in web fonts either.
        assert b"fonts.googleapis" not in asset and b"fonts.gstatic" not in asset, url
    if page == "/docs":
        assert '"validatorUrl": null' in html  # no badge fetched from validator.swagger.io
        assert "'/docs/oauth2-redirect'" in html
        assert server.get("/docs/oauth2-redirect")[0] == 200
        assert "/static-docs/swagger-ui.css" in sources


def test_docs_are_public_and_out_of_the_schema(server: Running) -> None:
    for path in ("/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json",
                 "/static-docs/favicon.png"):
        assert any(path == p or path.startswith(p + "/") for p in DOC_PATHS), path
    status, body = server.get("/openapi.json")
    assert status == 200
    assert b'"/ping"' in body
    assert b"/docs" not in body and b"/redoc" not in body and b"/static-docs" not in body
