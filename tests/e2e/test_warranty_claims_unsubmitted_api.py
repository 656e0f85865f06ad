"""The warranty administrator's list of visits still to claim, over HTTP: the visits with
warranty work whose claim is not submitted yet — their warranty bill confirmed (the claim may
be sent from then on), or their repair finished while the bill is a draft or not drafted yet,
each marked so — the longest waiting first, with the VIN, the settlement, what the OEM is
billed and the days waited (since the confirmation, else since the repair was finished); a
visit whose claim was sent, that was cancelled, or with nothing for the OEM is not listed;
paged, scoped to the caller's stores."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from domain.common import Caller
from domain.session import Request
from servicecore.container import Container
from tests.e2e.test_money_api import confirmed_settlement, ready_for_settlement
from tests.e2e.test_oem_claim_outcome_api import _confirmed_warranty_visit
from tests.e2e.test_parts_api import Auth, head, on_roster, post, store_staff
from tests.integration.audit_support import new_vin

URL = "/warranty-claims/unsubmitted"


def _listed(client: TestClient, headers: dict[str, str], store_id: str,
            **query: Any) -> dict[str, Any]:
    asked = {"store_id": store_id, "wait_for": head(client), **query}  # read what was written
    answer = client.get(URL, headers=headers, params=asked)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_the_visits_still_to_claim_are_listed_oldest_first(
        client: TestClient, auth: Auth, store_id: str) -> None:
    admin = auth("advisor", "warranty-admin", [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    # Settled: the customer paid, the OEM's bill waits for the claim.
    settled, _ = _confirmed_warranty_visit(client, auth, store_id)
    # Confirmed, the customer not paid yet: the claim may be sent all the same.
    _, confirmed = ready_for_settlement(client, auth, store_id, warranty_labor=True,
                                        vin=new_vin())
    sid = post(client, "/settlements", cashier, {"work_order_id": confirmed}, 201)["id"]
    post(client, f"/settlements/{sid}/confirmation", cashier)
    # Not listed: a claim sent, a visit with nothing for the OEM.
    sent, _ = _confirmed_warranty_visit(client, auth, store_id)
    post(client, f"/work-orders/{sent}/warranty-claim/submission", admin,
         {"oem_claim_number": "VW-SENT"}, 201)
    # Listed too, marked: a warranty bill still a draft (the repair finished after the others'
    # confirmations).
    _, drafted = ready_for_settlement(client, auth, store_id, warranty_labor=True,
                                      vin=new_vin())
    post(client, "/settlements", cashier, {"work_order_id": drafted}, 201)
    confirmed_settlement(client, auth, store_id)

    found = _listed(client, admin, store_id)
    assert [row["work_order_id"] for row in found["items"]] == [settled, confirmed, drafted]
    assert found["total"] == 3
    first, second, third = found["items"]
    assert [r["settlement_status"] for r in found["items"]] == ["settled", "confirmed", None]
    assert [r["bill_status"] for r in found["items"]] == ["settled", "confirmed", "draft"]
    for row in found["items"]:
        assert (row["store_id"], row["billed"], row["age_days"]) == (store_id, "150.00", 0)
        assert row["vin"] and row["work_order_number"] and row["finished_at"]
    for row in (first, second):
        assert row["settlement_number"] and row["confirmed_at"] and row["confirmed_on"]
    assert (third["settlement_number"], third["confirmed_at"], third["confirmed_on"]) == (
        None, None, None)
    # Paged as every list; `older_than_days`: waiting at least that many days (none yet).
    assert [r["work_order_id"] for r in _listed(client, admin, store_id, limit=1,
                                                offset=1)["items"]] == [confirmed]
    assert _listed(client, admin, store_id, older_than_days=1)["total"] == 0
    # Once its claim is sent, a visit leaves the list.
    post(client, f"/work-orders/{settled}/warranty-claim/submission", admin,
         {"oem_claim_number": "VW-LATE"}, 201)
    assert [r["work_order_id"] for r in _listed(client, admin, store_id)["items"]] == [
        confirmed, drafted]


def test_only_the_callers_stores_and_the_claims_roles_see_it(
        client: TestClient, auth: Auth, store_id: str) -> None:
    _confirmed_warranty_visit(client, auth, store_id)
    assert _listed(client, auth("advisor", "adv", [store_id]), store_id)["total"] == 1
    assert _listed(client, auth("advisor", "elsewhere", [store_id + "X"]), store_id)["total"] == 0
    refused = client.get(URL, headers=auth("technician", "tech", [store_id]))
    assert refused.status_code == 403
    bad = client.get(URL, headers=auth("manager", "m", [store_id]),
                     params={"older_than_days": "-1"})
    assert (bad.status_code, bad.json()["field"]) == (422, "older_than_days")


def _finished_warranty_visit(client: TestClient, container: Container, auth: Auth,
                             store_id: str, days_ago: int = 0) -> str:
    """A visit whose one job has a warranty labor line only (0.5 h at 300.00: 150.00 for the
    OEM), worked and passing QC `days_ago` days ago: its repair finished then, the visit ready
    for settlement. Returns its id."""
    _, advisor, manager, tech = store_staff(auth, store_id)
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "李娜", "phone": "13800000003"},
        "vehicle": {"vin": new_vin(), "plate": "沪C54321", "brand": "Volkswagen"},
        "mileage": 20000, "complaints": ["engine warning light"]}, 201)
    wo = f"/work-orders/{opened['id']}"
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 20010, "fuel_level": 40})
    line = post(client, f"{wo}/jobs/1/labor-lines", advisor, {
        "op_code": "ECU-UPD", "description": "ECU update (campaign)", "hours": "0.5",
        "hourly_rate": "300.00", "pay_type": "warranty",
        "warranty": {"coverage_code": "C-22", "campaign_no": "RC2026-01"}})["line_id"]
    post(client, f"{wo}/lines/{line}/authorization", advisor,
         {"decision": "approved", "channel": "in_person"})
    on_roster(client, manager, store_id, "tech-" + store_id)
    post(client, f"{wo}/jobs/1/dispatch", manager, {"technician_id": "tech-" + store_id})
    for step in ("clock-on", "clock-off", "complete"):
        post(client, f"{wo}/jobs/1/{step}", tech)
    at = datetime.now(UTC) - timedelta(days=days_ago)
    inspector = Request(Caller("mgr-" + store_id, "manager", (store_id,), at, str(uuid4())))
    done = container.work_orders.quality_check(inspector, UUID(opened["id"]), 1, passed=True)
    assert done.body["status"] == "ready_for_settlement"
    return str(opened["id"])


def _days_ago(days: int) -> str:
    return (datetime.now(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=days)).isoformat()


def test_finished_warranty_work_waits_from_the_repairs_end_until_its_bill_is_confirmed(
        client: TestClient, container: Container, auth: Auth, store_id: str) -> None:
    admin = auth("advisor", "warranty-admin", [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    # Finished ten days ago, nothing drafted yet: the estimate of its warranty line.
    undrafted = _finished_warranty_visit(client, container, auth, store_id, days_ago=10)
    # Finished three days ago, its bills drafted and not confirmed.
    drafted = _finished_warranty_visit(client, container, auth, store_id, days_ago=3)
    sid = post(client, "/settlements", cashier, {"work_order_id": drafted}, 201)["id"]
    # Confirmed today: it waits from today, though its repair ended today as well.
    confirmed, _ = _confirmed_warranty_visit(client, auth, store_id)
    # Finished, still in the workshop's hands: nothing for the OEM.
    ready_for_settlement(client, auth, store_id, vin=new_vin())

    found = _listed(client, admin, store_id)
    assert [r["work_order_id"] for r in found["items"]] == [undrafted, drafted, confirmed]
    first, second, third = found["items"]
    assert [(r["bill_status"], r["billed"], r["age_days"]) for r in found["items"]] == [
        ("not_drafted", "150.00", 10), ("draft", "150.00", 3), ("settled", "150.00", 0)]
    assert (first["finished_on"], second["finished_on"]) == (_days_ago(10), _days_ago(3))
    assert third["finished_on"] == third["confirmed_on"] == _days_ago(0)
    for row in (first, second):
        assert row["settlement_number"] is row["confirmed_at"] is row["confirmed_on"] is None
        assert row["vin"] and row["work_order_number"] and row["store_id"] == store_id
    # `older_than_days` counts each row's own wait.
    assert [r["work_order_id"] for r in _listed(client, admin, store_id, older_than_days=3)[
        "items"]] == [undrafted, drafted]
    assert [r["work_order_id"] for r in _listed(client, admin, store_id, older_than_days=4)[
        "items"]] == [undrafted]
    # Confirmed, the draft waits from its confirmation (today): behind the one confirmed first.
    post(client, f"/settlements/{sid}/confirmation", cashier)
    found = _listed(client, admin, store_id)
    assert [r["work_order_id"] for r in found["items"]] == [undrafted, confirmed, drafted]
    last = found["items"][2]
    assert (last["bill_status"], last["age_days"], last["finished_on"]) == (
        "settled", 0, _days_ago(3))
    assert last["settlement_number"] and last["confirmed_on"] == _days_ago(0)
    # Once its claim is sent, it leaves the list; one not confirmed cannot be sent yet.
    post(client, f"/work-orders/{drafted}/warranty-claim/submission", admin,
         {"oem_claim_number": "VW-DRAFTED"}, 201)
    refused = client.post(f"/work-orders/{undrafted}/warranty-claim/submission", headers=admin,
                          json={"oem_claim_number": "VW-EARLY"})
    assert refused.status_code == 409, refused.text
    assert [r["work_order_id"] for r in _listed(client, admin, store_id)["items"]] == [
        undrafted, confirmed]


def test_a_cancelled_visit_leaves_and_a_reversed_bill_is_no_longer_shown(
        client: TestClient, container: Container, auth: Auth, store_id: str) -> None:
    admin = auth("advisor", "warranty-admin", [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    # A draft listed, then the visit cancelled: its draft bill is gone from the list.
    cancelled = _finished_warranty_visit(client, container, auth, store_id, days_ago=2)
    post(client, "/settlements", cashier, {"work_order_id": cancelled}, 201)
    assert [(r["work_order_id"], r["bill_status"]) for r in _listed(
        client, admin, store_id)["items"]] == [(cancelled, "draft")]
    post(client, f"/work-orders/{cancelled}/cancel", manager,
         {"reason": "the OEM's recall was done elsewhere"})
    assert _listed(client, admin, store_id)["total"] == 0
    # A confirmed bill reversed: the voided bill (its number, its confirmation) is not shown;
    # the warranty work is still unclaimed, waiting from the repair's end until billed anew.
    reversed_, sid = _confirmed_warranty_visit(client, auth, store_id)
    listed = _listed(client, admin, store_id)["items"]
    assert [(r["work_order_id"], r["bill_status"]) for r in listed] == [(reversed_, "settled")]
    number = listed[0]["settlement_number"]
    post(client, f"/settlements/{sid}/reversal", manager, {"reason": "warranty labor mistyped"})
    row, = _listed(client, admin, store_id)["items"]
    assert (row["work_order_id"], row["bill_status"], row["settlement_number"],
            row["confirmed_at"], row["billed"]) == (reversed_, "not_drafted", None, None,
                                                    "150.00")
    assert number and date.fromisoformat(row["finished_on"]) == date.fromisoformat(
        _days_ago(0))
