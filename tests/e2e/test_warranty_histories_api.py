"""What an OEM warranty auditor asks of a visit's warranty paperwork and of the parts counter,
step by step with who, when and why, each a page of its stream like every `/history`: the
claim at the OEM (`GET /work-orders/{id}/warranty-claim/history`), a failed part's custody
(`GET /failed-parts/{id}/history`), the repair record's uploads
(`GET /work-orders/{id}/repair-record/filing/history`) and a lost sale
(`GET /stores/{store}/lost-sales/{id}/history`). Another store's stream, another kind of
stream and none are the same 404; a role without the right 403."""

from __future__ import annotations

from uuid import uuid4

from fastapi.testclient import TestClient

from tests.e2e.history_checks import history, refused
from tests.e2e.test_money_api import ready_for_settlement
from tests.e2e.test_parts_api import Auth, post
from tests.e2e.test_warranty_evidence_api import injector_visit
from tests.integration.audit_support import new_vin


def settled_warranty_visit(client: TestClient, auth: Auth,
                           store_id: str) -> tuple[str, str]:
    """A visit with a warranty labor line, its settlement confirmed and the customer's bill
    paid: (work-order id, settlement id)."""
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    _, wo_id = ready_for_settlement(client, auth, store_id, warranty_labor=True, vin=new_vin())
    sid = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)["id"]
    confirmed = post(client, f"/settlements/{sid}/confirmation", cashier)
    post(client, "/payments", cashier, {
        "work_order_id": wo_id, "method": "cash",
        "amount": confirmed["bills"]["customer"]["outstanding"]}, 201)
    return wo_id, sid


def test_a_warranty_claim_and_the_repair_record_uploads_have_their_histories(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("advisor", "warranty-clerk", [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    wo_id, _ = settled_warranty_visit(client, auth, store_id)
    claim = f"/work-orders/{wo_id}/warranty-claim"
    filing = f"/work-orders/{wo_id}/repair-record/filing"
    # Nothing filed yet: no claim, no upload.
    refused(client, f"{claim}/history", auditor, 404)
    refused(client, f"{filing}/history", auditor, 404)

    post(client, f"{claim}/submission", clerk, {"oem_claim_number": "VW-2026-1"}, 201)
    post(client, f"{claim}/rejection", clerk,
         {"reason_code": "R-17", "reason": "causal part photo missing"})
    post(client, f"{claim}/resubmission", clerk, {"changes": "photo added"})
    post(client, f"{claim}/approval", clerk, {"approved_amount": "100.00",
                                              "reason": "labor time cut to 0.3 h"})
    for role in ("auditor", "manager", "advisor"):
        items = history(client, f"{claim}/history", auth(role, f"{role}-1", [store_id]),
                        ["OemClaim.Submitted", "OemClaim.Rejected", "OemClaim.Resubmitted",
                         "OemClaim.Approved"])
        assert items[0]["changes"]["oem_claim_number"] == "VW-2026-1"
        assert items[1]["reason"] == "causal part photo missing"
        assert items[1]["changes"]["reason_code"] == "R-17"
        assert items[2]["reason"] == "photo added"  # what was corrected is why it went again
        assert items[3]["reason"] == "labor time cut to 0.3 h"
        assert {(i["actor"]["user_id"], i["actor"]["role"], i["actor"]["store_id"])
                for i in items} == {("warranty-clerk", "advisor", store_id)}

    post(client, filing, clerk, {"outcome": "failed", "error": "system unreachable"})
    post(client, filing, clerk, {"outcome": "filed", "receipt_no": "JT-1"})
    post(client, filing, clerk, {"outcome": "refiled", "receipt_no": "JT-2",
                                 "reason": "mileage corrected"})
    items = history(client, f"{filing}/history", auditor,
                    ["RepairFiling.Started", "RepairFiling.Failed", "RepairFiling.Filed",
                     "RepairFiling.Refiled"])
    assert items[1]["changes"]["error"] == "system unreachable"
    assert items[3]["reason"] == "mileage corrected"
    assert items[3]["changes"]["previous_receipt_no"] == "JT-1"
    assert items[3]["actor"]["user_id"] == "warranty-clerk"

    other = auth("auditor", "aud-o", ["O" + store_id[1:]])
    for url in (claim, filing):
        refused(client, f"{url}/history", other, 404)
        refused(client, f"{url}/history".replace(wo_id, str(uuid4())), auditor, 404)
        for role in ("technician", "cashier", "analyst"):
            refused(client, f"{url}/history", auth(role, f"{role}-1", [store_id]), 403)


def test_a_failed_parts_custody_has_its_history(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    _, wo_id, line = injector_visit(client, auth, store_id, vin=new_vin())
    tagged = post(client, "/failed-parts", clerk, {
        "work_order_id": wo_id, "line_id": line, "tag_number": "wt-1",
        "location": "warranty cage"}, 201)
    part = f"/failed-parts/{tagged['id']}"
    post(client, f"{part}/move", clerk, {"location": "returns bay 3", "note": "cage full"})
    post(client, f"{part}/return-request", clerk, {"request_ref": "RR-42"})
    post(client, f"{part}/loss", manager, {"reason": "not found at the stocktake"})

    for role in ("auditor", "manager", "advisor", "parts_clerk"):
        items = history(client, f"{part}/history", auth(role, f"{role}-1", [store_id]),
                        ["FailedPart.Tagged", "FailedPart.Moved",
                         "FailedPart.ReturnRequested", "FailedPart.Lost"])
        assert items[0]["changes"]["tag_number"] == "WT-1"
        assert items[0]["changes"]["work_order_id"] == wo_id
        assert items[1]["changes"]["previous"] == "warranty cage"
        assert items[2]["changes"]["request_ref"] == "RR-42"
        assert items[3]["reason"] == "not found at the stocktake"
        assert items[3]["actor"]["user_id"] == "mgr-" + store_id
        assert items[0]["actor"]["role"] == "parts_clerk"

    auditor = auth("auditor", "aud-" + store_id, [store_id])
    refused(client, f"{part}/history", auth("auditor", "aud-o", ["O" + store_id[1:]]), 404)
    refused(client, f"/failed-parts/{uuid4()}/history", auditor, 404)
    refused(client, f"/failed-parts/{wo_id}/history", auditor, 404)  # a work order's stream
    for role in ("technician", "cashier", "analyst"):
        refused(client, f"{part}/history", auth(role, f"{role}-1", [store_id]), 403)


def test_a_lost_sale_has_its_history_in_its_own_store_only(
        client: TestClient, auth: Auth, store_id: str) -> None:
    other = "O" + store_id[1:]
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id, other])
    recorded = post(client, f"/stores/{store_id}/lost-sales", clerk, {
        "part_number": "5q0 698 151", "qty": "2", "reason": "out_of_stock",
        "note": "bought elsewhere"}, 201)
    url = f"/stores/{store_id}/lost-sales/{recorded['id']}"
    post(client, f"{url}/void", auth("manager", "mgr-" + store_id, [store_id]),
         {"reason": "the clerk typed the wrong part"})

    for role in ("auditor", "parts_clerk", "manager", "advisor", "analyst"):
        items = history(client, f"{url}/history", auth(role, f"{role}-1", [store_id]),
                        ["LostSale.Recorded", "LostSale.Voided"])
        assert items[0]["changes"]["part_number"] == "5Q0698151"
        assert items[0]["reason"] == "out_of_stock"  # the reason it was lost
        assert items[0]["actor"]["user_id"] == "clerk-" + store_id
        assert items[1]["reason"] == "the clerk typed the wrong part"
        assert items[1]["actor"]["role"] == "manager"

    both = auth("auditor", "aud-both", [store_id, other])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    refused(client, f"{url}/history", auth("auditor", "aud-o", [other]), 404)
    # named under another store, even one the token covers: 404, as its void would be
    refused(client, f"/stores/{other}/lost-sales/{recorded['id']}/history", both, 404)
    refused(client, f"/stores/{store_id}/lost-sales/{uuid4()}/history", auditor, 404)
    customer = _customer(client, auth, store_id)  # a stream of another kind
    refused(client, f"/stores/{store_id}/lost-sales/{customer}/history", auditor, 404)
    for role in ("technician", "cashier"):
        refused(client, f"{url}/history", auth(role, f"{role}-1", [store_id]), 403)


def _customer(client: TestClient, auth: Auth, store_id: str) -> str:
    return str(post(client, "/customers", auth("advisor", "adv-1", [store_id]), {
        "store_id": store_id, "kind": "person", "name": "王芳",
        "phones": ["13700001111"]}, 201)["id"])
