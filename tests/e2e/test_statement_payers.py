"""A bank statement names who paid (the counterparty: often a private person): the payer is
personal data. It is shown to the roles that may read customers' personal data and to those who
reconcile (finance matches a transfer by hand by whose money it was); a role that may not read
it gets null in the same shape; every read of it by an auditor — the statement, the audit log,
a request's events, the stored event — is recorded as a `PersonalDataRead` naming the
statement and the lines whose payer was shown, before the answer leaves."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.auth import PERMISSIONS
from domain.common import CUSTOMER_ROLE, ROLES
from domain.data_access import DataAccess
from projections import audit
from servicecore.container import Container
from tests.e2e.test_parts_api import get, head
from tests.integration.support import Auth, request

PAYER = "赵敏"
# who may read customers' personal data, and who reconciles statements
SEE_PAYERS = PERMISSIONS["customers.read"] | PERMISSIONS["reconciliation.manage"]


def _import(client: TestClient, auth: Auth, container: Container,
            store_id: str) -> dict[str, Any]:
    """Finance imports the bank's statement: 赵敏's transfer, and the bank's own fee line; the
    answer, and where its import event is stored (`stored`)."""
    correlation_id = "import-" + uuid.uuid4().hex
    answer = client.post("/reconciliation/statements", json={
        "store_id": store_id, "source": "bank", "account": "工行 1001",
        "csv": "date,amount,reference,counterparty\n"
               f"2026-05-01,1010.00,R{uuid.uuid4().hex[:8]},{PAYER}\n2026-05-01,-2.00,F1,\n"},
        headers={**auth("finance", "fin-1", [store_id]), "X-Correlation-ID": correlation_id})
    assert answer.status_code == 201, answer.text
    accepted = answer.json()
    (stored,) = [n for n, event in audit.events_at(container.app, range(
        accepted["notification_id"] - 3, accepted["notification_id"] + 1))
        if event.originator_id == uuid.UUID(accepted["id"])]
    return {**accepted, "correlation_id": correlation_id, "stored": stored}


def _reads_after(container: Container, after: int) -> list[DataAccess.PersonalDataRead]:
    last = container.app.recorder.max_notification_id() or 0
    return [event for _, event in audit.events_at(container.app, range(after + 1, last + 1))
            if isinstance(event, DataAccess.PersonalDataRead)]


def _payers(doc: dict[str, Any]) -> list[Any]:
    return [ln["counterparty"] for ln in doc["matched"] + doc["unmatched_lines"]]


def test_an_auditors_read_of_a_statement_is_recorded_naming_it_and_its_payer_lines(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    imported = _import(client, auth, container, store_id)
    statement_id = imported["id"]
    before = container.app.recorder.max_notification_id() or 0
    answer = client.get(f"/reconciliation/statements/{statement_id}",
                        params={"wait_for": imported["notification_id"]},
                        headers=auth("auditor", "aud-li", [store_id]))
    assert answer.status_code == 200, answer.text
    assert _payers(answer.json()) == [PAYER, ""]
    (read,) = _reads_after(container, before)
    assert (read.statement_id, read.statement_lines, read.customer_id) == (
        uuid.UUID(statement_id), [1], None)  # line 2 (the bank's fee) names no payer
    assert read.purpose == "bank statement"
    assert (read.audit.user_id, read.audit.role, read.audit.store_id) == (
        "aud-li", "auditor", store_id)
    assert read.audit.correlation_id == answer.headers["X-Correlation-ID"]
    assert read.endpoint.startswith(f"GET /reconciliation/statements/{statement_id}")


def test_who_is_shown_a_statements_payers(client: TestClient, auth: Auth,
                                          container: Container, store_id: str) -> None:
    """Those who may read customers' personal data, and finance, who reconciles; only the
    auditor's read is recorded; a role that may not read statements is refused."""
    imported = _import(client, auth, container, store_id)
    url = f"/reconciliation/statements/{imported['id']}"
    wait = {"wait_for": imported["notification_id"]}
    for role in sorted(set(ROLES) - {CUSTOMER_ROLE}):
        before = container.app.recorder.max_notification_id() or 0
        answer = client.get(url, params=wait, headers=auth(role, f"{role}-1", [store_id]))
        if role not in PERMISSIONS["finance.read"]:
            assert answer.status_code == 403, role
            continue
        assert role in SEE_PAYERS, role  # no role reads statements without the right
        assert _payers(answer.json()) == [PAYER, ""], role
        assert len(_reads_after(container, before)) == (role == "auditor"), role


def test_a_role_that_may_read_statements_but_not_personal_data_sees_null(
        client: TestClient, auth: Auth, container: Container, store_id: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The rule, not the table of today: were the analyst allowed to read statements, the
    payer would be null in the same shape, and nothing recorded."""
    imported = _import(client, auth, container, store_id)
    monkeypatch.setitem(PERMISSIONS, "finance.read", PERMISSIONS["finance.read"] | {"analyst"})
    before = container.app.recorder.max_notification_id() or 0
    answer = client.get(f"/reconciliation/statements/{imported['id']}",
                        params={"wait_for": imported["notification_id"]},
                        headers=auth("analyst", "ana-1", [store_id]))
    assert answer.status_code == 200, answer.text
    assert PAYER not in answer.text
    doc = answer.json()
    assert _payers(doc) == [None, None]
    assert [ln["amount"] for ln in doc["unmatched_lines"]] == ["1010.00", "-2.00"]
    assert _reads_after(container, before) == []


def _audit_read(client: TestClient, headers: dict[str, str], imported: dict[str, Any],
                store_id: str, purpose: str) -> str:
    """The import as one audit route shows it (by the purpose its read is recorded with)."""
    wait = head(client)
    path, query = {
        "events of a request": ("/audit/events", {
            "correlation_id": imported["correlation_id"], "wait_for": wait}),
        "audit log": ("/audit/log", {"event_type": "Statement.Imported", "store_id": store_id,
                                     "wait_for": wait}),
        "stored event": (f"/audit/chain/events/{imported['stored']}", {}),
        "chain export": ("/audit/chain/export", {"from": imported["stored"],
                                                 "to": imported["stored"]})}[purpose]
    answer = client.get(path, headers=headers, params=query)
    assert answer.status_code == 200, (purpose, answer.text)
    if purpose == "stored event":  # the bytes as stored, base64
        return base64.b64decode(answer.json()["state"]).decode()
    if purpose == "chain export":  # JSON lines, the event's bytes in base64
        (event,) = [json.loads(line) for line in answer.text.splitlines()
                    if json.loads(line)["kind"] == "event"]
        return base64.b64decode(event["state"]).decode()
    return answer.text


AUDIT_READS = ("events of a request", "audit log", "stored event", "chain export")


def test_the_audit_routes_record_an_auditors_sight_of_a_statements_payers(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    imported = _import(client, auth, container, store_id)
    auditor, manager = auth("auditor", "aud-wang", [store_id]), auth("manager", "m", [store_id])
    for purpose in AUDIT_READS:
        before = container.app.recorder.max_notification_id() or 0
        assert PAYER in _audit_read(client, auditor, imported, store_id, purpose), purpose
        reads = _reads_after(container, before)
        assert [(r.purpose, r.statement_id, r.statement_lines, r.customer_id) for r in reads] == [
            (purpose, uuid.UUID(imported["id"]), [1], None)], purpose
        # a manager may read personal data: shown, not recorded
        before = container.app.recorder.max_notification_id() or 0
        assert PAYER in _audit_read(client, manager, imported, store_id, purpose), purpose
        assert _reads_after(container, before) == [], purpose


def test_the_audit_log_does_not_show_a_payer_to_a_role_that_may_not_read_it(
        client: TestClient, auth: Auth, container: Container, store_id: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    imported = _import(client, auth, container, store_id)
    monkeypatch.setitem(PERMISSIONS, "audit.trail", PERMISSIONS["audit.trail"] | {"analyst"})
    headers = auth("analyst", "ana-2", [store_id])
    before = container.app.recorder.max_notification_id() or 0
    for path, query in (("/audit/log", {"event_type": "Statement.Imported",
                                        "store_id": store_id}),
                        ("/audit/events", {"correlation_id": imported["correlation_id"]})):
        page = get(client, path, headers, wait_for=head(client), **query)
        (entry,) = [e for e in page["items"] if e["event"] == "Statement.Imported"]
        assert [ln["counterparty"] for ln in entry["changes"]["lines"]] == [None, None], path
        assert [ln["amount"] for ln in entry["changes"]["lines"]] == ["1010.00", "-2.00"]
    assert _reads_after(container, before) == []


def test_a_read_recorded_before_statements_reads_as_a_customers(container: Container,
                                                                 store_id: str) -> None:
    """Version 2 of the event named a customer only: it reads with no statement."""
    customer_id = uuid.uuid4()
    caller = request(store_id, "auditor", "aud-li").caller
    read = DataAccess(audit=caller.audit(store_id), customer_id=customer_id,
                      endpoint="GET /customers/x", purpose="customer 360")
    stored = container.app.mapper.to_stored_event(read.collect_events()[0])
    state = json.loads(stored.state)
    assert state["class_version"] == 3
    del state["statement_id"], state["statement_lines"]
    state["class_version"] = 2
    event = container.app.mapper.to_domain_event(stored.__class__(
        stored.originator_id, stored.originator_version, stored.topic,
        json.dumps(state).encode()))
    assert isinstance(event, DataAccess.PersonalDataRead)
    assert (event.customer_id, event.statement_id, event.statement_lines) == (
        customer_id, None, [])
