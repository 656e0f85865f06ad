"""A command retried with its Idempotency-Key after its answer was lost, once the world moved on:
answered what was stored, before anything the route or its service checks first (api/replays.py).

Each of these routes checked something before its command looked up the key: the clock (a
shift's day, planned as far back as planning reaches), nothing of the world but with a write
of its own (a new customer's personal-data key, made for a customer the retry would never
store), or a read model (the finance view that names a refund's visit). The save reaches the
server and commits; its answer is cut off by the proxy; the client retries with the same key,
on the same API process and on another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, tzinfo
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from domain.technician import PAST_DAYS, Technician
from servicecore.container import Container
from tests.e2e.test_parts_api import on_roster
from tests.integration.faults import FaultyProxy
from tests.integration.support import CUSTOMER, VEHICLE
from tests.integration.test_lost_acknowledgements import (  # noqa: F401  (fixtures)
    assert_replayed,
    behind,
    lost_and_retried,
    proxy,
)
from tests.integration.test_lost_acknowledgements_families import count
from tests.integration.test_lost_acknowledgements_side_writes import lost_then_retried_later
from tests.integration.test_lost_acknowledgements_warranty_stock import (
    red_letter_credit_approved,
)

Auth = Callable[..., dict[str, str]]
ZONE = ZoneInfo("Asia/Shanghai")


class TwoDaysLater(datetime):
    """The API's clock two days on."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> TwoDaysLater:
        return super().now(tz) + timedelta(days=2)


def test_shifts_planned_as_far_back_as_planning_reaches_are_replayed_two_days_later(
        behind: Container, proxy: FaultyProxy,  # noqa: F811
        client: TestClient, database_url: str, store_id: str, auth: Auth,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A shift on the day PAST_DAYS back, planned, its answer lost, retried two days later:
    the day is now further back than planning reaches, and was refused 422 (checked before the
    command looked up its key), so the manager was told the roster was not changed."""
    user = f"tech-{store_id}"
    on_roster(client, auth("manager", f"mgr-{store_id}", [store_id]), store_id, user)
    day = datetime.now(ZONE).date() - timedelta(days=PAST_DAYS)
    headers = auth("manager", f"mgr-{store_id}", [store_id], **{"Idempotency-Key": str(uuid4())})
    body = {"shifts": [{"day": day.isoformat(), "start": "08:30", "end": "17:30"}]}

    def days_pass(first: httpx.Response) -> None:
        assert first.status_code == 200, first.text
        monkeypatch.setattr("api.deps.datetime", TwoDaysLater)

    first, again, elsewhere = lost_then_retried_later(
        behind, proxy, client, f"/technicians/{user}/shifts", body, headers, days_pass)
    assert_replayed(first, again, elsewhere)
    assert first.json()["days"] == [day.isoformat()]
    assert count(database_url, "Technician.ShiftsPlanned", str(Technician.create_id(user))) == 1


def keys(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM customer_keys").fetchone()
    assert row is not None
    return int(row[0])


def new_customers_visit(store_id: str) -> tuple[str, str, dict[str, Any], str]:
    return ("advisor", "/work-orders", {
        "store_id": store_id, "customer": CUSTOMER, "vehicle": VEHICLE, "mileage": 42_000,
        "complaints": ["brake noise at low speed"]}, "customer_id")


def new_customer(store_id: str) -> tuple[str, str, dict[str, Any], str]:
    return ("advisor", "/customers", {"store_id": store_id, "name": "周婷",
                                      "phones": ["13900002222"]}, "id")


@pytest.mark.parametrize("setup", [new_customers_visit, new_customer])
def test_a_retried_registration_makes_no_key_for_a_customer_that_never_is(
        setup: Callable[[str], tuple[str, str, dict[str, Any], str]],
        behind: Container, proxy: FaultyProxy,  # noqa: F811
        client: TestClient, database_url: str, store_id: str, auth: Auth) -> None:
    """A visit of a new customer, or a customer registered: the customer's personal data is
    sealed with a key of their own before the command saves them. A retry sealed it again,
    under a key made for another new customer, who was never stored (the command answered
    what it had stored): a key per retry, for no one, kept for good."""
    role, path, body, customer = setup(store_id)
    headers = auth(role, f"{role}-{store_id}", [store_id], **{"Idempotency-Key": str(uuid4())})
    before = keys(database_url)
    first, again, elsewhere = lost_and_retried(behind, proxy, client, path, body, headers)
    assert_replayed(first, again, elsewhere)
    assert again.headers["Location"] == elsewhere.headers["Location"] == \
        first.headers["Location"]
    assert keys(database_url) == before + 1  # the stored customer's, no other
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT 1 FROM customer_keys WHERE customer_id = %s",
                            (first.json()[customer],)).fetchone()


@contextmanager
def locked(database_url: str, table: str) -> Iterator[Callable[[], None]]:
    """`lock()` holds `table` as a migration or a view's swap does (nothing else reads it)
    until the block ends."""
    with psycopg.connect(database_url) as conn:
        def lock() -> None:
            conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")

        try:
            yield lock
        finally:
            conn.rollback()


def test_a_refund_decision_retried_while_the_finance_view_is_locked_is_replayed(
        behind: Container, proxy: FaultyProxy,  # noqa: F811
        container: Container, client: TestClient, database_url: str, store_id: str,
        auth: Auth) -> None:
    """A manager's approval of a refund, its answer lost, retried while the finance view's
    refunds are held by another session (a new version adding its columns): the route asked
    the view which visit the refund is on before the command looked up its key, waited for it
    until the request's deadline and answered 503 (told it may not be done: and the money had
    left). The replay needs nothing but the event store."""
    role, path, body, effect = red_letter_credit_approved(container, store_id)
    topic, refund_id = effect.split("|")
    headers = auth(role, f"{role}-{store_id}", [store_id], **{"Idempotency-Key": str(uuid4())})
    with locked(database_url, "refunds") as lock:
        def view_held(first: httpx.Response) -> None:
            assert first.status_code == 200, first.text
            lock()

        first, again, elsewhere = lost_then_retried_later(
            behind, proxy, client, path, body, headers, view_held)
    assert_replayed(first, again, elsewhere)
    assert first.json()["refund_status"] == "approved"
    assert count(database_url, topic, refund_id) == 1
