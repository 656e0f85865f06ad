"""A TCP proxy in front of a server, for cutting it off: `stop()` is the server going away;
`freeze()` is a middlebox that stops forwarding the connections it has without closing them."""

from __future__ import annotations

import contextlib
import os
import socket
import threading

from psycopg.conninfo import conninfo_to_dict, make_conninfo


class TcpProxy:
    """Listens on 127.0.0.1:<port> and forwards each connection to `target`.

    `stop()` closes the listener and cuts every forwarded connection: clients see their
    connections reset and new connections refused, as when the server is not running.

    `freeze()` stops forwarding on every connection open at the time, in both directions,
    closes included: both ends keep their connections, and their kernels keep acknowledging
    (a stuck pooler, NAT or middlebox). Connections made afterwards are forwarded as usual,
    unless `freeze(new_too=True)`: then they are accepted and frozen from the start (a
    middlebox stuck for everything), until `thaw()`.
    """

    def __init__(self, target: tuple[str, int] | str) -> None:
        # A (host, port) pair, or the path of a Unix socket (an embedded PostgreSQL).
        self.target = target
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.listener.settimeout(0.1)
        self.port: int = self.listener.getsockname()[1]
        self.stopped = threading.Event()
        self.sockets: list[socket.socket] = []
        self.flowing: list[threading.Event] = []  # one per connection, cleared while frozen
        self.frozen_new = False  # connections made now start frozen
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = self._connect()
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            for sock in (client, upstream):  # as libpq does: no Nagle delay on small writes
                if sock.family != socket.AF_UNIX:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                if self.stopped.is_set():
                    client.close()
                    upstream.close()
                    return
                self.sockets += [client, upstream]
                flowing = threading.Event()
                if not self.frozen_new:
                    flowing.set()
                self.flowing.append(flowing)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink, flowing),
                                 daemon=True).start()

    def _connect(self) -> socket.socket:
        if isinstance(self.target, str):
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.settimeout(5)
            try:
                upstream.connect(self.target)
            except OSError:
                upstream.close()
                raise
            return upstream
        return socket.create_connection(self.target, timeout=5)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, flowing: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                flowing.wait()
                sink.sendall(data)
        flowing.wait()
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def freeze(self, new_too: bool = False) -> int:
        """Stop forwarding on the connections open now (none is closed), and on those made
        from now on if `new_too`. Returns how many were open."""
        with self.lock:
            self.frozen_new = new_too
            for flowing in self.flowing:
                flowing.clear()
            return len(self.flowing)

    def thaw(self) -> None:
        """Forward again what the frozen connections hold, and what follows."""
        with self.lock:
            self.frozen_new = False
            for flowing in self.flowing:
                flowing.set()

    def stop(self) -> None:
        self.stopped.set()
        self.thaw()
        self.thread.join(timeout=5)
        self.listener.close()
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self.sockets.clear()


def proxied(database_url: str) -> tuple[TcpProxy, str]:
    """A proxy in front of the server `database_url` names (an embedded server listens on a
    Unix socket in its data folder), and the same URL through it."""
    params = conninfo_to_dict(database_url)
    host, port = str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432)
    proxy = TcpProxy(os.path.join(host, f".s.PGSQL.{port}") if host.startswith("/")
                     else (host, port))
    return proxy, make_conninfo(**{**params, "host": "127.0.0.1", "port": str(proxy.port)})
