"""A customer's complaint cases (投诉建议) where the desk and the auditor look: the customer 360
lists them (the first 50, newest first, the open ones flagged, the customer's words and the
resolution opened) and `GET /customers/{id}/grievances` pages through all of them; every step
of a case about a visit is on that visit's timeline with who, when and why, its notes opened
(as in the audit log and a request's events)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient

from domain.application import Request
from domain.common import Caller
from domain.data_access import DataAccess
from domain.grievances import Grievances
from domain.pii import ERASED
from projections.customer_queries import SECTION_ITEMS
from servicecore.container import Container
from tests.e2e.test_parts_api import get, head, post
from tests.integration.audit_support import Desk, at, new_vin

Auth = Callable[..., dict[str, str]]
WORDS = ("a kids' corner in the lounge", "刹车又响了，上周刚修过", "the bill was over the quote")
RESOLUTION = "pads replaced free of charge"
STEPS = (("assignment", {"owner": "csr-li", "note": "she prefers calls after 18:00"}),
         ("first-contact", {"note": "apologised, re-check booked for Friday"}),
         ("actions", {"action": "brakes re-checked with her on the lift"}),
         ("resolution", {"resolution": RESOLUTION, "accepted": True}),
         ("closure", {"note": "she confirmed the noise is gone"}),
         ("reopening", {"reason": "she called: the noise came back"}))
NOTES = {"Grievance.Assigned": ("note", STEPS[0][1]["note"]),
         "Grievance.Contacted": ("note", STEPS[1][1]["note"]),
         "Grievance.ActionTaken": ("action", STEPS[2][1]["action"]),
         "Grievance.Resolved": ("resolution", RESOLUTION),
         "Grievance.Closed": ("note", STEPS[4][1]["note"])}


def _case(client: TestClient, advisor: dict[str, str], store_id: str, customer: str,
          words: str, **more: Any) -> str:
    made = post(client, f"/stores/{store_id}/grievances", advisor, {
        "customer_id": customer, "kind": "complaint", "channel": "phone",
        "category": "repair_quality", "words": words, **more}, 201)
    return str(made["id"])


def _through(client: TestClient, advisor: dict[str, str], case: str, steps: int) -> None:
    for step, body in STEPS[:steps]:
        post(client, f"/grievances/{case}/{step}", advisor, body)


def _reads_since(container: Container, before: int) -> list[DataAccess.PersonalDataRead]:
    app = container.app
    return [e for n in app.recorder.select_notifications(start=before + 1, limit=100)
            if isinstance(e := app.mapper.to_domain_event(n), DataAccess.PersonalDataRead)]


def test_the_360_and_the_customers_cases_show_them_newest_first_the_open_ones_flagged(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    customer = post(client, "/customers", advisor, {"store_id": store_id, "name": "周婷",
                                                    "phones": ["13900002222"]}, 201)["id"]
    # A suggestion, a complaint taken to its close, and a complaint just registered.
    suggestion = _case(client, advisor, store_id, customer, WORDS[0], kind="suggestion",
                       category="other")
    closed = _case(client, advisor, store_id, customer, WORDS[1])
    _through(client, advisor, closed, 5)
    newest = _case(client, advisor, store_id, customer, WORDS[2])

    # The 360 lists them newest first, counts them, flags the open ones; the customer's words
    # and the resolution come opened, never as the sealed tokens the view keeps.
    answer = client.get(f"/customers/{customer}", headers=advisor,
                        params={"wait_for": head(client)})
    assert answer.status_code == 200, answer.text
    whole = answer.json()
    assert whole["grievances_count"] == 3
    cases = whole["grievances"]
    assert [(c["id"], c["open"], c["status"], c["words"]) for c in cases] == [
        (newest, True, "registered", WORDS[2]), (closed, False, "closed", WORDS[1]),
        (suggestion, True, "registered", WORDS[0])]
    assert (cases[1]["resolution"], cases[1]["accepted"], cases[1]["owner"]) == (
        RESOLUTION, True, "csr-li")
    assert cases[0]["resolution"] is None and cases[0]["close_due"] is not None
    assert "pii1:" not in answer.text

    # The customer's cases, a page at a time, in the same order and shape.
    listed = get(client, f"/customers/{customer}/grievances", advisor)
    assert (listed["total"], listed["limit"], listed["offset"]) == (3, 200, 0)
    assert listed["items"] == cases
    paged = get(client, f"/customers/{customer}/grievances", advisor, limit=1, offset=1)
    assert [c["id"] for c in paged["items"]] == [closed] and paged["total"] == 3
    too_many = client.get(f"/customers/{customer}/grievances", headers=advisor,
                          params={"limit": 1001})
    assert too_many.status_code == 422
    assert [e["loc"] for e in too_many.json()["errors"]] == [["query", "limit"]]
    # The roles of the other customer lists; another store's token or no such customer: 404.
    for role in ("technician", "analyst", "parts_clerk"):
        get(client, f"/customers/{customer}/grievances", auth(role, "x", [store_id]),
            status=403)
    get(client, f"/customers/{customer}/grievances", auth("manager", "m", [store_id]))
    get(client, f"/customers/{customer}/grievances", auth("advisor", "a", ["ELSE"]),
        status=404)
    get(client, f"/customers/{uuid.uuid4()}/grievances", advisor, status=404)

    # An auditor shown the customer's words through the list is recorded reading them.
    before = head(client)
    assert get(client, f"/customers/{customer}/grievances", auditor)["items"] == cases
    (read,) = _reads_since(container, before)
    assert (str(read.customer_id), read.purpose) == (customer, "customer grievances")

    # Erased, the words and the resolution read as erased; the cases stand, and an auditor's
    # read that showed nothing of her is not recorded.
    post(client, f"/customers/{customer}/erasure", auth("manager", "m", [store_id]),
         {"reason": "customer request under PIPL art. 47"})
    before = head(client)
    gone = get(client, f"/customers/{customer}/grievances", auditor, wait_for=before)["items"]
    assert [(c["id"], c["words"]) for c in gone] == [(c["id"], ERASED) for c in cases]
    assert gone[1]["resolution"] == ERASED and gone[1]["accepted"] is True
    assert _reads_since(container, before) == []
    after = get(client, f"/customers/{customer}", advisor)["grievances"]
    assert {c["words"] for c in after} == {ERASED}


def test_the_360_lists_the_first_50_cases_and_the_list_pages_through_the_rest(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    customer = post(client, "/customers", advisor, {"store_id": store_id, "name": "强生出租",
                                                    "kind": "company",
                                                    "phones": ["13900000009"]}, 201)["id"]
    service = Grievances(container.app)
    now = datetime.now(UTC)
    made = []
    for n in range(SECTION_ITEMS + 2):  # registered an hour apart, the oldest first
        when = Request(Caller("adv-1", "advisor", (store_id,),
                              now - timedelta(hours=SECTION_ITEMS + 2 - n), f"corr-{n}"))
        made.append(service.register(when, store_id, customer_id=UUID(customer),
                                     kind="complaint", channel="phone", category="price",
                                     words=f"case {n}: the bill").body["id"])
    whole = get(client, f"/customers/{customer}", advisor, wait_for=head(client))
    assert whole["grievances_count"] == SECTION_ITEMS + 2
    assert [c["id"] for c in whole["grievances"]] == made[::-1][:SECTION_ITEMS]
    rest = get(client, f"/customers/{customer}/grievances", advisor, offset=SECTION_ITEMS)
    assert [(c["id"], c["words"]) for c in rest["items"]] == [
        (made[1], "case 1: the bill"), (made[0], "case 0: the bill")]


def test_every_step_of_a_case_about_a_visit_is_on_its_timeline(
        client: TestClient, auth: Auth, container: Container) -> None:
    shop = Desk(container)
    wo = shop.open(new_vin(), ["squeak from the front brakes"], at("2025-06-02", "09:00"))
    customer = str(container.app.repository.get(wo).customer_id)
    advisor = auth("advisor", shop.adv, [shop.store])
    # A case about the visit, taken through every step; another of hers about nothing in
    # particular stays off the visit's timeline.
    case = _case(client, advisor, shop.store, customer, WORDS[1], work_order_id=str(wo))
    _through(client, advisor, case, len(STEPS))
    elsewhere = _case(client, advisor, shop.store, customer, WORDS[2])

    for role in ("auditor", "manager"):
        before = head(client)
        answer = get(client, f"/audit/work-orders/{wo}/timeline",
                     auth(role, f"{role}-1", [shop.store]), wait_for=before)
        steps = [e for e in answer["items"] if e["stream_type"] == "Grievance"]
        assert [(e["event"], e["version"]) for e in steps] == [
            (f"Grievance.{name}", n) for n, name in enumerate(
                ("Registered", "Assigned", "Contacted", "ActionTaken", "Resolved", "Closed",
                 "Reopened"), start=1)]
        assert {e["stream_id"] for e in steps} == {case}
        assert {"stream_type": "Grievance", "stream_id": case, "events": 7} in answer["streams"]
        assert elsewhere not in {s["stream_id"] for s in answer["streams"]}
        # In log order with the work order's events, each with who, when and why; the
        # customer's words and the staff's notes opened.
        ids = [e["notification_id"] for e in answer["items"]]
        assert ids == sorted(ids) and answer["items"][0]["event"] == "WorkOrder.Opened"
        assert all(e["actor"]["user_id"] == shop.adv and e["actor"]["role"] == "advisor"
                   and e["at"] is not None and e["correlation_id"] for e in steps)
        assert steps[0]["changes"]["words"] == WORDS[1]
        for entry in steps[1:-1]:
            field, text = NOTES[entry["event"]]
            assert entry["changes"][field] == text, entry
        assert steps[-1]["reason"] == STEPS[5][1]["reason"]
        assert "pii1:" not in str(steps)
        if role == "auditor":  # her data shown: the read is recorded
            assert {r.purpose for r in _reads_since(container, before)} == {
                "work-order timeline"}

    # The audit log and the events of a request open the notes as the timeline does.
    auditor = auth("auditor", "aud-1", [shop.store])
    (acted,) = get(client, "/audit/log", auditor, event_type="Grievance.ActionTaken",
                   store_id=shop.store)["items"]
    assert acted["changes"]["action"] == STEPS[2][1]["action"]
    (reopened,) = get(client, "/audit/events", auditor,
                      correlation_id=steps[-1]["correlation_id"])["items"]
    assert reopened["reason"] == STEPS[5][1]["reason"]

    # The visit's number finds the case beside the work order, with its history's link.
    found = get(client, "/audit/lookup", auth("auditor", "aud-1", [shop.store]),
                number=container.app.repository.get(wo).number)
    (stream,) = [s for s in found["streams"] if s["stream_type"] == "Grievance"]
    assert (stream["stream_id"], stream["history"]) == (case, f"/grievances/{case}/history")
