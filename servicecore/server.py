"""How `serve` runs uvicorn: a time limit on every request head and body, and a stop that
returns.

uvicorn re-raises SIGTERM / SIGINT once its graceful shutdown is done, so the process died by
the signal (exit -15) before `serve` could stop its loops and close the container. `Server`
only starts the graceful shutdown on a signal and returns; `serve` then closes and exits 0.

uvicorn has a keep-alive timeout, but none for a request head that trickles in (or never
comes): a client could hold a connection forever. `HeaderTimeoutProtocol` (on httptools where
installed, else on h11) closes a connection whose request line and headers have not all arrived
within `header_timeout` seconds of the connection opening, or of the previous response on it.
Bytes that are not an HTTP/1.1 request (a malformed request line, an invalid header) are
answered 400 by the protocol itself, before any route: as problem+json (`api.errors`), where
uvicorn answers text/plain; a request line and headers over `MAX_HEAD_BYTES`, 431. A body that
has not all arrived within `body_timeout` seconds of its head is answered 408 and its
connection closed (servicecore/body_deadline.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.errors import INVALID_HTTP, PROBLEM_JSON, problem_body
from servicecore.body_deadline import BodyTimer
from servicecore.wait_timer import WaitTimer

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is not installed
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

log = logging.getLogger(__name__)


class _HeadTimer:
    """The timer both protocols share (a `WaitTimer`, servicecore/wait_timer.py): it runs
    while `_awaiting_head()` holds, from its first moment on, and closes the connection when
    it fires."""

    header_timeout: float = 10.0
    _head_wait: WaitTimer
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    client: tuple[str, int] | None
    logger: logging.Logger

    def _awaiting_head(self) -> bool:
        raise NotImplementedError

    def _time_heads(self, transport: asyncio.Transport) -> None:
        """On a new connection: its wait for the first head begins."""
        self._head_wait = WaitTimer(self.loop, transport, self.header_timeout,
                                    self._awaiting_head, self._head_late)
        self._head_wait.watch()

    def _head_late(self) -> None:
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        self.logger.info("%s sent no complete request head within %g s; closing its "
                         "connection", client, self.header_timeout)
        self.transport.close()


MAX_HEAD_BYTES = 64 * 1024  # request line and headers, on httptools
HEAD_TOO_LARGE = json.dumps(problem_body(
    431, "too-large", f"the request line and headers are larger than {MAX_HEAD_BYTES} bytes "
    "(put fewer or shorter values in the query)", limit=MAX_HEAD_BYTES), separators=(",", ":")).encode()


class HeadTooLarge(Exception):
    """Raised in a parser callback: the parser stops and the connection gets its 431."""


def problem_head(body: bytes = INVALID_HTTP) -> list[tuple[bytes, bytes]]:
    """The headers of an answer the server gives itself, before any route, to bytes that are
    not an HTTP/1.1 request or a head that is too large: problem+json as every other error
    (uvicorn's own is text/plain), then close."""
    return [(b"content-type", PROBLEM_JSON.encode()),
            (b"content-length", str(len(body)).encode()), (b"connection", b"close")]


class H11HeaderTimeoutProtocol(_HeadTimer, BodyTimer, H11Protocol):
    """On h11 (pure Python): used where httptools is not installed."""

    def send_400_response(self, msg: str) -> None:
        headers = [*self.server_state.default_headers, *problem_head()]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
                      h11.Data(data=INVALID_HTTP), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()

    def _awaiting_head(self) -> bool:
        return self.conn.their_state is h11.IDLE

    def _body_pending(self) -> bool:
        return self.conn.their_state is h11.SEND_BODY

    def _can_answer(self) -> bool:
        return self.conn.our_state is h11.SEND_RESPONSE

    def _answer_body_timeout(self, body: bytes) -> None:
        headers = [*self.server_state.default_headers, *problem_head(body)]
        for event in (h11.Response(status_code=408, headers=headers, reason=b"Request Timeout"),
                      h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event) or b"")

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._time_bodies(transport)
        self._time_heads(transport)

    def handle_events(self) -> None:
        super().handle_events()
        self._head_wait.watch()
        self._watch_body()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._head_wait.watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_wait.cancel()
        self._body_wait.cancel()
        super().connection_lost(exc)


class HeadWithBody:
    """The transport as a response cycle sees it: the response head is held until the body's
    first write and goes out with it, one `send` instead of two (uvicorn writes the head at
    `http.response.start`, the body at `http.response.body`; each write of uvloop's transport
    is a system call, and on loopback the receiver's side of TCP runs in it too). A head no
    body follows in the same turn of the loop (a streamed answer still computing its first
    part) goes out at the end of that turn, as before; the bytes are the same."""

    __slots__ = ("held", "loop", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self.loop = loop
        self.held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self.held
        if held is None:
            self.held = data
            self.loop.call_soon(self.flush)
        else:
            self.held = None
            self.transport.writelines((held, data))  # one writev

    def flush(self) -> None:
        held, self.held = self.held, None
        if held is not None and not self.transport.is_closing():
            self.transport.write(held)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()


class HttpToolsHeaderTimeoutProtocol(_HeadTimer, BodyTimer, HttpToolsProtocol):
    """On httptools (llhttp, in C): parsing a request costs a fraction of h11's. The head timer
    runs while no request is in hand (its head complete, its response not yet sent); the body
    timer while the latest request's body is incomplete. Each response leaves in one write
    (`HeadWithBody`)."""

    _in_hand = 0  # requests whose head is complete and whose response is not
    _body_open = False  # the latest request's head is complete and its body is not
    _writes: HeadWithBody

    def _awaiting_head(self) -> bool:
        return not self._in_hand

    def _body_pending(self) -> bool:
        return self._body_open

    def _can_answer(self) -> bool:  # the only request in hand is the one whose body is late
        return self._in_hand == 1 and not self.cycle.response_started

    def _answer_body_timeout(self, body: bytes) -> None:
        self._write_answer(b"408 Request Timeout", body)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_body()

    def on_message_complete(self) -> None:
        self._body_open = False
        super().on_message_complete()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._writes = HeadWithBody(transport, self.loop)
        self._time_bodies(transport)
        self._time_heads(transport)

    def on_headers_complete(self) -> None:
        self._in_hand += 1
        self._head_wait.stop()  # the armed timer, if any, finds a request in hand
        upgrade = self.parser.should_upgrade() and self._should_upgrade()
        super().on_headers_complete()
        self._body_open = not upgrade
        if self.cycle is not None:  # None: an upgrade taken over before any request
            self.cycle.transport = self._writes

    _head_bytes = 0  # of the request line and headers being parsed
    _head_too_large = False

    # llhttp puts no bound on the headers (only on the request line): 500,000 headers, 55 MB
    # sent within the header timeout, were taken in and held, without a token. They are
    # counted as the parser hands them over, and the parser is stopped past MAX_HEAD_BYTES
    # (h11 stops at its own 16 KiB: a 400).
    def on_message_begin(self) -> None:
        self._head_bytes = 0
        super().on_message_begin()

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            self._head_too_large = True
            raise HeadTooLarge  # the parser stops; uvicorn calls send_400_response

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def send_400_response(self, msg: str) -> None:
        status, body = (b"431 Request Header Fields Too Large", HEAD_TOO_LARGE) \
            if self._head_too_large else (b"400 Bad Request", INVALID_HTTP)
        self._write_answer(status, body)
        self.transport.close()

    def _write_answer(self, status: bytes, body: bytes) -> None:
        """An answer the server gives itself, problem+json, before closing the connection."""
        head = [b"HTTP/1.1 " + status + b"\r\n"]
        for name, value in [*self.server_state.default_headers, *problem_head(body)]:
            head += [name, b": ", value, b"\r\n"]
        self._writes.flush()  # a response head still held goes out first
        self.transport.write(b"".join([*head, b"\r\n", body]))

    def on_response_complete(self) -> None:
        self._in_hand = max(0, self._in_hand - 1)
        super().on_response_complete()
        self._head_wait.watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_wait.cancel()
        self._body_wait.cancel()
        super().connection_lost(exc)


HeaderTimeoutProtocol: type[H11HeaderTimeoutProtocol | HttpToolsHeaderTimeoutProtocol] = (
    HttpToolsHeaderTimeoutProtocol if HttpToolsProtocol is not None
    else H11HeaderTimeoutProtocol)


def header_timeout_protocol(seconds: float, body_timeout: float = BodyTimer.body_timeout,
                            base: type[asyncio.Protocol] | None = None) -> type[asyncio.Protocol]:
    """`HeaderTimeoutProtocol` (or `base`, one of the two) with these time limits."""
    return type("HeaderTimeoutProtocol", (base or HeaderTimeoutProtocol,),
                {"header_timeout": seconds, "body_timeout": body_timeout})


class Server(uvicorn.Server):
    """uvicorn's server, except that a signal is not raised again after the shutdown."""

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit)
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def serve_workers(*, host: str, port: int, workers: int, header_timeout: float,
                  body_timeout: float, shutdown_grace: int, log_level: str = "info") -> None:
    """`workers` processes (uvicorn's supervisor) accepting on one socket until SIGTERM /
    SIGINT. Each builds its own container from the environment (`worker_app`): the API only;
    the projections and the analytics loader stay in the calling process (or their workers)."""
    from uvicorn.supervisors import Multiprocess

    # As in `serve`: uvicorn logs through the process's handler, the app writes the access log.
    config = uvicorn.Config("servicecore.server:worker_app", factory=True, host=host,
                            port=port, log_level=log_level.lower(), log_config=None,
                            access_log=False, workers=workers,
                            http="servicecore.server:HeaderTimeoutProtocol",
                            timeout_graceful_shutdown=shutdown_grace)
    os.environ["SERVICECORE_HEADER_TIMEOUT_SECONDS"] = str(header_timeout)
    os.environ["SERVICECORE_BODY_TIMEOUT_SECONDS"] = str(body_timeout)
    # /metrics of any worker adds up all of them (prometheus_client's multiprocess mode): an
    # empty folder of their own unless the operator named one.
    own_metrics_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        own_metrics_dir = tempfile.mkdtemp(prefix="servicecore-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = own_metrics_dir
    sock = config.bind_socket()
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()
        if own_metrics_dir is not None:
            shutil.rmtree(own_metrics_dir, ignore_errors=True)
    log.info("HTTP worker processes stopped")


def worker_app() -> Any:
    """The app of one worker process (see `serve_workers`), closed with its lifespan."""
    from api.main import create_app
    from servicecore import logs, loop_states
    from servicecore.container import build
    from servicecore.settings import Settings
    from servicecore.tracing import install_tracing

    settings = Settings(in_process_projections=False, create_tables=False)
    logs.configure(logs.resolve(settings.log_format, True), "api", settings.log_level)
    HeaderTimeoutProtocol.header_timeout = settings.header_timeout_seconds
    HeaderTimeoutProtocol.body_timeout = settings.body_timeout_seconds
    container = build(settings)
    if shared := os.environ.get(loop_states.ENV):  # the serving process's loops
        container.shared_states = Path(shared)
    app = create_app(container.api_context(), on_shutdown=container.close)
    install_tracing(app, settings.tracing)  # checked by `serve` before the workers start
    return app


def serve(app: Any, *, host: str, port: int, header_timeout: float, body_timeout: float,
          shutdown_grace: int, log_level: str = "info") -> None:
    """Serve until SIGTERM / SIGINT, then finish (at most `shutdown_grace` s) and return."""
    # log_config=None: uvicorn's loggers go through the process's handler (servicecore/logs.py);
    # its access log is off: the app writes its own, with the request's context and no tokens.
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level.lower(), log_config=None,
                            access_log=False,
                            http=header_timeout_protocol(header_timeout, body_timeout),
                            timeout_graceful_shutdown=shutdown_grace)
    Server(config).run()
    log.info("HTTP server stopped")
