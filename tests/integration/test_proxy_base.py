"""The tests' two TCP proxies end every connection on both sides when they are closed: the
server's backend of a connection made through one ends with it (pg_stat_activity no longer
lists it), though the proxy's pipe threads were blocked reading (a close alone would neither
wake them nor send the FIN: the backend stayed, and a suite's worth of them used up the
server's connection slots)."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from tests.integration.faults import FaultyProxy
from tests.integration.kafka_support import wait_until
from tests.integration.proxy_base import ProxyBase
from tests.integration.tcp_proxy import proxied


def _faulty(url: str) -> tuple[ProxyBase, str]:
    proxy = FaultyProxy(url)
    return proxy, proxy.url


def _ends_with(database_url: str, through: Callable[[str], tuple[ProxyBase, str]],
               end: Callable[[ProxyBase, psycopg.Connection[Any]], None], what: str) -> None:
    """A connection made through a proxy; `end` ends it somehow while the client neither
    closes nor sends anything: the server's backend of that connection must end."""
    proxy, url = through(database_url)
    client = psycopg.connect(url, autocommit=True)
    pid = client.info.backend_pid
    try:
        with psycopg.connect(database_url, autocommit=True) as watcher:

            def connected() -> bool:
                found = watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s",
                                        (pid,)).fetchone()
                return found is not None and found[0] == 1

            assert connected()
            end(proxy, client)
            wait_until(lambda: not connected(), 20, what)
    finally:
        client.close()
        proxy.close()


def _shut_client_socket(proxy: ProxyBase, client: psycopg.Connection[Any]) -> None:
    with socket.socket(fileno=os.dup(client.pgconn.socket)) as raw:
        raw.shutdown(socket.SHUT_RDWR)


@pytest.mark.parametrize("through", [_faulty, proxied], ids=["faulty", "tcp"])
def test_closing_a_proxy_ends_the_backend_of_every_connection_through_it(
        database_url: str, through: Callable[[str], tuple[ProxyBase, str]]) -> None:
    _ends_with(database_url, through, lambda proxy, client: proxy.close(),
               "the backend to end with the proxy")


@pytest.mark.parametrize("through", [_faulty, proxied], ids=["faulty", "tcp"])
def test_a_client_going_away_without_a_word_ends_its_backend(
        database_url: str, through: Callable[[str], tuple[ProxyBase, str]]) -> None:
    """The client's side ends (FIN, no Terminate message) while the reply direction's thread
    is blocked reading the server: the proxy ends the server's side too, whatever the order
    its threads run in."""
    _ends_with(database_url, through, _shut_client_socket, "the backend to end with its client")
