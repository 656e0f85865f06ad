"""What the OEM did with a visit's warranty claim, over HTTP: submitted under the OEM's claim
number, rejected with the OEM's reason, corrected and resubmitted, approved for less than was
claimed (with the OEM's reason), paid — and the claim package shows that history with who,
when and why, beside the OEM receivable it meets. Steps out of order are 409 naming the
claim's status; bad input is 422 naming the field; neither stores anything."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_money_api import ready_for_settlement
from tests.e2e.test_parts_api import Auth, get, head, post
from tests.integration.audit_support import new_vin
from tests.scratch_systems import served_module

served, container, client = served_module("sc_oem_claim", projections=True)


def _refused(client: TestClient, url: str, headers: dict[str, str], body: Any,
             status: int) -> dict[str, Any]:
    before = head(client)
    answer = client.post(url, headers=headers, json=body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert head(client) == before  # nothing stored
    return answer.json()  # type: ignore[no-any-return]


def _confirmed_warranty_visit(client: TestClient, auth: Auth, store_id: str) -> tuple[str, str]:
    """A visit with a warranty labor line (150.00 the OEM owes), its settlement confirmed and
    the customer's bill paid: (work-order id, settlement id)."""
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    _, wo_id = ready_for_settlement(client, auth, store_id, warranty_labor=True, vin=new_vin())
    sid = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)["id"]
    confirmed = post(client, f"/settlements/{sid}/confirmation", cashier)
    assert confirmed["bills"]["warranty"]["outstanding"] == "150.00"
    post(client, "/payments", cashier, {
        "work_order_id": wo_id, "method": "cash",
        "amount": confirmed["bills"]["customer"]["outstanding"]}, 201)
    return wo_id, sid


def test_a_claim_rejected_resubmitted_approved_short_and_paid_keeps_its_history(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("advisor", "warranty-clerk", [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    wo_id, _ = _confirmed_warranty_visit(client, auth, store_id)
    claim_url = f"/work-orders/{wo_id}/warranty-claim"
    # Before anything is sent, the package says so.
    package = get(client, claim_url, auditor)
    assert package["oem_claim"]["status"] == "not_submitted"
    assert package["oem_claim"]["history"] == []
    # Nothing to reject, resubmit or approve before the claim is submitted.
    refused = _refused(client, f"{claim_url}/rejection", clerk,
                       {"reason": "missing photo"}, 409)
    assert refused["claim_status"] == "not_submitted"
    # The clerk files it in the OEM's portal and records the OEM's claim number.
    sent = post(client, f"{claim_url}/submission", clerk,
                {"oem_claim_number": "VW-2026-004711"}, 201)
    assert (sent["status"], sent["claimed"], sent["oem_claim_number"]) == (
        "submitted", "150.00", "VW-2026-004711")
    # Submitted once per visit; resubmission is only for a rejected claim.
    again = _refused(client, f"{claim_url}/submission", clerk,
                     {"oem_claim_number": "VW-2026-004712"}, 409)
    assert again["claim_status"] == "submitted" and "submitted" in again["detail"]
    early = _refused(client, f"{claim_url}/resubmission", clerk,
                     {"changes": "nothing yet"}, 409)
    assert early["claim_status"] == "submitted"
    # A rejection without the OEM's reason is bad input, naming the field.
    blank = _refused(client, f"{claim_url}/rejection", clerk, {"reason": "  "}, 422)
    assert blank["field"] == "reason"
    # The OEM rejects it: code and reason.
    rejected = post(client, f"{claim_url}/rejection", clerk,
                    {"reason_code": "R-17", "reason": "causal part photo missing"})
    assert rejected["status"] == "rejected"
    # A rejected claim is not approved; it is corrected and resubmitted, saying what changed.
    not_open = _refused(client, f"{claim_url}/approval", clerk, {"approved_amount": "150.00"},
                        409)
    assert not_open["claim_status"] == "rejected"
    vague = _refused(client, f"{claim_url}/resubmission", clerk, {"changes": "x"}, 422)
    assert vague["field"] == "changes"
    resent = post(client, f"{claim_url}/resubmission", manager,
                  {"changes": "photo of the failed module added"})
    assert (resent["status"], resent["oem_claim_number"]) == ("resubmitted", "VW-2026-004711")
    # The OEM approves 120.00 of the 150.00: above the claimed is refused, less needs a reason.
    over = _refused(client, f"{claim_url}/approval", clerk, {"approved_amount": "150.01"}, 422)
    assert over["field"] == "approved_amount"
    silent = _refused(client, f"{claim_url}/approval", clerk, {"approved_amount": "120.00"}, 422)
    assert silent["field"] == "reason"
    # Optimistic concurrency: a stale If-Match is 412, nothing stored.
    stale = client.post(f"{claim_url}/approval", json={"approved_amount": "150.00"},
                        headers={**clerk, "If-Match": '"1"'})
    assert stale.status_code == 412, stale.text
    # An idempotent retry answers the first answer and stores nothing twice.
    keyed = {**clerk, "Idempotency-Key": f"approve-{wo_id}"}
    body = {"approved_amount": "120.00", "reason": "labor time cut to 0.4 h"}
    approved = post(client, f"{claim_url}/approval", keyed, body)
    mark = head(client)
    retried = client.post(f"{claim_url}/approval", headers=keyed, json=body)
    assert retried.status_code == 200 and retried.headers.get("Idempotent-Replayed") == "true"
    assert head(client) == mark
    assert (approved["status"], approved["approved_amount"]) == ("approved", "120.00")
    # Approved is final.
    final = _refused(client, f"{claim_url}/rejection", clerk, {"reason": "second thoughts"},
                     409)
    assert final["claim_status"] == "approved"
    assert get(client, claim_url, auditor)["oem_claim"]["status"] == "approved"
    # The OEM pays what it approved: the claim is paid; the receivable still expects the
    # claimed 150.00, and the claim shows the 30.00 short.
    post(client, "/payments", cashier, {
        "work_order_id": wo_id, "bill": "warranty", "method": "bank_transfer",
        "amount": "120.00", "provider_ref": f"OEM-{wo_id[:8]}"}, 201)
    outcome = get(client, claim_url, auditor)["oem_claim"]
    assert (outcome["status"], outcome["oem_claim_number"], outcome["claimed"],
            outcome["approved_amount"], outcome["short_paid"]) == (
        "paid", "VW-2026-004711", "150.00", "120.00", "30.00")
    assert outcome["receivable"] == {"billed": "150.00", "paid": "120.00",
                                     "outstanding": "30.00"}
    # The audit's question: submitted when, rejected why, resubmitted with what change,
    # approved for how much — each with who and when.
    history = outcome["history"]
    assert [h["step"] for h in history] == ["submitted", "rejected", "resubmitted", "approved"]
    assert [(h["by"], h["role"]) for h in history] == [
        ("warranty-clerk", "advisor"), ("warranty-clerk", "advisor"),
        ("mgr-" + store_id, "manager"), ("warranty-clerk", "advisor")]
    assert all(h["at"] for h in history)
    assert (history[1]["reason_code"], history[1]["reason"]) == (
        "R-17", "causal part photo missing")
    assert history[2]["changes"] == "photo of the failed module added"
    assert (history[3]["approved_amount"], history[3]["claimed"], history[3]["difference"],
            history[3]["reason"]) == ("120.00", "150.00", "30.00", "labor time cut to 0.4 h")
    # The visit's timeline holds the claim's steps among its streams.
    visit = get(client, f"/audit/work-orders/{wo_id}/timeline", auditor, wait_for=head(client))
    assert {"stream_type": "OemClaim", "events": 4} in [
        {k: s[k] for k in ("stream_type", "events")} for s in visit["streams"]]


def test_a_claim_needs_a_confirmed_warranty_bill_and_the_claim_clerks_role(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("advisor", "warranty-clerk", [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    _, wo_id = ready_for_settlement(client, auth, store_id, warranty_labor=True, vin=new_vin())
    claim_url = f"/work-orders/{wo_id}/warranty-claim"
    # No warranty bill confirmed yet: nothing the OEM could be asked for.
    early = _refused(client, f"{claim_url}/submission", clerk,
                     {"oem_claim_number": "VW-1"}, 409)
    assert early["settlement_status"] == "not drafted"
    # No claim number: 422 naming it.
    missing = _refused(client, f"{claim_url}/submission", clerk, {"oem_claim_number": " "}, 422)
    assert missing["field"] == "oem_claim_number"
    # A cashier does not record the OEM's decisions.
    sid = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)["id"]
    post(client, f"/settlements/{sid}/confirmation", cashier)
    _refused(client, f"{claim_url}/submission", cashier, {"oem_claim_number": "VW-1"}, 403)
    # An approval in full needs no reason and leaves nothing short.
    post(client, f"{claim_url}/submission", clerk, {"oem_claim_number": "VW-1"}, 201)
    post(client, f"{claim_url}/approval", clerk, {"approved_amount": "150.00"})
    outcome = get(client, claim_url, clerk)["oem_claim"]
    assert (outcome["status"], outcome["short_paid"]) == ("approved", "0.00")
    # An unknown visit is 404.
    _refused(client, "/work-orders/00000000-0000-4000-8000-000000000000/warranty-claim/"
             "submission", clerk, {"oem_claim_number": "VW-2"}, 404)
