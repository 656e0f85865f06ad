"""Customer complaint cases (投诉建议) over HTTP: a serious complaint passed on by the OEM's
hotline goes from registration to closure and is reopened; steps out of order are 409 naming
the status, bad input 422, unknown cases 404, none of them storing anything; the lists page and
filter; a complaint past its deadlines is overdue, a suggestion never; a dissatisfied follow-up
call opens one case, once; the customer's words and the staff's notes are sealed and gone
once the customer is erased (notes stored in clear before they were sealed stay readable in
the events, the view scrubs its copy); the view rebuilt from the events equals the live one."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from domain.application import Request
from domain.common import Audit, Caller, stable_id
from domain.grievance import Grievance
from domain.grievances import Grievances, GrievanceTerms
from domain.pii import ERASED
from servicecore import cli
from servicecore.container import Container
from tests.conftest import JWT_SECRET
from tests.e2e.test_parts_api import Auth, get, head, post
from tests.integration.audit_support import Desk, at, new_vin
from tests.integration.test_parts_support import wait_for_projection
from tests.scratch_systems import served_module

served, container, client = served_module("sc_grievances", projections=True)
WORDS = "刹车又响了，上周刚修过，太失望了"
STEPS = (("assignment", {"owner": "csr-li", "note": "she prefers calls after six"}),
         ("first-contact", {"note": "apologised, re-check booked for Friday"}),
         ("actions", {"action": "brakes re-checked with her on the lift"}),
         ("resolution", {"resolution": "pads replaced free of charge", "accepted": True}),
         ("closure", {"note": "she confirmed the noise is gone"}),
         ("reopening", {"reason": "she called: the noise came back"}))
NOTE_FIELDS = {"Assigned": "note", "Contacted": "note", "ActionTaken": "action",
               "Resolved": "resolution", "Closed": "note", "Reopened": "reason"}
OLD = Audit("adv-old", "advisor", "S01", datetime.now(UTC), "corr-old")
NOTED = [(field, body[field]) for (_, body), field in zip(STEPS, NOTE_FIELDS.values(),
                                                          strict=True)]


def _refused(client: TestClient, method: str, url: str, headers: dict[str, str], body: Any,
             status: int) -> dict[str, Any]:
    before = head(client)
    answer = client.request(method, url, headers=headers, json=body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert head(client) == before  # nothing stored
    return answer.json()  # type: ignore[no-any-return]


def _customer(client: TestClient, advisor: dict[str, str], store_id: str) -> str:
    made = post(client, "/customers", advisor, {"store_id": store_id, "name": "周婷",
                                                "phones": ["13900002222"]}, 201)
    return str(made["id"])


def _complaint(**overrides: Any) -> dict[str, Any]:
    return {"kind": "complaint", "channel": "oem_hotline", "oem_case_no": "VW-CR-0042",
            "category": "repair_quality", "severity": "serious", "words": WORDS, **overrides}


def test_a_serious_complaint_from_the_oem_hotline_to_closure_and_back(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    customer = _customer(client, advisor, store_id)
    url = f"/stores/{store_id}/grievances"
    # Refused, storing nothing: the hotline without its case number, an unknown category,
    # an unknown customer, another store's token, a cashier.
    body = {**_complaint(), "customer_id": customer}
    bad = _refused(client, "POST", url, advisor, {**body, "oem_case_no": None}, 422)
    assert bad["field"] == "oem_case_no"
    _refused(client, "POST", url, advisor, {**body, "category": "food"}, 422)
    unknown = _refused(client, "POST", url, advisor, {**body, "customer_id": str(uuid4())}, 404)
    assert unknown["field"] == "customer_id"
    _refused(client, "POST", url, auth("advisor", "adv-x", ["ELSE"]), body, 403)
    _refused(client, "POST", url, auth("cashier", "cash", [store_id]), body, 403)
    # The desk registers it; a retry with the same key stores nothing twice.
    keyed = {**advisor, "Idempotency-Key": "case-" + customer}
    first = client.post(url, headers=keyed, json=body)
    assert first.status_code == 201, first.text
    again = client.post(url, headers=keyed, json=body)
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    case = first.json()
    assert (case["grievance_status"], case["kind"], case["severity"]) == (
        "registered", "complaint", "serious")
    at_case = f"/grievances/{case['id']}"
    # Nothing but an assignment before there is an owner: 409 naming the status.
    refused = _refused(client, "POST", f"{at_case}/first-contact", advisor, {}, 409)
    assert refused["grievance_status"] == "registered" and "registered" in refused["detail"]
    post(client, f"{at_case}/assignment", manager, {"owner": "csr-li", "note": "call today"})
    stale = _refused(client, "POST", f"{at_case}/first-contact",
                     {**advisor, "If-Match": f'"{case["version"]}"'}, {}, 412)
    assert stale["current"] == case["version"] + 1
    post(client, f"{at_case}/first-contact", advisor, {"note": "apologised, re-check booked"})
    post(client, f"{at_case}/actions", advisor, {"action": "brakes re-checked with her"})
    _refused(client, "POST", f"{at_case}/closure", advisor, {}, 409)
    _refused(client, "POST", f"{at_case}/resolution", advisor,
             {"resolution": "pads free", "accepted": "yes"}, 422)
    post(client, f"{at_case}/resolution", advisor,
         {"resolution": "pads replaced free of charge", "accepted": True})
    closed = post(client, f"{at_case}/closure", manager, {})
    assert closed["grievance_status"] == "closed"
    # After the close nothing but a reopen, with its reason.
    for step, step_body in (("actions", {"action": "called again"}),
                            ("assignment", {"owner": "csr-wu"}),
                            ("resolution", {"resolution": "more", "accepted": False})):
        assert _refused(client, "POST", f"{at_case}/{step}", advisor, step_body,
                        409)["grievance_status"] == "closed"
    _refused(client, "POST", f"{at_case}/reopening", advisor, {"reason": "no"}, 422)
    reopened = post(client, f"{at_case}/reopening", advisor, {"reason": "the noise came back"})
    assert reopened["grievance_status"] == "in_progress"
    # Every step with who, when and why in its history; the words opened for the desk.
    history = get(client, f"{at_case}/history", manager)["items"]
    assert [h["event"] for h in history] == [
        "Grievance.Registered", "Grievance.Assigned", "Grievance.Contacted",
        "Grievance.ActionTaken", "Grievance.Resolved", "Grievance.Closed",
        "Grievance.Reopened"]
    assert history[0]["changes"]["words"] == WORDS
    assert history[-1]["reason"] == "the noise came back"
    read = get(client, at_case, advisor, wait_for=head(client))
    assert (read["words"], read["status"], read["owner"], read["reopened"], read["actions"],
            read["oem_case_no"], read["accepted"]) == (
        WORDS, "in_progress", "csr-li", 1, 1, "VW-CR-0042", True)
    assert read["close_due"] is not None and read["contacted_at"] is not None
    get(client, at_case, auth("analyst", "an", [store_id]), status=403)
    # Unknown and other stores' cases are 404 for reads and commands.
    nowhere = f"/grievances/{uuid4()}"
    _refused(client, "GET", nowhere, advisor, None, 404)
    _refused(client, "POST", f"{nowhere}/assignment", advisor, {"owner": "x"}, 404)
    _refused(client, "GET", at_case, auth("advisor", "adv-x", ["ELSE"]), None, 404)


def test_the_list_filters_and_the_overdue_complaints(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    customer = UUID(_customer(client, advisor, store_id))
    # Three cases registered eight days ago (their deadlines past) and one today.
    service = Grievances(container.app, GrievanceTerms())
    long_ago = Request(Caller("adv-1", "advisor", (store_id,),
                              datetime.now(UTC) - timedelta(days=8), "corr-old"))
    made = {}
    for name, kind, category, severity in (
            ("late", "complaint", "price", "normal"),
            ("suggested", "suggestion", "other", "normal"),
            ("done", "complaint", "waiting_time", "serious")):
        made[name] = service.register(long_ago, store_id, customer_id=customer, kind=kind,
                                      channel="phone", category=category, severity=severity,
                                      words=f"{name}: the customer's words").body["id"]
    done = f"/grievances/{made['done']}"
    post(client, f"{done}/assignment", advisor, {"owner": "csr-li"})
    post(client, f"{done}/first-contact", advisor, {})
    post(client, f"{done}/resolution", advisor, {"resolution": "apologised", "accepted": True})
    post(client, f"{done}/closure", advisor, {})
    fresh = post(client, f"/stores/{store_id}/grievances", advisor, {
        "customer_id": str(customer), "kind": "complaint", "channel": "wechat",
        "category": "price", "words": "the bill was more than the quote"}, 201)
    wait = head(client)
    listed = get(client, "/grievances", advisor, store_id=store_id, wait_for=wait)
    assert set(listed) == {"items", "total", "limit", "offset"} and listed["total"] == 4
    assert all("words" not in item for item in listed["items"])
    priced = get(client, "/grievances", advisor, store_id=store_id, category="price")
    assert {i["id"] for i in priced["items"]} == {made["late"], fresh["id"]}
    closed = client.get("/grievances", headers=advisor,
                        params={"store_id": store_id, "status": "closed"}).json()["items"]
    assert [(i["id"], i["closed_on_time"]) for i in closed] == [(made["done"], False)]
    late = get(client, "/grievances", advisor, store_id=store_id, overdue="true")
    assert [i["id"] for i in late["items"]] == [made["late"]]
    assert get(client, "/grievances", advisor, store_id=store_id, overdue="false")["total"] == 3
    # The auditor's overdue list: the late one, late for both deadlines; not the suggestion,
    # not the closed one, not today's.
    overdue = get(client, "/audit/grievances/overdue", auditor, store_id=store_id)
    assert overdue["total"] == 1
    (item,) = overdue["items"]
    assert (item["id"], item["contact_late"], item["close_late"]) == (made["late"], True, True)
    paged = get(client, "/grievances", advisor, store_id=store_id, limit=1, offset=1)
    assert (paged["total"], paged["limit"], paged["offset"], len(paged["items"])) == (4, 1, 1, 1)
    _refused(client, "GET", "/grievances?status=lost", advisor, None, 422)
    _refused(client, "GET", "/audit/grievances/overdue?store_id=ELSE", auditor, None, 403)


def test_a_dissatisfied_follow_up_call_opens_one_case(
        client: TestClient, auth: Auth, container: Container) -> None:
    shop = Desk(container)
    day = "2025-06-02"
    wo = shop.open(new_vin(), ["squeak from the front brakes"], at(day, "09:00"))
    shop.check_in(wo, 12_000, at(day, "09:05"))
    line = shop.labor(wo, 1, "BRK-PAD", "1.0", at(day, "09:10"))
    shop.approve(wo, [line], at(day, "09:15"))
    shop.repair(wo, 1, shop.t1, at(day, "10:00"), at(day, "11:00"))
    shop.settle(wo, at(day, "11:30"))
    shop.deliver(wo, 12_010, at(day, "12:00"))
    advisor = auth("advisor", shop.adv, [shop.store])
    follow_up = get(client, "/follow-ups", advisor, work_order_id=str(wo),
                    wait_for=head(client))["items"][0]["id"]
    url = f"/follow-ups/{follow_up}/result"
    result = {"csi": 1, "comment": "unhappy", "grievance": {
        "category": "waiting_time", "severity": "serious", "words": "等了三个小时"}}
    _refused(client, "POST", url, advisor, {**result, "grievance": {"category": "x",
                                                                     "words": "long wait"}}, 422)
    done = post(client, url, advisor, result)
    assert done["grievance_id"] == str(stable_id("grievance", "follow-up", follow_up))
    case = get(client, f"/grievances/{done['grievance_id']}", advisor, wait_for=head(client))
    assert (case["channel"], case["kind"], case["work_order_id"], case["follow_up_id"],
            case["words"]) == ("follow_up", "complaint", str(wo), follow_up, "等了三个小时")
    # The call's result is taken once: a second one is 409, and opens no second case.
    _refused(client, "POST", url, advisor, result, 409)
    assert get(client, "/grievances", advisor, store_id=shop.store)["total"] == 1


def test_the_customers_words_are_sealed_and_erased_with_the_customer(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    customer = _customer(client, advisor, store_id)
    case = post(client, f"/stores/{store_id}/grievances", advisor,
                {**_complaint(), "customer_id": customer}, 201)
    at_case = f"/grievances/{case['id']}"
    for step, body in STEPS:
        post(client, f"{at_case}/{step}", advisor, body)
    # The words and every note of the staff's are sealed in the events and in the view.
    registered, *steps = container.app.events.get(UUID(case["id"]))
    assert registered.words.startswith("pii1:") and WORDS not in registered.words
    for event, (field, text) in zip(steps, NOTED, strict=True):
        sealed = getattr(event, field)
        assert sealed.startswith("pii1:") and text not in sealed, (event, field)
        assert event.customer_id == UUID(customer)
    wait_for_projection(container, "grievances")
    with container.pool.connection() as conn:
        row = conn.execute("SELECT t::text FROM grievances t WHERE grievance_id = %s",
                           (case["id"],)).fetchone()
        raw = b"".join(bytes(r[0]) for r in conn.execute(
            "SELECT state FROM servicecore_events WHERE originator_id = %s", (case["id"],)))
    assert row is not None and WORDS not in row[0] and "free of charge" not in row[0]
    assert not any(text.encode() in raw for _, text in NOTED)
    # Opened for the desk and the auditor: the case, the lists, the history, the 360.
    assert _shown(client, auditor, case["id"], customer, store_id) == _clear()
    assert _shown(client, manager, case["id"], customer, store_id) == _clear()
    post(client, f"/customers/{customer}/erasure", manager,
         {"reason": "customer request under PIPL art. 47"})
    wait = head(client)
    assert _shown(client, auditor, case["id"], customer, store_id, wait) == _clear(ERASED)
    # Every other fact of the case stands; no case is taken for an erased customer; a step
    # taken after the erasure keeps no note (no key is made again).
    assert get(client, at_case, manager)["oem_case_no"] == "VW-CR-0042"
    _refused(client, "POST", f"/stores/{store_id}/grievances", advisor,
             {**_complaint(), "customer_id": customer}, 409)
    post(client, f"{at_case}/actions", advisor, {"action": "called her after the erasure"})
    assert list(container.app.events.get(UUID(case["id"])))[-1].action == ERASED
    assert container.app.personal_data.keys.get_key(UUID(customer)) is None


def _clear(erased: str | None = None) -> dict[str, Any]:
    """What `_shown` answers while the customer's key opens her data (or once erased)."""
    notes = [erased or text for _, text in NOTED]
    return {"words": [erased or WORDS] * 3, "resolution": [notes[3]] * 4,
            "history": [erased or WORDS, *notes[:-1]], "reason": notes[-1]}


def _shown(client: TestClient, headers: dict[str, str], case: str, customer: str,
           store_id: str, wait: int | None = None) -> dict[str, Any]:
    """The customer's words and the staff's notes as the case, its store's list, the
    customer's cases, the 360 and the case's history show them."""
    one = get(client, f"/grievances/{case}", headers, wait_for=wait or head(client))
    (listed,) = get(client, "/grievances", headers, store_id=store_id)["items"]
    (hers,) = get(client, f"/customers/{customer}/grievances", headers)["items"]
    (in_360,) = get(client, f"/customers/{customer}", headers)["grievances"]
    history = get(client, f"/grievances/{case}/history", headers)["items"]
    texts = [h["changes"].get(field) for h, field in zip(
        history, ("words", *NOTE_FIELDS.values()), strict=False)]
    return {"words": [one["words"], hers["words"], in_360["words"]],
            "resolution": [x["resolution"] for x in (one, listed, hers, in_360)],
            "history": texts[:-1], "reason": history[6]["reason"]}


def test_notes_stored_in_clear_before_they_were_sealed_stay_readable(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    customer = _customer(client, advisor, store_id)
    case = post(client, f"/stores/{store_id}/grievances", advisor,
                {**_complaint(), "customer_id": customer}, 201)["id"]
    post(client, f"/grievances/{case}/assignment", advisor, {"owner": "csr-li"})
    post(client, f"/grievances/{case}/first-contact", advisor, {})
    # Two steps as they were stored before their text was sealed (v1: in clear, no customer).
    _stored_in_clear(container, case, lambda c, seal: c.act(OLD, "re-checked", seal))
    _stored_in_clear(container, case, lambda c, seal: c.resolve(OLD, "a refund", True, seal))
    wait = head(client)
    assert get(client, f"/grievances/{case}", manager, wait_for=wait)["resolution"] == "a refund"
    history = get(client, f"/grievances/{case}/history", manager)["items"]
    assert [h["changes"].get("action") or h["changes"].get("resolution")
            for h in history[3:]] == ["re-checked", "a refund"]
    assert [h["changes"]["customer_id"] for h in history[3:]] == [None, None]
    # The case goes on from them; once she is erased the view's copy is scrubbed, while the
    # events, which cannot change, keep those two notes readable.
    post(client, f"/grievances/{case}/closure", advisor, {})
    post(client, f"/customers/{customer}/erasure", manager, {"reason": "PIPL request"})
    one = get(client, f"/grievances/{case}", manager, wait_for=head(client))
    assert (one["resolution"], one["words"], one["status"]) == (ERASED, ERASED, "closed")
    history = get(client, f"/grievances/{case}/history", manager)["items"]
    assert [h["changes"].get("action") or h["changes"].get("resolution")
            for h in history[3:5]] == ["re-checked", "a refund"]


def _stored_in_clear(container: Container, case: str,
                     step: Callable[[Grievance, Callable[[str], str]], None]) -> None:
    """A step of the case stored as version 1 of its event stored it: its text in clear, no
    customer named, no class_version."""
    aggregate = container.app.repository.get(UUID(case))
    step(aggregate, lambda text: text)
    (event,) = aggregate.collect_events()
    stored = container.app.mapper.to_stored_event(event)
    state = json.loads(stored.state)
    assert state.pop("class_version") == 2 and state.pop("customer_id")
    container.app.recorder.insert_events([type(stored)(
        stored.originator_id, stored.originator_version, stored.topic,
        json.dumps(state).encode())])


def test_a_rebuild_of_the_grievances_view_equals_the_live_one(
        client: TestClient, auth: Auth, container: Container, database_url: str,
        store_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    customer = _customer(client, advisor, store_id)
    for n in range(3):
        case = post(client, f"/stores/{store_id}/grievances", advisor,
                    {**_complaint(), "customer_id": customer}, 201)
        at_case = f"/grievances/{case['id']}"
        if n:
            post(client, f"{at_case}/assignment", advisor, {"owner": "csr-li", "note": "now"})
        if n == 2:
            post(client, f"{at_case}/first-contact", advisor, {"note": "she was upset"})
            post(client, f"{at_case}/resolution", advisor,
                 {"resolution": "apologised", "accepted": False})
            post(client, f"{at_case}/closure", advisor, {})
            post(client, f"{at_case}/reopening", advisor, {"reason": "came back"})
    # Another customer's case resolved in clear (a step stored before it was sealed), and
    # her erasure, which scrubs the view's copy of it.
    erased = _customer(client, advisor, store_id)
    case = post(client, f"/stores/{store_id}/grievances", advisor,
                {**_complaint(), "customer_id": erased}, 201)["id"]
    post(client, f"/grievances/{case}/assignment", advisor, {"owner": "csr-li"})
    post(client, f"/grievances/{case}/first-contact", advisor, {})
    _stored_in_clear(container, case, lambda c, seal: c.resolve(OLD, "a refund", True, seal))
    post(client, f"/customers/{erased}/erasure", auth("manager", "m", [store_id]),
         {"reason": "PIPL request"})
    wait_for_projection(container, "grievances")

    def table() -> list[str]:
        with container.pool.connection() as conn:
            return [row[0] for row in conn.execute(
                "SELECT t::text FROM grievances t ORDER BY t::text").fetchall()]

    live = table()
    ours = [row for row in live if f",{store_id}," in row]
    assert len(ours) == 4 and sum(ERASED in row for row in ours) == 1  # the scrubbed one
    for name, value in (("DATABASE_URL", database_url), ("SERVICECORE_JWT_SECRET", JWT_SECRET),
                        ("SERVICECORE_DATA_DIR", str(tmp_path)),
                        ("SERVICECORE_PROJECTION_BATCH_SIZE", "3")):
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert cli.main(["projections", "rebuild", "--name", "grievances"]) == 0
    assert '"projection": "grievances"' in capsys.readouterr().out
    assert table() == live
    assert cli.main(["audit", "views", "--view", "grievances"]) == 0
    assert '"ok": true' in capsys.readouterr().out
