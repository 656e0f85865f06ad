"""A complaint case's row of `fact_grievances` is the same whether its events are folded one
batch each, a few to a batch or all in one: put at registration, each later step finds it
(preloaded from DuckDB or held by the batch) and updates it; its first closure stays when it is
reopened and closed again; the customer's sealed words are never written."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import duckdb

from analytics.events import Event
from analytics.fold import HANDLERS, IGNORED, Fold
from analytics.loader import REVISION, _preload
from analytics.tables import create

SEALED = "sealed:v1:customer-words-ciphertext"


def audit(at: str) -> dict[str, Any]:
    return {"_type_": "audit", "_data_": {
        "user_id": "adv-1", "role": "advisor", "store_id": "S01", "at": at,
        "correlation_id": "c-1", "idempotency_key": None}}


def instant(at: str) -> dict[str, str]:
    return {"_type_": "datetime_iso", "_data_": at}


def case_events(case: str, first: int) -> list[Event]:
    topic = "domain.grievance:Grievance."
    steps: list[tuple[str, str, dict[str, Any]]] = [
        ("Registered", "2025-06-10T08:00:00+00:00", {
            "store_id": "S01", "customer_id": {"_type_": "uuid_hex", "_data_": uuid.uuid4().hex},
            "kind": "complaint", "channel": "phone", "category": "price", "severity": "normal",
            "oem_case_no": None, "work_order_id": None, "work_order_number": None, "vin": None,
            "follow_up_id": None, "words": SEALED,
            "contact_due": instant("2025-06-11T08:00:00+00:00"),
            "close_due": instant("2025-06-17T08:00:00+00:00")}),
        ("Assigned", "2025-06-10T08:10:00+00:00", {"owner": "adv-2", "previous": None,
                                                    "note": None}),
        ("Contacted", "2025-06-10T09:00:00+00:00", {"note": None}),
        ("ActionTaken", "2025-06-10T09:10:00+00:00", {"action": "re-checked the bill"}),
        ("Resolved", "2025-06-10T10:00:00+00:00", {"resolution": "refund", "accepted": True}),
        ("Closed", "2025-06-10T11:00:00+00:00", {"note": None}),
        ("Reopened", "2025-06-20T08:00:00+00:00", {"reason": "came back"}),
        ("Resolved", "2025-06-20T09:00:00+00:00", {"resolution": "more", "accepted": False}),
        ("Closed", "2025-06-20T10:00:00+00:00", {"note": None}),
    ]
    return [Event(first + i, case, topic + name, {"audit": audit(at), **state})
            for i, (name, at, state) in enumerate(steps)]


def folded(events: list[Event], size: int) -> list[tuple[Any, ...]]:
    conn = duckdb.connect()
    create(conn, REVISION)
    read = [e for e in events if e.qualname in HANDLERS]  # as the loader reads them
    for start in range(0, len(read), size):
        batch = read[start:start + size]
        fold = Fold(conn)
        _preload(fold, batch)
        for event in batch:
            fold.current = event.notification_id
            HANDLERS[event.qualname](fold, event, event.notification_id)
        fold.write()
    return conn.execute("SELECT * FROM fact_grievances ORDER BY ALL").fetchall()


def test_a_case_reads_the_same_one_event_a_batch_in_batches_and_at_once() -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    first, second = case_events(a, 1), case_events(b, 100)
    events = sorted([*first, *second[:4]], key=lambda e: e.notification_id)
    assert "Grievance.ActionTaken" in IGNORED
    whole = folded(events, len(events))
    assert folded(events, 1) == whole and folded(events, 3) == whole
    rows = {r[1]: r for r in whole}
    conn = duckdb.connect()
    create(conn, REVISION)
    names = [c[0] for c in conn.execute("DESCRIBE fact_grievances").fetchall()]
    done = dict(zip(names, rows[a], strict=True))
    utc = UTC
    assert (done["status"], done["reopened"], done["accepted"]) == ("closed", 1, False)
    assert done["contacted_at"] == datetime(2025, 6, 10, 9, tzinfo=utc)
    assert done["first_closed_at"] == datetime(2025, 6, 10, 11, tzinfo=utc)
    assert done["closed_at"] == datetime(2025, 6, 20, 10, tzinfo=utc)
    assert done["close_due"] == datetime(2025, 6, 17, 8, tzinfo=utc)
    assert done["last_notification_id"] == 9
    open_case = dict(zip(names, rows[b], strict=True))
    assert (open_case["status"], open_case["first_closed_at"]) == ("in_progress", None)
    assert not any(SEALED in str(value) for row in whole for value in row)
