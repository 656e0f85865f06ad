"""A TCP proxy in front of PostgreSQL that can drop a connection at a chosen moment.

Armed with `cut("reply", port)`, it closes the client connection from `port` as soon as its
server sends anything (the statement was received and answered: the commit happened, the
client never hears of it); armed with `cut("request", port)`, it swallows the next request that
client sends and closes its side (the server never sees it, its backend stays idle until
terminated). Other connections (a pool opening more in the background) pass untouched.
Accepting, piping and the end that ends every connection on both sides are
tests/integration/proxy_base.py's.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.integration.proxy_base import Link, ProxyBase, Target, end_socket


def _target(database_url: str) -> Target:
    params = conninfo_to_dict(database_url)
    host = str(params.get("host") or "127.0.0.1")
    port = int(params.get("port") or 5432)
    if host.startswith("/"):
        return os.path.join(host, f".s.PGSQL.{port}")
    return host, port


class FaultyProxy(ProxyBase):
    def __init__(self, database_url: str) -> None:
        self.params = conninfo_to_dict(database_url)
        self._armed: tuple[str, int] | None = None
        self._cut_lock = threading.Lock()
        self.cuts = 0
        super().__init__(_target(database_url))

    @property
    def url(self) -> str:
        """The database URL that goes through the proxy."""
        params = {**self.params, "host": "127.0.0.1", "port": str(self.port)}
        return make_conninfo(**params)  # type: ignore[arg-type]

    def cut(self, moment: str, client_port: int) -> None:
        assert moment in ("reply", "request")
        with self._cut_lock:
            self._armed = (moment, client_port)

    def _take(self, moment: str, client_port: int) -> bool:
        with self._cut_lock:
            if self._armed == (moment, client_port):
                self._armed = None
                self.cuts += 1
                return True
            return False

    def _passes(self, data: bytes, source: socket.socket, sink: socket.socket,
                direction: str, link: Link) -> bool:
        """On a cut, the data is dropped and the client's side only is shut and closed
        (after a swallowed request the server's backend stays connected and idle)."""
        if not self._take(direction, link.client_port):
            return True
        end_socket(source if direction == "request" else sink)
        return False

    def _ended(self, source: socket.socket, sink: socket.socket, direction: str,
               link: Link) -> None:
        """Either side ending ends the connection: both sockets shut down and closed (the
        other direction's thread is blocked reading one of them)."""
        end_socket(source)
        end_socket(sink)

    def refuse_new(self) -> None:
        """Connections already open go on; new ones are refused (the database is away)."""
        self._close_listener()

    def readmit(self) -> None:
        """After `refuse_new`: accept new connections again, on the same port."""
        self.listener = socket.create_server(("127.0.0.1", self.port), backlog=64)
        self.thread = self._accepting()


def local_port(conn: psycopg.Connection[Any]) -> int:
    """The client-side TCP port of a psycopg connection (how the proxy tells them apart)."""
    with socket.socket(fileno=os.dup(conn.pgconn.socket)) as sock:
        return int(sock.getsockname()[1])


@contextmanager
def faulty_proxy(database_url: str) -> Iterator[FaultyProxy]:
    proxy = FaultyProxy(database_url)
    try:
        yield proxy
    finally:
        proxy.close()
