"""Erasure on request (PIPL art. 47) leaves no trace of the person: once a store's customers are
erased, none of their names, phones (the current ones and those changed since), WeChat ids,
complaint words or the staff's notes about them is left in clear in any row of any table of the database — read models, audit indexes, the
remembered answers of Idempotency-Keys, the events themselves (a `bytea` column is searched for
the text's UTF-8 bytes) —, in any table of the analytic file, or in any log line written
meanwhile (that the chain still verifies after an erasure: test_event_log_integrity.py).

The store's history is the demo's (visits settled, delivered and followed up, every view fed),
with a customer registered, changed and served over HTTP with Idempotency-Keys besides. The
module has a database of its own: the search reads every row.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from fastapi.testclient import TestClient

from analytics.loader import AnalyticsLoader
from domain.customer import Customer
from domain.pii import ERASED
from servicecore.container import Container
from servicecore.demo import load_demo
from servicecore.demo_catalog import USED_CAR_DESK
from tests.integration.support import VEHICLE, Auth, post, request
from tests.integration.test_money_support import wait_for_projection
from tests.scratch_systems import served_module

served, container, client = served_module("sc_erasure_trace", projections=True)

STORE = "ET01"
NOW = datetime(2025, 6, 11, 4, 0, tzinfo=UTC)
OLD_PHONE, NEW_PHONE = "13761529384", "15821937465"


def _customers(system: Container) -> dict[UUID, set[str]]:
    """The store's customers, each with every name, phone and WeChat id ever sealed for them,
    opened while their keys still exist."""
    found: dict[UUID, set[str]] = {}
    open_pii = system.app.personal_data.open
    for notification in system.app.recorder.select_notifications(start=1, limit=1_000_000):
        event = system.app.mapper.to_domain_event(notification)
        if not isinstance(event, Customer.Registered | Customer.DetailsChanged) \
                or event.audit.store_id != STORE:
            continue
        sealed = event.sealed
        tokens = [sealed.get("name"), sealed.get("wechat_id"), sealed.get("phone"),
                  *(sealed.get("phones") or [])]
        texts = {open_pii(event.originator_id, t) for t in tokens if t}
        found.setdefault(event.originator_id, set()).update(
            t for t in texts if t and t != ERASED)
    return found


def _tables(conn: Any) -> list[str]:
    """Every table of every schema but the system's: the owner's (events, keys) and the
    application role's own (the read models)."""
    return [f'"{r[0]}"."{r[1]}"' for r in conn.execute(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = "
        "'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') "
        "ORDER BY 1, 2").fetchall()]


def _database_holding(owner_url: str, text: str) -> list[str]:
    """The tables with a row whose text, or a `bytea` column's bytes, hold `text`."""
    as_hex = text.encode().hex()
    with psycopg.connect(owner_url) as conn:
        return [t for t in _tables(conn) if conn.execute(
            f"SELECT EXISTS (SELECT 1 FROM {t} AS r WHERE strpos(r::text, %s) > 0 "
            f"OR strpos(lower(r::text), %s) > 0)", (text, as_hex)).fetchone() == (True,)]


def _analytics_holding(conn: Any, text: str) -> list[str]:
    tables = [r[0] for r in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
    ).fetchall()]
    return [t for t in tables if conn.execute(
        f'SELECT count(*) FROM "{t}" AS r WHERE strpos(CAST(r AS VARCHAR), ?) > 0',
        [text]).fetchone() != (0,)]


WORDS = "司马女士说仪表台异响三次未修好"  # what she said, and what the desk noted of her
NOTES = ("she prefers calls after six at 15821937465", "dashboard clips refitted with her")


def _served_over_http(client: TestClient, auth: Auth) -> None:
    """A customer registered with a WeChat id, their phone changed, a visit opened for them,
    a complaint in her words, assigned and resolved with notes about her, each with an
    Idempotency-Key (whose answer is remembered); then she is looked up by her phone."""
    advisor = auth("advisor", "adv-et", [STORE])
    customer = post(client, "/customers", {**advisor, "Idempotency-Key": "et-register"}, {
        "store_id": STORE, "kind": "person", "name": "司马晓岚", "phones": [OLD_PHONE],
        "wechat_id": "smxl_wx88", "consents": ["phone"]}, status=201)
    post(client, f"/customers/{customer['id']}/details",
         {**advisor, "Idempotency-Key": "et-details"},
         {"phones": [NEW_PHONE], "reason": "customer gave a new mobile number at the desk"})
    post(client, "/work-orders", {**advisor, "Idempotency-Key": "et-open"}, {
        "store_id": STORE, "customer_id": customer["id"],
        "vehicle": {**VEHICLE, "vin": "LSVAU2183N2183301", "plate": "沪B77881"},
        "mileage": 31_000, "complaints": ["rattle from the dashboard"]}, status=201)
    case = post(client, f"/stores/{STORE}/grievances", {**advisor, "Idempotency-Key": "et-case"},
                {"customer_id": customer["id"], "kind": "complaint", "channel": "phone",
                 "category": "repair_quality", "severity": "normal", "words": WORDS},
                status=201)
    for step, body in (("assignment", {"owner": "csr-li", "note": NOTES[0]}),
                       ("first-contact", {}), ("resolution", {"resolution": NOTES[1],
                                                              "accepted": True})):
        post(client, f"/grievances/{case['id']}/{step}",
             {**advisor, "Idempotency-Key": f"et-{step}"}, body)
    # The desk and an auditor look her up by phone (access log, the auditor's read recorded).
    auditor = auth("auditor", "aud-et", [STORE])
    for path, params in (("/customers", {"q": NEW_PHONE}),
                         ("/work-orders", {"customer_phone": NEW_PHONE})):
        for headers in (advisor, auditor):
            assert client.get(path, params=params, headers=headers).status_code == 200


def test_an_erased_customer_is_found_in_no_table_no_analytic_file_and_no_log_line(
        served: Any, container: Container, client: TestClient, auth: Auth,
        caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    caplog.set_level(logging.INFO)
    assert load_demo(container.work_orders, container.inventory, visits=24, stores=(STORE,),
                     settlements=container.settlements, aftercare=container.aftercare,
                     now=NOW) == 24
    _served_over_http(client, auth)
    people = _customers(container)
    # the internal visit's payer is the dealership's own department, named as such on its
    # internal bill too: no person's data
    texts = {t for found in people.values() for t in found} - {USED_CAR_DESK} | {WORDS, *NOTES}
    assert len(people) > 5 and {OLD_PHONE, NEW_PHONE, "司马晓岚", "smxl_wx88"} <= texts
    # before the erasure the read models hold them in clear (the search finds what it seeks);
    # the analytic file has loaded the log as it then stood
    wait_for_projection(container)
    assert _database_holding(served.owner_url, NEW_PHONE)
    loader = AnalyticsLoader(container.app, tmp_path / "analytics.duckdb")
    try:
        loader.catch_up()
        for customer_id in people:
            container.customers.erase(request(STORE, "manager"), customer_id,
                                      reason="customer asked (PIPL art. 47)")
        wait_for_projection(container)
        loader.catch_up()
        left = {text: where for text in sorted(texts)
                if (where := _database_holding(served.owner_url, text)
                    + [f"analytics.{t}" for t in _analytics_holding(loader.conn, text)])}
    finally:
        loader.close()
    assert left == {}
    # the system's log lines (httpx's are the test client's own, not the server's)
    logged = [r.getMessage() for r in caplog.records if r.name != "httpx"]
    pattern = re.compile("|".join(re.escape(t) for t in texts))
    assert [line for line in logged if pattern.search(line)] == []
