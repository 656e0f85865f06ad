"""A TCP proxy in front of a server, for cutting it off: `stop()` is the server going away;
`freeze()` is a middlebox that stops forwarding the connections it has without closing them."""

from __future__ import annotations

import os

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.integration.proxy_base import Link, ProxyBase, Target


class TcpProxy(ProxyBase):
    """Listens on 127.0.0.1:<port> and forwards each connection to `target`.

    `stop()` closes the listener and cuts every forwarded connection: clients see their
    connections reset and new connections refused, as when the server is not running.

    `freeze()` stops forwarding on every connection open at the time, in both directions,
    closes included: both ends keep their connections, and their kernels keep acknowledging
    (a stuck pooler, NAT or middlebox). Connections made afterwards are forwarded as usual,
    unless `freeze(new_too=True)`: then they are accepted and frozen from the start (a
    middlebox stuck for everything), until `thaw()`.
    """

    def __init__(self, target: Target) -> None:
        self.frozen_new = False  # connections made now start frozen
        super().__init__(target)

    def _opened(self, link: Link) -> None:
        if not self.frozen_new:
            link.flowing.set()

    def freeze(self, new_too: bool = False) -> int:
        """Stop forwarding on the connections open now (none is closed), and on those made
        from now on if `new_too`. Returns how many were open."""
        with self.lock:
            self.frozen_new = new_too
            for link in self.links:
                link.flowing.clear()
            return len(self.links)

    def thaw(self) -> None:
        """Forward again what the frozen connections hold, and what follows."""
        with self.lock:
            self.frozen_new = False
            for link in self.links:
                link.flowing.set()

    def stop(self) -> None:
        self.close()


def proxied(database_url: str) -> tuple[TcpProxy, str]:
    """A proxy in front of the server `database_url` names (an embedded server listens on a
    Unix socket in its data folder), and the same URL through it."""
    params = conninfo_to_dict(database_url)
    host, port = str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432)
    proxy = TcpProxy(os.path.join(host, f".s.PGSQL.{port}") if host.startswith("/")
                     else (host, port))
    return proxy, make_conninfo(**{**params, "host": "127.0.0.1", "port": str(proxy.port)})
