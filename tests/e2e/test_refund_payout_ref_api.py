"""A refund's payout reference is taken once per store and payout method: a second refund
approved under a reference another refund went out by is refused (409 naming that refund, the
store's events as they were), while the same reference by another method, or in another store,
goes through; a retry of the approval with the same `Idempotency-Key` answers as the first time
and stores nothing."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import head, post
from tests.e2e.test_refund_decision_api import Auth, refunds_asked


def test_a_payout_reference_goes_out_on_one_refund_of_a_store_and_method(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    _, (first, second) = refunds_asked(client, auth, store_id)
    _, (third, _) = refunds_asked(client, auth, store_id)
    _, (elsewhere, _) = refunds_asked(client, auth, store_id + "P")
    ref = "TR-" + uuid.uuid4().hex[:8].upper()
    by_transfer = {"approve": True, "payout_method": "bank_transfer", "payout_ref": ref}
    keyed = {**manager, "Idempotency-Key": f"payout-{ref}"}
    done = post(client, f"/refunds/{first}/decision", keyed, by_transfer)
    assert done["refund_status"] == "approved"
    # The same approval again, by its key: the first answer, nothing stored twice.
    mark = head(client)
    again = client.post(f"/refunds/{first}/decision", headers=keyed, json=by_transfer)
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert head(client) == mark
    # Another refund of the store under it (as typed in full width too): refused, naming it.
    for typed in (ref, " " + ref.replace("TR", "ＴＲ")):
        refused = client.post(f"/refunds/{second}/decision", headers=manager,
                              json={**by_transfer, "payout_ref": typed})
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["refund_id"] == first and first in refused.json()["detail"]
        assert head(client) == mark
    # The same reference by another method, or in another store, is another reference.
    assert post(client, f"/refunds/{third}/decision", manager, {
        **by_transfer, "payout_method": "alipay"})["refund_status"] == "approved"
    assert post(client, f"/refunds/{elsewhere}/decision",
                auth("manager", "mgr-p", [store_id + "P"]),
                by_transfer)["refund_status"] == "approved"
    # Without it, the refund that was refused is approved as usual.
    assert post(client, f"/refunds/{second}/decision", manager, {
        **by_transfer, "payout_ref": ref + "-2"})["refund_status"] == "approved"
