"""A settlement's write-offs read over HTTP: each with its amount as a string, the reason, who
booked it and when, the bill's outstanding after it, and once taken back by whom, when, why
and the outstanding after that; read your own write with the command's `notification_id`;
finance, manager and auditor read it, a cashier or an advisor does not; an unknown
settlement, or another store's, is 404; the finance view rebuilt equals the live one."""

from __future__ import annotations

from uuid import uuid4

from fastapi.testclient import TestClient

from servicecore.container import Container
from tests.e2e.test_oem_claim_outcome_api import _confirmed_warranty_visit
from tests.e2e.test_parts_api import Auth, get, head, post
from tests.scratch_systems import served_module
from workers.view_verify import verify_view

served, container, client = served_module("sc_write_offs_list", projections=True)


def test_a_settlements_write_offs_and_their_reversals_are_listed(
        client: TestClient, container: Container, auth: Auth, store_id: str) -> None:
    clerk = auth("advisor", "warranty-clerk", [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    finance = auth("finance", "fin-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    wo_id, sid = _confirmed_warranty_visit(client, auth, store_id)
    url = f"/settlements/{sid}/write-offs"
    # Nothing written off yet: an empty page.
    assert get(client, url, finance, wait_for=head(client)) == {
        "total": 0, "limit": 50, "offset": 0, "items": []}
    claim_url = f"/work-orders/{wo_id}/warranty-claim"
    post(client, f"{claim_url}/submission", clerk, {"oem_claim_number": "VW-2026-031001"}, 201)
    post(client, f"{claim_url}/rejection", clerk,
         {"reason_code": "R-40", "reason": "repair record missing"})
    # The manager writes off 40.00 of the 150.00; read at once with its notification id.
    first = post(client, f"/settlements/{sid}/write-off", manager,
                 {"kind": "oem_rejected", "amount": "40.00", "reason": "part of R-40 final",
                  "reference": "R-40"})
    first_id = first["written_off"]["write_off_id"]
    listed = get(client, url, finance, wait_for=first["notification_id"])
    assert listed["total"] == 1
    (row,) = listed["items"]
    assert {k: row[k] for k in ("write_off_id", "bill", "kind", "amount", "reference", "reason",
                                "written_off_by", "written_off_role", "outstanding_after",
                                "reversed", "reversed_by", "reversal_reason",
                                "outstanding_after_reversal")} == {
        "write_off_id": first_id, "bill": "warranty", "kind": "oem_rejected",
        "amount": "40.00", "reference": "R-40", "reason": "part of R-40 final",
        "written_off_by": "mgr-" + store_id, "written_off_role": "manager",
        "outstanding_after": "110.00", "reversed": False, "reversed_by": None,
        "reversal_reason": None, "outstanding_after_reversal": None}
    assert row["settlement_number"] == first["number"] and row["written_off_at"]
    # Taken back: the row says by whom and why, and the outstanding is whole again.
    back = post(client, f"{url}/{first_id}/reversal", manager,
                {"reason": "the OEM reopened R-40"})
    # The rest written off afterwards: a second row, the bill at 0.
    rest = post(client, f"/settlements/{sid}/write-off", manager,
                {"kind": "oem_rejected", "reason": "appeal lost"})
    assert rest["notification_id"] > back["notification_id"]
    for reader in (finance, manager, auditor):
        listed = get(client, url, reader, wait_for=rest["notification_id"])
        assert [(r["write_off_id"], r["amount"], r["outstanding_after"], r["reversed"])
                for r in listed["items"]] == [
            (first_id, "40.00", "110.00", True),
            (rest["written_off"]["write_off_id"], "150.00", "0.00", False)]
    taken = listed["items"][0]
    assert (taken["reversed_by"], taken["reversed_role"], taken["reversal_reason"],
            taken["outstanding_after_reversal"]) == (
        "mgr-" + store_id, "manager", "the OEM reopened R-40", "150.00")
    assert taken["reversed_at"] >= taken["written_off_at"]
    assert get(client, url, auditor, limit=1, offset=1)["items"][0]["amount"] == "150.00"
    # Who may not read it, and what is not there.
    for role in ("cashier", "advisor", "parts_clerk"):
        assert client.get(url, headers=auth(role, "x", [store_id])).status_code == 403
    for missing, headers in ((f"/settlements/{uuid4()}/write-offs", finance),
                             (url, auth("finance", "fin-elsewhere", [store_id + "X"]))):
        answer = client.get(missing, headers=headers)
        assert answer.status_code == 404, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
    view = next(v for v in container.views if v.name == "finance")
    check = verify_view(container.app, container.pool, view)
    assert check.ok, check.as_dict()
