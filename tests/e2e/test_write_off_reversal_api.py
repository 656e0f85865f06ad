"""A write-off taken back over HTTP on PostgreSQL: the OEM pays a claim that was written off as
rejected, a manager takes the write-off back (the mirror entry: 1123 outstanding again, the
claim loss gone), the claim is `rejected` again on the desk with the step in its history, and
the OEM's payment then clears the receivable as usual; a charge-back the OEM offsets is taken
back to an approved, paid claim. Taking one back twice, or through another settlement, is
refused (problem+json, nothing stored); a retry with the same `Idempotency-Key` stores nothing
twice. The views rebuilt equal the live ones."""

from __future__ import annotations

from fastapi.testclient import TestClient

from servicecore.container import Container
from tests.e2e.test_claim_write_off_api import _balances, _claim_row
from tests.e2e.test_oem_claim_outcome_api import _confirmed_warranty_visit, _refused
from tests.e2e.test_parts_api import Auth, get, head, post
from tests.scratch_systems import served_module
from workers.view_verify import verify_view

served, container, client = served_module("sc_write_off_reversal", projections=True)


def test_a_claim_written_off_as_rejected_is_taken_back_when_the_oem_pays(
        client: TestClient, container: Container, auth: Auth, store_id: str) -> None:
    clerk = auth("advisor", "warranty-clerk", [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    finance = auth("finance", "fin-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    wo_id, sid = _confirmed_warranty_visit(client, auth, store_id)
    _, other_sid = _confirmed_warranty_visit(client, auth, store_id)  # its 150.00 owed stays
    claim_url = f"/work-orders/{wo_id}/warranty-claim"
    post(client, f"{claim_url}/submission", clerk, {"oem_claim_number": "VW-2026-019001"}, 201)
    post(client, f"{claim_url}/rejection", clerk,
         {"reason_code": "R-40", "reason": "repair record missing"})
    done = post(client, f"/settlements/{sid}/write-off", manager,
                {"kind": "oem_rejected", "reason": "appeal window closed"})
    write_off_id = done["written_off"]["write_off_id"]
    assert write_off_id.startswith("WRITEOFF-")
    written = _balances(client, finance, store_id)
    assert (written["1123"], written["6601"]) == ("150.00", "150.00")
    # The OEM pays after all: nothing is outstanding to take it until the write-off goes.
    payment = {"work_order_id": wo_id, "bill": "warranty", "method": "bank_transfer",
               "amount": "150.00", "provider_ref": f"OEM-LATE-{wo_id[:8]}"}
    _refused(client, "/payments", cashier, payment, 409)
    url = f"/settlements/{sid}/write-offs/{write_off_id}/reversal"
    body = {"reason": "the OEM paid R-40 after the appeal"}
    # Only a manager, with a reason, on the settlement that made it.
    assert client.post(url, headers=cashier, json=body).status_code == 403
    assert _refused(client, url, manager, {"reason": " "}, 422)["field"] == "reason"
    _refused(client, f"/settlements/{other_sid}/write-offs/{write_off_id}/reversal", manager,
             body, 404)
    _refused(client, f"/settlements/{sid}/write-offs/WO-000000000000/reversal", manager,
             body, 404)
    keyed = {**manager, "Idempotency-Key": f"write-off-back-{wo_id}"}
    back = post(client, url, keyed, body)
    mark = head(client)
    again = client.post(url, headers=keyed, json=body)
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert head(client) == mark
    assert back["reversed"] == {"write_off_id": write_off_id, "bill": "warranty",
                                "kind": "oem_rejected", "amount": "150.00",
                                "reason": "the OEM paid R-40 after the appeal"}
    assert back["claim_status"] == "rejected"
    assert back["bills"]["warranty"]["outstanding"] == "150.00"
    assert "taken back already" in _refused(client, url, manager, body, 409)["detail"]
    # The books: the receivable is back and the claim loss is gone.
    restored = _balances(client, finance, store_id)
    assert (restored["1123"], restored["6601"]) == ("300.00", "0.00")
    row = _claim_row(client, auditor, wo_id)
    assert (row["status"], row["written_off"], row["write_off_kind"]) == (
        "rejected", "0.00", None)
    steps = get(client, claim_url, auditor)["oem_claim"]["history"]
    assert steps[-1]["step"] == "write_off_reversed" and steps[-1]["by"] == "mgr-" + store_id
    assert steps[-1]["write_off_id"] == write_off_id
    # The OEM's payment clears the receivable as any payment does.
    post(client, "/payments", cashier, payment, 201)
    paid = _balances(client, finance, store_id)
    assert (paid["1123"], paid["6601"]) == ("150.00", "0.00")
    for name in ("finance", "oem_claims"):
        view = next(v for v in container.views if v.name == name)
        check = verify_view(container.app, container.pool, view)
        assert check.ok, check.as_dict()


def test_a_charge_back_the_oem_offsets_is_taken_back_to_a_paid_claim(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("advisor", "warranty-clerk", [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    finance = auth("finance", "fin-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    wo_id, sid = _confirmed_warranty_visit(client, auth, store_id)
    claim_url = f"/work-orders/{wo_id}/warranty-claim"
    post(client, f"{claim_url}/submission", clerk, {"oem_claim_number": "VW-2026-019002"}, 201)
    post(client, f"{claim_url}/approval", clerk, {"approved_amount": "150.00"})
    post(client, "/payments", cashier, {
        "work_order_id": wo_id, "bill": "warranty", "method": "bank_transfer",
        "amount": "150.00", "provider_ref": f"OEM-{wo_id[:8]}"}, 201)
    owed = _balances(client, finance, store_id).get("2241", "0.00")
    charged = post(client, f"/settlements/{sid}/write-off", manager,
                   {"kind": "oem_charged_back", "reason": "audit: record missing"})
    assert charged["claim_status"] == "charged_back"
    back = post(client, f"/settlements/{sid}/write-offs/"
                f"{charged['written_off']['write_off_id']}/reversal", manager,
                {"reason": "record found, the OEM offset the charge-back"})
    assert back["claim_status"] == "approved"
    books = _balances(client, finance, store_id)
    assert (books.get("2241", "0.00"), books["6601"]) == (owed, "0.00")
    assert _claim_row(client, auditor, wo_id)["status"] == "paid"
