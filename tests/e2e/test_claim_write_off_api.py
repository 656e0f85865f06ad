"""What the OEM will never pay, written off over HTTP on PostgreSQL: a claim rejected for good
leaves the OEM receivable at 0 and a claim loss booked (bank untouched), the claim ends
`written_off` on the desk's list, and the decision is in the settlement's and the claim's
history with who and why; a short-paid claim's shortfall is written off and a paid claim the
OEM took back is owed back to it. Every refusal (not submitted, wrong status, too much, no
reason, not a manager) is problem+json and stores nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from servicecore.container import Container
from tests.e2e.test_insurance_bill_api import PICC, body_shop_visit
from tests.e2e.test_oem_claim_outcome_api import _confirmed_warranty_visit, _refused
from tests.e2e.test_parts_api import Auth, get, head, post
from tests.integration.audit_support import new_vin
from tests.scratch_systems import served_module
from workers.view_verify import verify_view

served, container, client = served_module("sc_claim_write_off", projections=True)


def _balances(client: TestClient, finance: dict[str, str], store_id: str) -> dict[str, Any]:
    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    trial = get(client, "/ledger/trial-balance", finance, month=month, wait_for=head(client))
    assert trial["balanced"] is True
    return {a["account"]: a["balance"] for a in trial["accounts"] if a["store_id"] == store_id}


def _claim_row(client: TestClient, auditor: dict[str, str], wo_id: str) -> dict[str, Any]:
    rows = get(client, "/warranty-claims", auditor, wait_for=head(client))["items"]
    [row] = [r for r in rows if r["work_order_id"] == wo_id]
    return row  # type: ignore[no-any-return]


def test_a_claim_rejected_for_good_is_written_off_as_a_loss_and_refusals_store_nothing(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("advisor", "warranty-clerk", [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    finance = auth("finance", "fin-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    wo_id, sid = _confirmed_warranty_visit(client, auth, store_id)
    url = f"/settlements/{sid}/write-off"
    body = {"kind": "oem_rejected", "reason": "final rejection, appeal window closed"}
    # Nothing to write off before the claim is submitted, nor while it waits at the OEM.
    assert _refused(client, url, manager, body, 409)["claim_status"] == "not_submitted"
    claim_url = f"/work-orders/{wo_id}/warranty-claim"
    post(client, f"{claim_url}/submission", clerk, {"oem_claim_number": "VW-2026-009001"}, 201)
    assert _refused(client, url, manager, body, 409)["claim_status"] == "submitted"
    post(client, f"{claim_url}/rejection", clerk,
         {"reason_code": "R-40", "reason": "repair record missing"})
    # A rejected claim is not short-paid nor charged back; only a manager writes off, with a
    # reason, never more than is outstanding.
    for kind in ("oem_short_paid", "oem_charged_back"):
        assert _refused(client, url, manager, {**body, "kind": kind},
                        409)["claim_status"] == "rejected"
    assert client.post(url, headers=cashier, json=body).status_code == 403
    assert _refused(client, url, manager, {"kind": "oem_rejected", "reason": " "},
                    422)["field"] == "reason"
    too_much = _refused(client, url, manager, {**body, "amount": "150.01"}, 409)
    assert too_much["limit"] == "150.00"
    assert _refused(client, url, manager, {**body, "amount": "0"}, 422)["field"] == "amount"
    assert _refused(client, url, manager, {**body, "kind": "lost"}, 422)
    before = _balances(client, finance, store_id)
    assert before["1123"] == "150.00"
    # Written off: all that is outstanding, idempotently.
    keyed = {**manager, "Idempotency-Key": f"write-off-{wo_id}"}
    done = post(client, url, keyed, body)
    mark = head(client)
    again = client.post(url, headers=keyed, json=body)
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert head(client) == mark
    assert done["written_off"].pop("write_off_id").startswith("WRITEOFF-")
    assert done["written_off"] == {"bill": "warranty", "kind": "oem_rejected",
                                   "amount": "150.00", "reference": "VW-2026-009001",
                                   "reason": "final rejection, appeal window closed"}
    assert done["claim_status"] == "written_off"
    assert done["bills"]["warranty"]["outstanding"] == "0.00"
    # The books: the receivable cleared into the claim loss; bank untouched.
    after = _balances(client, finance, store_id)
    assert after["1123"] == "0.00" and after["6601"] == "150.00"
    assert after.get("1002") == before.get("1002")
    settlement = get(client, f"/settlements/{sid}", finance, wait_for=mark)
    [warranty] = [b for b in settlement["bill_status"] if b["kind"] == "warranty"]
    assert (warranty["written_off"], warranty["outstanding"]) == ("150.00", "0.00")
    owed = get(client, "/receivables", finance, kind="warranty", wait_for=mark)
    assert not [b for g in owed["items"] for b in g["open_bills"]
                if b["settlement_id"] == sid]
    # The claim is done with: written off on the desk, not resubmitted, not written off twice;
    # the settlement is not reversed under it.
    row = _claim_row(client, auditor, wo_id)
    assert (row["status"], row["written_off"], row["write_off_kind"]) == (
        "written_off", "150.00", "oem_rejected")
    for status, listed in (("written_off", True), ("rejected", False)):
        found = client.get("/warranty-claims", headers=auditor, params={"status": status})
        assert found.status_code == 200, found.text
        assert (wo_id in [r["work_order_id"] for r in found.json()["items"]]) is listed
    assert _refused(client, f"{claim_url}/resubmission", clerk, {"changes": "record found"},
                    409)["claim_status"] == "written_off"
    assert _refused(client, url, manager, body, 409)["claim_status"] == "written_off"
    assert "written off" in _refused(client, f"/settlements/{sid}/reversal", manager,
                                     {"reason": "wrong bill"}, 409)["detail"]
    # Who, when, why: in the settlement's history and the claim's.
    history = get(client, f"/settlements/{sid}/history", finance)["items"]
    [event] = [h for h in history if h["event"] == "Settlement.ReceivableWrittenOff"]
    assert event["actor"]["user_id"] == "mgr-" + store_id and event["actor"]["role"] == "manager"
    assert "final rejection, appeal window closed" in str(event)
    logged = get(client, "/audit/log", auditor, store_id=store_id,
                 event_type="Settlement.ReceivableWrittenOff,OemClaim.WrittenOff")["items"]
    assert sorted((e["event"], e["actor"]["user_id"], e["reason"]) for e in logged) == [
        (name, "mgr-" + store_id, "final rejection, appeal window closed")
        for name in ("OemClaim.WrittenOff", "Settlement.ReceivableWrittenOff")]
    steps = get(client, claim_url, auditor)["oem_claim"]["history"]
    assert steps[-1]["step"] == "written_off" and steps[-1]["by"] == "mgr-" + store_id
    assert steps[-1]["reason"] == "final rejection, appeal window closed"


def test_a_short_paid_claim_and_a_charge_back_leave_the_bank_untouched(
        client: TestClient, container: Container, auth: Auth, store_id: str) -> None:
    clerk = auth("advisor", "warranty-clerk", [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    finance = auth("finance", "fin-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    wo_id, sid = _confirmed_warranty_visit(client, auth, store_id)
    claim_url = f"/work-orders/{wo_id}/warranty-claim"
    url = f"/settlements/{sid}/write-off"
    post(client, f"{claim_url}/submission", clerk, {"oem_claim_number": "VW-2026-009002"}, 201)
    post(client, f"{claim_url}/approval", clerk,
         {"approved_amount": "120.00", "reason": "labor time cut"})
    post(client, "/payments", cashier, {
        "work_order_id": wo_id, "bill": "warranty", "method": "bank_transfer",
        "amount": "120.00", "provider_ref": f"OEM-{wo_id[:8]}"}, 201)
    bank = _balances(client, finance, store_id)["1002"]
    # The shortfall is 30.00: not more.
    short = {"kind": "oem_short_paid", "reason": "OEM cut accepted"}
    assert _refused(client, url, manager, {**short, "amount": "30.01"}, 409)
    done = post(client, url, manager, short)
    assert done["written_off"]["amount"] == "30.00" and done["claim_status"] == "approved"
    assert done["bills"]["warranty"]["outstanding"] == "0.00"
    assert _refused(client, url, manager, short, 409)
    # The OEM takes the paid 120.00 back: owed to it, the receivable stays closed.
    back = {"kind": "oem_charged_back", "reason": "audit: repair record missing"}
    assert _refused(client, url, manager, {**back, "amount": "120.01"}, 409)["limit"] == "120.00"
    charged = post(client, url, manager, back)
    assert charged["claim_status"] == "charged_back"
    assert charged["bills"]["warranty"]["outstanding"] == "0.00"
    books = _balances(client, finance, store_id)
    assert (books["1123"], books["6601"], books["2241"], books["1002"]) == (
        "0.00", "150.00", "-120.00", bank)
    row = _claim_row(client, auditor, wo_id)
    assert (row["status"], row["written_off"], row["paid"]) == ("charged_back", "150.00",
                                                                "120.00")
    assert get(client, claim_url, auditor)["oem_claim"]["status"] == "charged_back"
    # The views that show it equal their rebuild from the log.
    for name in ("finance", "oem_claims"):
        view = next(v for v in container.views if v.name == name)
        check = verify_view(container.app, container.pool, view)
        assert check.ok, check.as_dict()


def test_an_approved_claim_the_oem_paid_short_has_the_remainder_written_off(
        client: TestClient, container: Container, auth: Auth, store_id: str) -> None:
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    clerk = auth("advisor", "warranty-clerk", [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    finance = auth("finance", "fin-" + store_id, [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    wo_id, sid = _confirmed_warranty_visit(client, auth, store_id)
    claim_url = f"/work-orders/{wo_id}/warranty-claim"
    url = f"/settlements/{sid}/write-off"
    under = {"kind": "oem_underpaid", "reason": "remittance deduction, OEM says final"}
    post(client, f"{claim_url}/submission", clerk, {"oem_claim_number": "VW-2026-009003"}, 201)
    post(client, f"{claim_url}/approval", clerk, {"approved_amount": "150.00"})
    # Approved in full, nothing paid yet: no remittance to have fallen short.
    assert _refused(client, url, manager, under, 409)
    post(client, "/payments", cashier, {
        "work_order_id": wo_id, "bill": "warranty", "method": "bank_transfer",
        "amount": "120.00", "provider_ref": f"OEM-{wo_id[:8]}"}, 201)
    # Not a short-pay (approved in full); the remainder is 30.00, not more.
    assert _refused(client, url, manager, {**under, "kind": "oem_short_paid"},
                    409)["claim_status"] == "approved"
    assert _refused(client, url, manager, {**under, "amount": "30.01"}, 409)["limit"] == "30.00"
    bank = _balances(client, finance, store_id)["1002"]
    # Part of it written off: still short of the approval, still approved (not paid yet).
    post(client, url, manager, {**under, "amount": "10.00"})
    assert _claim_row(client, auditor, wo_id)["status"] == "approved"
    done = post(client, url, manager, {**under, "amount": "20.00"})
    assert done["written_off"]["kind"] == "oem_underpaid" and done["claim_status"] == "approved"
    assert done["bills"]["warranty"]["outstanding"] == "0.00"
    assert _refused(client, url, manager, {**under, "amount": "0.01"}, 409)["limit"] == "0.00"
    books = _balances(client, finance, store_id)
    assert (books["1123"], books["6601"], books["1002"]) == ("0.00", "30.00", bank)
    # Paid 120.00 and the remainder written off: done with, `paid` on the desk (not
    # "approved, not paid yet") and in the claim package, its figures as they are.
    row = _claim_row(client, auditor, wo_id)
    assert (row["status"], row["paid"], row["written_off"], row["write_off_kind"]) == (
        "paid", "120.00", "30.00", "oem_underpaid")
    for status, listed in (("paid", True), ("approved", False)):
        found = client.get("/warranty-claims", headers=auditor, params={"status": status})
        assert found.status_code == 200, found.text
        assert (wo_id in [r["work_order_id"] for r in found.json()["items"]]) is listed
    assert get(client, claim_url, auditor)["oem_claim"]["status"] == "paid"
    for name in ("finance", "oem_claims"):
        view = next(v for v in container.views if v.name == name)
        check = verify_view(container.app, container.pool, view)
        assert check.ok, check.as_dict()


def test_what_an_insurer_short_pays_is_written_off_from_the_insurance_receivable(
        client: TestClient, auth: Auth, store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    finance = auth("finance", "fin-" + store_id, [store_id])
    wo_id = body_shop_visit(client, auth, store_id, vin=new_vin())
    sid = post(client, "/settlements", cashier,
               {"work_order_id": wo_id, "insurance": PICC}, 201)["id"]
    url = f"/settlements/{sid}/write-off"
    short = {"kind": "insurer_short_paid", "amount": "50.00", "reason": "insurer cut the part"}
    # Confirmed but not settled: no receivable booked yet to write off.
    confirmed = post(client, f"/settlements/{sid}/confirmation", cashier)
    assert _refused(client, url, manager, short, 409)["settlement_status"] == "confirmed"
    post(client, "/payments", cashier, {
        "work_order_id": wo_id, "method": "cash",
        "amount": confirmed["bills"]["customer"]["outstanding"]}, 201)
    owed = confirmed["bills"]["insurance"]["outstanding"]
    assert owed == "1050.00"
    # Not an OEM claim: an OEM kind finds no claim; more than is owed is refused.
    assert _refused(client, url, manager, {**short, "kind": "oem_rejected"},
                    409)["claim_status"] == "not_submitted"
    assert _refused(client, url, manager, {**short, "amount": "1050.01"},
                    409)["limit"] == "1050.00"
    bank = _balances(client, finance, store_id).get("1002")
    done = post(client, url, manager, {**short, "reference": PICC["claim_number"]})
    assert done["bills"]["insurance"]["outstanding"] == "1000.00"
    # The answer's bill says what was written off, so its figures add up as the settlement's
    # `bill_status` and the receivables show them (total less paid less written off).
    assert (done["bills"]["insurance"]["written_off"], done["bills"]["insurance"]["total"],
            done["bills"]["insurance"]["paid"]) == ("50.00", "1050.00", "0.00")
    assert done["bills"]["customer"]["written_off"] == "0.00"
    assert done["written_off"]["reference"] == PICC["claim_number"]
    assert "claim_status" not in done or done["claim_status"] is None
    books = _balances(client, finance, store_id)
    assert (books["1124"], books["6601"], books.get("1002")) == ("1000.00", "50.00", bank)
    owed_now = get(client, "/receivables", finance, kind="insurance", wait_for=head(client))
    [bill] = [b for g in owed_now["items"] for b in g["open_bills"] if b["settlement_id"] == sid]
    assert (bill["written_off"], bill["outstanding"]) == ("50.00", "1000.00")
