"""`serve`'s protocol, on httptools and on h11: a request body that has not all arrived within
the body deadline of its head is answered 408 problem+json and its connection closed; one that
arrives in time, however slowly, is served as before. A real server on a real socket."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send

from servicecore.server import (
    H11HeaderTimeoutProtocol,
    HttpToolsHeaderTimeoutProtocol,
    header_timeout_protocol,
)
from tests.live_server import serving

DEADLINE = 1.0
PROTOCOLS = [pytest.param(HttpToolsHeaderTimeoutProtocol, id="httptools"),
             pytest.param(H11HeaderTimeoutProtocol, id="h11")]
ended: list[str] = []  # how each body read by the app ended: "whole" or "disconnect"


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """/echo reads the whole body and answers its size; /early starts its answer first;
    /late reads only after twice the deadline."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/late":
        await asyncio.sleep(2 * DEADLINE)
    if scope["path"] == "/early":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            ended.append("disconnect")
            return
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    ended.append("whole")
    answer = json.dumps({"size": len(body)}).encode()
    if scope["path"] != "/early":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(answer)).encode())]})
    await send({"type": "http.response.body", "body": answer})


@contextmanager
def served(base: type[Any]) -> Iterator[int]:
    ended.clear()
    protocol = header_timeout_protocol(10.0, DEADLINE, base=base)
    with serving(app, lifespan="off", http=protocol) as url:
        yield int(url.rsplit(":", 1)[1])


def connect(port: int) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port))
    conn.settimeout(20)  # a body that is never cut off fails here instead of hanging
    return conn


def head(path: str = "/echo", length: int | None = 200_000) -> bytes:
    framing = b"Transfer-Encoding: chunked" if length is None else b"Content-Length: %d" % length
    return b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n%s\r\n\r\n" % (
        path.encode(), framing)


def until_closed(conn: socket.socket) -> bytes:
    answer = b""
    try:
        while part := conn.recv(65536):
            answer += part
    except ConnectionResetError:
        pass
    return answer


def assert_408_then_closed(answer: bytes) -> None:
    """The whole answer up to the close: one 408 problem+json, `Connection: close`."""
    response_head, _, body = answer.partition(b"\r\n\r\n")
    assert response_head.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer[:300]
    lines = response_head.lower().split(b"\r\n")
    assert b"content-type: application/problem+json" in lines
    assert b"connection: close" in lines
    assert b"content-length: %d" % len(body) in lines  # nothing after it: then closed
    problem = json.loads(body)
    assert problem["type"].endswith("/body-timeout") and problem["status"] == 408
    assert problem["timeout_seconds"] == DEADLINE


def trickle(conn: socket.socket, data: bytes, pause: float) -> None:
    """Send `data` a byte at a time until the server closes the connection (or it is sent)."""
    for byte in data:
        try:
            conn.sendall(bytes([byte]))
        except OSError:
            return
        time.sleep(pause)


@pytest.mark.parametrize("base", PROTOCOLS)
def test_a_trickled_body_is_408_and_closed(base: type[Any]) -> None:
    with served(base) as port, connect(port) as conn:
        conn.sendall(head(length=200))
        sender = threading.Thread(target=trickle, args=(conn, b"x" * 200, 0.1), daemon=True)
        sender.start()  # 20 s of bytes at this pace: the deadline comes first
        assert_408_then_closed(until_closed(conn))
        sender.join(30)
    assert ended == ["disconnect"]  # the app saw the body end, not arrive


@pytest.mark.parametrize("base", PROTOCOLS)
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_that_stops_half_way_is_408_and_closed(base: type[Any], framing: str) -> None:
    with served(base) as port, connect(port) as conn:
        if framing == "chunked":  # a chunk, then nothing: no last chunk ever comes
            conn.sendall(head(length=None) + b"400\r\n" + b"y" * 0x400 + b"\r\n")
        else:
            conn.sendall(head(length=200_000) + b"y" * 100_000)
        assert_408_then_closed(until_closed(conn))
    assert ended == ["disconnect"]


@pytest.mark.parametrize("base", PROTOCOLS)
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_sent_in_pieces_within_the_deadline_is_served(base: type[Any],
                                                             framing: str) -> None:
    """Pieces a tenth of the deadline apart; then a second request on the same connection
    whose body stops: the deadline counts from its own head, not the first one's."""
    pieces = [b"a" * 1000, b"b" * 1000, b"c" * 1000]
    with served(base) as port, connect(port) as conn:
        chunked = framing == "chunked"
        conn.sendall(head(length=None if chunked else 3000))
        for piece in pieces:
            time.sleep(DEADLINE / 10)
            conn.sendall(b"3e8\r\n" + piece + b"\r\n" if chunked else piece)
        if chunked:
            conn.sendall(b"0\r\n\r\n")
        answer = b""
        while not answer.endswith(b"}"):
            part = conn.recv(4096)
            assert part, answer
            answer += part
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        assert answer.endswith(b'{"size": 3000}')

        conn.sendall(head(length=10) + b"12345")
        assert_408_then_closed(until_closed(conn))
    assert ended == ["whole", "disconnect"]


@pytest.mark.parametrize("base", PROTOCOLS)
def test_an_answer_already_begun_is_cut_not_turned_into_a_408(base: type[Any]) -> None:
    with served(base) as port, connect(port) as conn:
        conn.sendall(head("/early", length=100) + b"z" * 10)
        answer = until_closed(conn)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer[:300]
    assert b"408" not in answer and b'"size"' not in answer
    assert ended == ["disconnect"]


@pytest.mark.parametrize("base", PROTOCOLS)
def test_a_body_that_arrives_with_its_head_arms_no_timer(base: type[Any]) -> None:
    """The common case costs no timer: the body is complete when the bytes are parsed."""
    armed: list[float] = []

    class Counted(base):  # type: ignore[misc,valid-type]
        def _watch_body(self) -> None:
            had = self._body_timer
            super()._watch_body()
            if self._body_timer is not None and self._body_timer is not had:
                armed.append(self.loop.time())

    with served(Counted) as port, connect(port) as conn:
        for _ in range(3):
            conn.sendall(head(length=5) + b"hello")
            answer = b""
            while not answer.endswith(b"}"):
                answer += conn.recv(4096)
            assert answer.endswith(b'{"size": 5}')
        assert armed == []
        conn.sendall(head(length=5) + b"he")  # this one waits for its body: one timer
        assert_408_then_closed(until_closed(conn))
    assert len(armed) == 1


@pytest.mark.parametrize("base", PROTOCOLS)
def test_a_body_the_server_stopped_reading_is_not_the_clients_delay(base: type[Any]) -> None:
    """A body over uvicorn's buffer (64 KiB) that the app does not read yet pauses reading:
    the client had sent it all, so it is served once the app reads, not cut off at 408."""
    body = b"q" * 4_000_000
    with served(base) as port, connect(port) as conn:
        sender = threading.Thread(target=conn.sendall, args=(head("/late", len(body)) + body,),
                                  daemon=True)
        sender.start()
        answer = b""
        while not answer.endswith(b"}"):
            part = conn.recv(4096)
            assert part, answer[:300]
            answer += part
        sender.join(30)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b'{"size": 4000000}')
