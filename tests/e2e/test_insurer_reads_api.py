"""The work order and the customer's progress page name the insurer as the insurer master does:
an assessment typed under one of an insurer's names shows that insurer (`master_insurer` on
the work order and its `as_of` replay, the short name on the page), a name of no insurer shows
null and the name as typed, and a name registered later changes the read, not the stored row,
its version (the ETag) or the view's equality with its rebuild.

The master is shared by every store (and every test of the run): the insurers are named after
the test's store.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from servicecore.container import Container
from tests.e2e.test_insurance_bill_api import body_shop_visit
from tests.e2e.test_parts_api import Auth, get, head, post
from tests.e2e.test_progress_page import HTML, page_path, share
from tests.integration.audit_support import new_vin
from workers.view_verify import verify_view


def _assessed(client: TestClient, auth: Auth, store_id: str, insurer: str) -> str:
    """A body-shop visit whose insurer's assessment names `insurer` as typed; its id."""
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    wo_id = body_shop_visit(client, auth, store_id, vin=new_vin())
    post(client, f"/work-orders/{wo_id}/insurance-assessment", advisor, {
        "insurer": insurer, "claim_number": "CLM-" + wo_id[:8], "approved_amount": "900.00",
        "deductible": "200.00"})
    return wo_id


def _read(client: TestClient, headers: dict[str, str], wo_id: str) -> tuple[dict[str, Any], str]:
    """The work order and its ETag, once the view has every event."""
    response = client.get(f"/work-orders/{wo_id}", headers=headers,
                          params={"wait_for": head(client)})
    assert response.status_code == 200, response.text
    return response.json(), response.headers["ETag"]


def _row(container: Container, wo_id: str) -> tuple[Any, ...] | None:
    with container.pool.connection() as conn:
        return conn.execute("SELECT version, updated_at, doc::text FROM wo_view WHERE id = %s",
                            (wo_id,)).fetchone()


def test_the_work_order_and_the_progress_page_name_the_masters_insurer(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    code, short = "WOR" + store_id, f"中国平安{store_id}"
    english, other = f"Ping An {store_id}", f"平安产险{store_id}"
    made = post(client, "/insurers", manager, {
        "code": code, "name": f"中国平安财产保险股份有限公司{store_id}", "short_name": short,
        "aliases": [english]}, 201)
    master = {"id": made["id"], "code": code, "short_name": short,
              "name": f"中国平安财产保险股份有限公司{store_id}", "active": True}

    # The assessment typed under the alias, otherwise spaced and cased: the master's insurer.
    alias_typed = f"  PING  an {store_id} "
    known = _assessed(client, auth, store_id, alias_typed)
    doc, etag = _read(client, advisor, known)
    assert doc["insurance_assessment"]["insurer"] == f"PING an {store_id}"  # as typed, trimmed
    assert doc["insurance_assessment"]["master_insurer"] == master
    assert etag == f'"{doc["version"]}"'
    # The auditor's replay names it alike (the master as it stands now).
    then = get(client, f"/work-orders/{known}", advisor, as_of=datetime.now(UTC).isoformat())
    assert then["insurance_assessment"] == doc["insurance_assessment"]
    # The customer reads the master's short name, never its code or id.
    page = page_path(share(client, advisor, known))
    shown = get(client, page + ".json", {}, wait_for=head(client))
    assert shown["insurance"]["insurer"] == short
    html = client.get(page, headers=HTML).text
    assert short in html
    for hidden in (code, made["id"], master["name"]):
        assert hidden not in html and hidden not in str(shown)

    # A name of no insurer: null on the work order, the name as typed on the page.
    unknown = _assessed(client, auth, store_id, other)
    doc, etag = _read(client, advisor, unknown)
    assert doc["insurance_assessment"]["insurer"] == other
    assert doc["insurance_assessment"]["master_insurer"] is None
    then = get(client, f"/work-orders/{unknown}", advisor, as_of=datetime.now(UTC).isoformat())
    assert then["insurance_assessment"]["master_insurer"] is None
    page = page_path(share(client, advisor, unknown))
    assert get(client, page + ".json", {}, wait_for=head(client))["insurance"]["insurer"] == other
    row = _row(container, unknown)

    # The manager gives the insurer that name too: the same work order now reads under it;
    # its stored row and its version (the ETag) are what they were.
    post(client, f"/insurers/{code}/aliases", manager,
         {"add": [other], "reason": "typed so on the claims desk"})
    later, later_etag = _read(client, advisor, unknown)
    assert later["insurance_assessment"]["master_insurer"] == master
    assert (later_etag, later["version"]) == (etag, doc["version"])
    assert {k: v for k, v in later.items() if k != "insurance_assessment"} == {
        k: v for k, v in doc.items() if k != "insurance_assessment"}
    assert _row(container, unknown) == row
    then = get(client, f"/work-orders/{unknown}", advisor, as_of=datetime.now(UTC).isoformat())
    assert then["insurance_assessment"]["master_insurer"] == master
    assert get(client, page + ".json", {}, wait_for=head(client))["insurance"]["insurer"] == short
    # A new short name is what the customer reads from then on.
    renamed = client.patch(f"/insurers/{code}", headers=manager,
                           json={"short_name": f"平安财险{store_id}", "reason": "new brand"})
    assert renamed.status_code == 200, renamed.text
    assert get(client, page + ".json", {}, wait_for=head(client))["insurance"]["insurer"] == \
        f"平安财险{store_id}"

    # Nothing of it is stored in the work-order view: it equals its rebuild from event 0.
    view = next(v for v in container.views if v.name == "work_orders")
    check = verify_view(container.app, container.pool, view)
    assert check.ok, check.as_dict()


def test_a_work_order_without_an_assessment_reads_as_before(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    wo_id = body_shop_visit(client, auth, store_id, vin=new_vin())
    doc, _ = _read(client, advisor, wo_id)
    assert "insurance_assessment" not in doc
    then = get(client, f"/work-orders/{wo_id}", advisor, as_of=datetime.now(UTC).isoformat())
    assert "insurance_assessment" not in then
    page = page_path(share(client, advisor, wo_id))
    assert get(client, page + ".json", {}, wait_for=head(client))["insurance"] is None
