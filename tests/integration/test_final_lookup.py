"""`GET /commands/{id}` after an undecided 503 is final: a 404 stays a 404.

A save frozen in flight by a stuck middlebox (`TcpProxy.freeze(new_too=True)`), whose commit
check could not reach the database within the request's deadline, is answered 503 naming its
command id while its statement is still held on its way to a backend that still runs. The
lookup voids the command id it does not find (a registry row without notification ids): when
the middlebox forwards again, the held statement fails on the key and stores nothing, so a
client without an `Idempotency-Key` that trusts the 404 and sends the command again applies
it once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import psycopg
from fastapi.testclient import TestClient

from api.main import create_app
from domain.application import ServiceCore
from domain.work_orders import WorkOrders
from projections.audit import VOID_COMMANDS_SQL, stored_command
from servicecore import audit_chain
from servicecore.container import Container
from servicecore.event_store import EventRecorder
from servicecore.schema import APPEND_LOCK, COMMANDS_TABLE, EVENTS_TABLE, VOID_COMMANDS
from tests.integration.faults import FaultyProxy
from tests.integration.support import open_order
from tests.integration.tcp_proxy import TcpProxy
from tests.integration.test_lost_acknowledgements import opening, orders_of
from tests.integration.test_request_deadline import (
    answered,
    assert_unavailable,
    backend_gone,
    behind,
    undecided_at_the_deadline,
)
from tests.integration.test_save_faults import _arm_then_append, proxied, proxy

__all__ = ["behind", "proxied", "proxy"]  # fixtures shared with the modules they come from

Auth = Callable[..., dict[str, str]]


def _events(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {EVENTS_TABLE}").fetchone()
    assert row is not None
    return int(row[0])


def _registry_row(database_url: str, command_id: str) -> list[int] | None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(f"SELECT notification_ids FROM {COMMANDS_TABLE} "
                           "WHERE command_id = %s", (command_id,)).fetchone()
    return None if row is None else list(row[0])


def test_the_void_statement_is_the_recorders_own() -> None:
    assert VOID_COMMANDS_SQL == VOID_COMMANDS


def test_a_404_while_the_statement_is_held_stays_404_and_a_resend_applies_once(
        behind: tuple[Container, TcpProxy], client: TestClient, database_url: str,
        store_id: str, auth: Auth) -> None:
    system, proxy = behind
    advisor = auth("advisor", "adv-final", [store_id])  # no Idempotency-Key
    with TestClient(create_app(system.api_context())) as api:
        # Undecided: the statement is held by the middlebox, its backend still runs.
        command_id, backend = undecided_at_the_deadline(system, proxy, api, store_id, advisor)
        events = _events(database_url)
        # Asked on a connection that reaches the database (another replica's): not stored.
        missing = client.get(f"/commands/{command_id}", headers=advisor)
        assert missing.status_code == 404, missing.text
        # The middlebox forwards again: the held statement reaches its backend, which runs
        # it (its client is gone) and ends at the end of the stream.
        proxy.thaw()
        backend_gone(database_url, backend)
        # It failed on the command id: nothing of it was stored, and the 404 still holds.
        assert _events(database_url) == events
        assert orders_of(database_url, store_id) == 0
        again = client.get(f"/commands/{command_id}", headers=advisor)
        assert again.status_code == 404, again.text
        assert _registry_row(database_url, command_id) == []  # voided by the first lookup
        # The client trusts the 404 and sends the command again: applied once.
        resent = answered(lambda: api.post("/work-orders", json=opening(store_id),
                                           headers=advisor), proxy)
    assert resent.status_code == 201, resent.text
    assert resent.json()["number"].endswith("-000001")
    assert orders_of(database_url, store_id) == 1
    # The void row breaks neither the chain nor the registry's check of it.
    with psycopg.connect(database_url, autocommit=True) as conn:
        checked = audit_chain.verify(conn)
    assert checked.ok, checked.broken


def test_a_save_still_committing_is_503_naming_it_not_404(
        behind: tuple[Container, TcpProxy], database_url: str, store_id: str,
        auth: Auth) -> None:
    system, proxy = behind
    advisor = auth("advisor", "adv-final", [store_id])
    command_id = str(uuid4())
    with TestClient(create_app(system.api_context())) as api, \
            psycopg.connect(database_url) as holder:
        # A save's statement executed, its transaction not yet committed: it holds the
        # append lock and its command id.
        holder.execute(f"SELECT pg_advisory_xact_lock({APPEND_LOCK})")
        holder.execute(f"INSERT INTO {COMMANDS_TABLE} (command_id, notification_ids) "
                       "VALUES (%s, '{}')", (command_id,))
        looked = answered(lambda: api.get(f"/commands/{command_id}", headers=advisor),
                          proxy)
        problem = assert_unavailable(looked)
        assert problem.get("command_id") == command_id, problem
        assert "still being committed" in problem["detail"], problem
        holder.rollback()  # it did not commit: now the lookup can tell, for good
        gone = api.get(f"/commands/{command_id}", headers=advisor)
        assert gone.status_code == 404, gone.text
    assert _registry_row(database_url, command_id) == []


def test_a_save_the_commit_check_found_not_stored_is_voided_and_sent_under_a_new_id(
        proxied: ServiceCore, proxy: FaultyProxy, container: Container, store_id: str) -> None:
    recorder = proxied.recorder
    assert isinstance(recorder, EventRecorder)
    sent: list[UUID] = []
    plain = recorder._append

    def append(conn: psycopg.Connection, params: dict,  # type: ignore[type-arg]
               **kwargs: str) -> Any:
        sent.append(params["command"])
        return plain(conn, params, **kwargs)

    recorder._append = append  # type: ignore[method-assign]
    # The network swallows the statement; the check ends its backend and finds nothing.
    _arm_then_append(proxied, proxy, "request")
    answer = open_order(WorkOrders(proxied, container.settings.store_timezone), store_id)

    # The first send's command id is void (were the statement still to arrive, it would
    # store nothing); the save went again under a new one, and that one holds its events.
    first, resent = sent
    assert first != resent
    with container.pool.connection() as conn:
        assert stored_command(conn, first) is None
        found = stored_command(conn, resent)
        void = conn.execute(f"SELECT notification_ids FROM {COMMANDS_TABLE} "
                            "WHERE command_id = %s", (first,)).fetchone()
    assert void is not None and list(void[0]) == []
    assert found is not None and answer["notification_id"] in found["notification_ids"]
