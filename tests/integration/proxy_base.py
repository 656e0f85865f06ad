"""What the tests' TCP proxies share (tests/integration/tcp_proxy.py, the server going away or
a middlebox that stops forwarding; tests/integration/faults.py, a connection dropped at a
chosen moment): listening on 127.0.0.1, one connection to the target for each connection
accepted, a thread piping each direction, and an end that ends every connection on both sides.

The end shuts every socket down before it closes it: a close alone, while a pipe's thread is
blocked reading the socket, neither wakes it nor sends the FIN, so the server's backend stayed
connected, idle, to the end of the test run (each lost-acknowledgement test left one or two,
until the server ran out of connection slots). The listener is shut down before it is closed
too: a close alone leaves a listener another thread is blocked accepting on still listening
(Linux), so one more connection would get through.

A proxy says what it does with each piece of data (`_passes`) and at the end of a direction
(`_ended`); by default it forwards the data, and the end of a direction half-closes the other
side (the peer reads its EOF, the other direction goes on).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field

Target = tuple[str, int] | str  # (host, port), or the path of a Unix socket


def end_socket(sock: socket.socket) -> None:
    """Shut `sock` down, then close it. A close alone, while another thread is blocked
    reading it, leaves the connection open (the blocked read holds it): no FIN is sent and
    the peer never hears the end; the shutdown wakes the reader and sends it."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


@dataclass
class Link:
    """One proxied connection: the client's socket, the target's, the client's port, and
    whether data flows (cleared: held, in both directions)."""

    client: socket.socket
    upstream: socket.socket
    client_port: int
    flowing: threading.Event = field(default_factory=threading.Event)


class ProxyBase:
    """Listens on 127.0.0.1:<port> (a free one) and forwards each connection to `target`."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.lock = threading.Lock()
        self.stopped = threading.Event()  # set by `close`: nothing accepted any more
        self.sockets: list[socket.socket] = []  # every socket it opened or accepted
        self.links: list[Link] = []
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port: int = self.listener.getsockname()[1]
        self.thread = self._accepting()

    # -- accepting -------------------------------------------------------------------------

    def _accepting(self) -> threading.Thread:
        thread = threading.Thread(target=self._accept, args=(self.listener,), daemon=True)
        thread.start()
        return thread

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, peer = listener.accept()
            except OSError:  # the listener was shut down
                return
            try:
                upstream = self._connect()
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):  # as libpq does: no Nagle delay on small writes
                if sock.family != socket.AF_UNIX:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = Link(client, upstream, int(peer[1]))
            with self.lock:
                if self.stopped.is_set():
                    client.close()
                    upstream.close()
                    return
                self.sockets += [client, upstream]
                self.links.append(link)
                self._opened(link)
            for source, sink, direction in ((client, upstream, "request"),
                                            (upstream, client, "reply")):
                threading.Thread(target=self._pipe, args=(source, sink, direction, link),
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
        else:
            upstream = socket.create_connection(self.target, timeout=5)
        upstream.settimeout(None)
        return upstream

    def _opened(self, link: Link) -> None:
        """(Under `lock`.) A connection accepted: its data flows."""
        link.flowing.set()

    # -- piping ----------------------------------------------------------------------------

    def _pipe(self, source: socket.socket, sink: socket.socket, direction: str,
              link: Link) -> None:
        """Forward what `source` sends to `sink` until it ends (`direction`: "request", from
        the client, or "reply")."""
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if not self._passes(data, source, sink, direction, link):
                    return
                sink.sendall(data)
        self._ended(source, sink, direction, link)

    def _passes(self, data: bytes, source: socket.socket, sink: socket.socket,
                direction: str, link: Link) -> bool:
        """Whether `data` goes on to `sink` (False: the pipe stops here, `_ended` not
        called); waits while the link is held."""
        link.flowing.wait()
        return True

    def _ended(self, source: socket.socket, sink: socket.socket, direction: str,
               link: Link) -> None:
        """`source` ended (EOF, or an error): `sink` is told, once the link flows."""
        link.flowing.wait()
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    # -- ending ----------------------------------------------------------------------------

    def _close_listener(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()

    def close(self) -> None:
        """Stop: no connection accepted any more, every link let flow (a held pipe wakes)
        and every socket shut down, then closed: both sides see their connections end."""
        self.stopped.set()
        with self.lock:
            for link in self.links:
                link.flowing.set()
        self._close_listener()
        self.thread.join(timeout=5)
        with self.lock:
            for sock in self.sockets:
                end_socket(sock)
            self.sockets.clear()
