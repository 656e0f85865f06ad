"""The event store on real PostgreSQL: immutable rows, and one save() = one transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from domain.common import Audit, InvalidInput
from domain.counter import DocumentCounter
from domain.customer import Customer
from domain.idempotency import IdempotencyRecord
from domain.work_order import WorkOrder
from servicecore.container import Container
from servicecore.schema import EVENTS_TABLE
from tests.integration.support import head, load, open_order, request

REFUSALS = [
    ("UPDATE", f"UPDATE {EVENTS_TABLE} SET topic = topic WHERE notification_id = %s"),
    ("DELETE", f"DELETE FROM {EVENTS_TABLE} WHERE notification_id = %s"),
    ("TRUNCATE", f"TRUNCATE {EVENTS_TABLE}"),
]


def _row(database_url: str, notification_id: int) -> tuple[object, ...] | None:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            f"SELECT originator_id, originator_version, topic, state FROM {EVENTS_TABLE} "
            "WHERE notification_id = %s", (notification_id,)).fetchone()


@pytest.mark.parametrize(("operation", "statement"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_the_database_refuses_to_change_stored_events(container: Container,
                                                      owner_database_url: str,
                                                      store_id: str, operation: str,
                                                      statement: str) -> None:
    # Even the table's owner (who could disable the trigger: see test_least_privilege) is
    # refused while the trigger stands.
    database_url = owner_database_url
    # A work order gives the log at least one event to tamper with.
    last = open_order(container.work_orders, store_id)["notification_id"]
    before = _row(database_url, last)
    assert before is not None

    # A raw connection, bypassing the application, tries to change or remove it.
    with psycopg.connect(database_url) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
            conn.execute(statement, (last,) if "%s" in statement else None)
        conn.rollback()
    assert f"stored events are immutable: {operation} on {EVENTS_TABLE} refused" in str(
        refused.value)

    # The event is still there, byte for byte, and the log did not shrink.
    assert _row(database_url, last) == before
    assert head(container.app) >= last


def test_opening_a_work_order_stores_all_its_events_in_one_transaction(
        container: Container, store_id: str) -> None:
    app = container.app
    before = head(app)

    # The advisor opens the first work order of a new store, with an Idempotency-Key.
    answer = open_order(container.work_orders, store_id, key="open-1")
    year = int(answer["number"].split("-")[2])
    assert answer["number"] == f"WO-{store_id}-{year}-000001"
    streams = {
        UUID(answer["id"]): ["WorkOrder.Opened"],
        DocumentCounter.create_id("work-order", store_id, year): [
            "DocumentCounter.Started", "DocumentCounter.Taken"],
        IdempotencyRecord.create_id("advisor-1", "open-1"): ["IdempotencyRecord.Remembered"],
    }

    # The save's events: customer, counter (started + taken), work order, remembered answer,
    # and nothing else since the log head before the command.
    ours = app.recorder.select_notifications(start=before + 1, limit=100)
    assert sorted(n.topic.split(":")[1] for n in ours) == sorted([
        "Customer.Registered", "DocumentCounter.Started", "DocumentCounter.Taken",
        "WorkOrder.Opened", "IdempotencyRecord.Remembered"])
    for stream_id, topics in streams.items():
        assert [n.topic.split(":")[1] for n in ours if n.originator_id == stream_id] == topics

    # One transaction under the table lock: consecutive notification ids, ending at the answer's.
    ids = [n.id for n in ours]
    assert ids == list(range(ids[0], ids[0] + 5))
    assert ids[-1] == answer["notification_id"]


def test_a_failed_save_leaves_no_event_of_any_aggregate_behind(container: Container,
                                                               store_id: str) -> None:
    app = container.app
    work_order_id = UUID(open_order(container.work_orders, store_id)["id"])
    audit = Audit("adv-li", "advisor", store_id, datetime.now(UTC), "corr-failed-save")

    # Two desks load the same work order at the same version.
    first = load(app, WorkOrder, work_order_id)
    second = load(app, WorkOrder, work_order_id)
    assert first.version == second.version

    # The first desk adds a job and saves: fine.
    first.add_job(audit, "wipers smear")
    app.save(first)
    after_first = head(app)

    # The second save carries a new customer and a taken number *before* the stale work order.
    counter = load(app, DocumentCounter, DocumentCounter.create_id(
        "work-order", store_id, int(second.number.split("-")[2])))
    taken_before = counter.last
    newcomer = Customer(id=uuid4(), audit=audit, kind="person",
                        sealed={"name": None, "phone": None})
    counter.take(audit, "WO")
    second.add_job(audit, "air-con smells")
    with pytest.raises(IntegrityError):
        app.save(newcomer, counter, second)

    # Nothing of that save was stored: no customer stream, the number is not consumed.
    assert head(app) == after_first
    assert app.recorder.select_events(newcomer.id) == []
    with pytest.raises(AggregateNotFoundError):
        app.repository.get(newcomer.id)
    assert load(app, DocumentCounter, counter.id).last == taken_before
    stored = load(app, WorkOrder, work_order_id)
    assert [job["complaint"] for job in stored.jobs.values()] == [
        "brake noise at low speed", "wipers smear"]


def test_a_request_with_invalid_input_stores_nothing(container: Container, store_id: str) -> None:
    before = head(container.app)

    # A VIN with a wrong check digit is refused before anything is saved.
    with pytest.raises(InvalidInput, match="check digit"):
        container.work_orders.open(
            request(store_id), store_id=store_id, customer={"name": "王伟", "phone": "139"},
            vehicle={"vin": "LSVAU2180N2183294"}, mileage=1, complaints=["noise"])

    assert head(container.app) == before
