"""A TCP proxy in front of PostgreSQL that can drop a connection at a chosen moment.

Armed with `cut("reply", port)`, it closes the client connection from `port` as soon as its
server sends anything (the statement was received and answered: the commit happened, the
client never hears of it); armed with `cut("request", port)`, it swallows the next request that
client sends and closes its side (the server never sees it, its backend stays idle until
terminated). Other connections (a pool opening more in the background) pass untouched.
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


def _target(database_url: str) -> tuple[int, Any]:
    params = conninfo_to_dict(database_url)
    host = str(params.get("host") or "127.0.0.1")
    port = int(params.get("port") or 5432)
    if host.startswith("/"):
        return socket.AF_UNIX, os.path.join(host, f".s.PGSQL.{port}")
    return socket.AF_INET, (host, port)


class FaultyProxy:
    def __init__(self, database_url: str) -> None:
        self.family, self.address = _target(database_url)
        self.params = conninfo_to_dict(database_url)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._armed: tuple[str, int] | None = None
        self._lock = threading.Lock()
        self.cuts = 0
        self._open: list[socket.socket] = []
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        """The database URL that goes through the proxy."""
        params = {**self.params, "host": "127.0.0.1", "port": str(self.port)}
        return make_conninfo(**params)  # type: ignore[arg-type]

    def cut(self, moment: str, client_port: int) -> None:
        assert moment in ("reply", "request")
        with self._lock:
            self._armed = (moment, client_port)

    def _take(self, moment: str, client_port: int) -> bool:
        with self._lock:
            if self._armed == (moment, client_port):
                self._armed = None
                self.cuts += 1
                return True
            return False

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, (_, client_port) = self.listener.accept()
            except OSError:
                return
            server = socket.socket(self.family, socket.SOCK_STREAM)
            server.connect(self.address)
            self._open += [client, server]
            threading.Thread(target=self._pipe, args=(client, server, "request", client_port),
                             daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, "reply", client_port),
                             daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, direction: str,
              client_port: int) -> None:
        """Forward until EOF; on a cut, drop the data and close the client's side only
        (after a swallowed request the server's backend stays connected and idle)."""
        ends = [source, sink]
        try:
            while data := source.recv(65536):
                if self._take(direction, client_port):
                    ends = [source] if direction == "request" else [sink]
                    ends[0].shutdown(socket.SHUT_RDWR)
                    return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in ends:
                try:
                    end.close()
                except OSError:
                    pass

    def refuse_new(self) -> None:
        """Connections already open go on; new ones are refused (the database is away)."""
        self._stopped = True
        self._close_listener()

    def readmit(self) -> None:
        """After `refuse_new`: accept new connections again, on the same port."""
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _close_listener(self) -> None:
        # A close alone leaves a listener that another thread is blocked accepting on still
        # listening (Linux), so one more connection would get through: shut it down first.
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()

    def close(self) -> None:
        """Stop, and end every connection on both sides. A shutdown first: a close alone,
        while a pipe's thread is blocked reading the socket, neither wakes it nor sends the
        FIN, so the server's backend stayed connected, idle, to the end of the test run (each
        lost-acknowledgement test left one or two, until the server ran out of slots)."""
        self._stopped = True
        self._close_listener()
        for end in self._open:
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                end.close()
            except OSError:
                pass


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
