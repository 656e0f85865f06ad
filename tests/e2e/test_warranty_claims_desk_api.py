"""The warranty claims desk, over HTTP: a store's claims listed by their status at the OEM —
waiting (submitted, resubmitted), rejected with the OEM's reason, approved but unpaid, paid —
with the visit, VIN, amounts and the last step's who and when; paged, scoped to the caller's
stores; the view rebuilt from the events equals the live one. The printable claim page shows
the status at the OEM and its dated steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from servicecore import cli
from servicecore.container import Container
from tests.conftest import JWT_SECRET
from tests.e2e.test_oem_claim_outcome_api import _confirmed_warranty_visit
from tests.e2e.test_parts_api import Auth, head, post
from tests.integration.test_parts_support import wait_for_projection
from tests.scratch_systems import served_module

served, container, client = served_module("sc_claims_desk", projections=True)


def _listed(client: TestClient, headers: dict[str, str], store_id: str,
            **query: Any) -> dict[str, Any]:
    asked = {"store_id": store_id, "wait_for": head(client), **query}  # read what was written
    answer = client.get("/warranty-claims", headers=headers, params=asked)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def _four_claims(client: TestClient, auth: Auth, store_id: str) -> dict[str, str]:
    """Four visits' claims: waiting at the OEM, rejected, approved unpaid, approved and paid."""
    clerk = auth("advisor", "warranty-clerk", [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    visits = {name: _confirmed_warranty_visit(client, auth, store_id)[0]
              for name in ("waiting", "rejected", "unpaid", "paid")}
    for name, wo_id in visits.items():
        post(client, f"/work-orders/{wo_id}/warranty-claim/submission", clerk,
             {"oem_claim_number": f"VW-{name}"}, 201)
    post(client, f"/work-orders/{visits['rejected']}/warranty-claim/rejection", clerk,
         {"reason_code": "R-17", "reason": "causal part photo missing"})
    for name in ("unpaid", "paid"):
        post(client, f"/work-orders/{visits[name]}/warranty-claim/approval", clerk,
             {"approved_amount": "120.00", "reason": "labor time cut to 0.4 h"})
    post(client, "/payments", cashier, {
        "work_order_id": visits["paid"], "bill": "warranty", "method": "bank_transfer",
        "amount": "120.00", "provider_ref": f"OEM-{visits['paid'][:8]}"}, 201)
    return visits


def test_the_desk_lists_claims_by_status_at_the_oem(
        client: TestClient, auth: Auth, store_id: str) -> None:
    admin = auth("advisor", "warranty-admin", [store_id])
    visits = _four_claims(client, auth, store_id)
    every = _listed(client, admin, store_id)
    assert every["total"] == 4
    rows = {row["work_order_id"]: row for row in every["items"]}
    assert {rows[wo]["status"] for wo in visits.values()} == {
        "submitted", "rejected", "approved", "paid"}
    # Rejected: the OEM's reason, so the claim can be corrected and resubmitted.
    [rejected] = _listed(client, admin, store_id, status="rejected")["items"]
    assert (rejected["work_order_id"], rejected["oem_claim_number"], rejected["reason_code"],
            rejected["rejection_reason"], rejected["changed_by"]) == (
        visits["rejected"], "VW-rejected", "R-17", "causal part photo missing",
        "warranty-clerk")
    assert rejected["vin"] and rejected["work_order_number"]
    # Approved but unpaid, and paid: the amounts say which.
    [unpaid] = _listed(client, admin, store_id, status="approved")["items"]
    assert (unpaid["work_order_id"], unpaid["claimed"], unpaid["approved_amount"],
            unpaid["paid"]) == (visits["unpaid"], "150.00", "120.00", "0.00")
    [paid] = _listed(client, admin, store_id, status="paid")["items"]
    assert (paid["work_order_id"], paid["approved_amount"], paid["paid"]) == (
        visits["paid"], "120.00", "120.00")
    [waiting] = _listed(client, admin, store_id, status="submitted")["items"]
    assert waiting["work_order_id"] == visits["waiting"] and waiting["rejection_reason"] is None
    # A resubmission is waiting at the OEM again; the old reason no longer shows.
    post(client, f"/work-orders/{visits['rejected']}/warranty-claim/resubmission", admin,
         {"changes": "photo of the failed module added", "oem_claim_number": "VW-again"})
    [resent] = _listed(client, admin, store_id, status="resubmitted")["items"]
    assert (resent["oem_claim_number"], resent["rejection_reason"], resent["changed_by"]) == (
        "VW-again", None, "warranty-admin")
    assert _listed(client, admin, store_id, status="rejected")["total"] == 0
    # Paged: the longest unchanged first, `total` counts them all.
    first = _listed(client, admin, store_id, limit=3, offset=0)
    rest = _listed(client, admin, store_id, limit=3, offset=3)
    assert (first["total"], len(first["items"]), len(rest["items"])) == (4, 3, 1)
    assert rest["items"][0]["work_order_id"] == visits["rejected"]  # changed last
    # Submitted in a period of the store's days: none were submitted in 2020.
    assert _listed(client, admin, store_id, **{"from": "2020-01-01",
                                               "to": "2020-12-31"})["total"] == 0


def test_the_desk_shows_only_the_callers_stores_and_refuses_other_roles(
        client: TestClient, auth: Auth, store_id: str) -> None:
    _four_claims(client, auth, store_id)
    other = auth("advisor", "elsewhere", [store_id + "X"])
    assert _listed(client, other, store_id)["total"] == 0
    refused = client.get(f"/warranty-claims?store_id={store_id}",
                         headers=auth("technician", "tech", [store_id]))
    assert refused.status_code == 403
    bad = client.get("/warranty-claims?status=lost", headers=auth("advisor", "a", [store_id]))
    assert bad.status_code == 422
    # The one parameter at fault is named, as a body field would be.
    assert bad.json()["field"] == "status"
    early = client.get("/warranty-claims", headers=auth("advisor", "a", [store_id]),
                       params={"from": "2026-13-01"})
    assert (early.status_code, early.json()["field"]) == (422, "from")


def test_the_claim_page_shows_the_status_at_the_oem_and_its_steps(
        client: TestClient, auth: Auth, store_id: str) -> None:
    visits = _four_claims(client, auth, store_id)
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    page = client.get(f"/work-orders/{visits['rejected']}/warranty-claim?format=html",
                      headers=auditor)
    assert page.status_code == 200, page.text
    oem = page.text.split("<h2>At the OEM</h2>")[1].split("<h2>")[0]
    assert "rejected" in oem and "VW-rejected" in oem
    assert "causal part photo missing" in oem and "warranty-clerk" in oem
    assert oem.index("submitted") < oem.index("causal part photo missing")


def test_a_rebuild_of_the_claims_view_equals_the_live_one(
        client: TestClient, auth: Auth, container: Container, database_url: str,
        store_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _four_claims(client, auth, store_id)
    wait_for_projection(container, "oem_claims")

    def tables() -> list[list[str]]:
        with container.pool.connection() as conn:
            return [[row[0] for row in conn.execute(
                f"SELECT t::text FROM {table} t ORDER BY work_order_id").fetchall()]
                for table in ("oem_claims", "oem_claim_vins")]

    live = tables()
    assert len(live[0]) >= 4
    for name, value in (("DATABASE_URL", database_url), ("SERVICECORE_JWT_SECRET", JWT_SECRET),
                        ("SERVICECORE_DATA_DIR", str(tmp_path)),
                        ("SERVICECORE_PROJECTION_BATCH_SIZE", "3")):
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert cli.main(["projections", "rebuild", "--name", "oem_claims"]) == 0
    assert '"projection": "oem_claims"' in capsys.readouterr().out
    assert tables() == live
    assert cli.main(["audit", "views", "--view", "oem_claims"]) == 0
    assert '"ok": true' in capsys.readouterr().out
