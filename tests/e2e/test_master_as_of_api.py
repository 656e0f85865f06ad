"""The masters as they stood at a moment (`?as_of=`): a labor operation's flat-rate hours and
warranty rate when a claim was made, a part's list price, an insurer's names, a campaign's
VINs and whether it was closed. Each: a change after the moment is not in the answer as of
it and is in the current read; the replay now is the current read; before it existed 404; a
bad `as_of` 422; the future refused; another store's operation 404."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from tests.e2e.as_of_support import Doc, checked_as_of, last_moment
from tests.e2e.test_campaigns_api import campaign
from tests.e2e.test_parts_api import Auth, get, new_part, post
from tests.integration.audit_support import new_vin

RATES = {"customer": "300.00", "warranty": "180.00", "insurance": "260.00",
         "internal": "150.00"}


def test_a_labor_operation_as_of_a_claim_keeps_its_hours_and_warranty_rate(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    post(client, "/labor-operations", manager, {
        "store_id": store_id, "op_code": "BRK-PAD", "description": "front brake pads",
        "flat_rate_hours": "1.5", "rates": RATES, "skill": "chassis", "level": 1}, 201)
    url = "/labor-operations/BRK-PAD"
    first = last_moment(client, url, auditor, store_id=store_id)

    def change() -> None:
        response = client.patch(url, headers=manager, json={
            "store_id": store_id, "flat_rate_hours": "1.8", "rates": {"warranty": "200.00"},
            "skill": "chassis", "level": 2, "reason": "2026 labor time guide"})
        assert response.status_code == 200, response.text

    def before(d: Doc) -> None:
        assert (d["flat_rate_hours"], d["rates"]["warranty"], d["level"], d["version"]) == (
            "1.5", "180.00", 1, 1), d

    def after(d: Doc) -> None:
        assert (d["flat_rate_hours"], d["rates"]["warranty"], d["level"], d["last_reason"]) == (
            "1.8", "200.00", 2, "2026 labor time guide"), d

    old, now = checked_as_of(client, url, auditor, first=first, then=first, change=change,
                             before=before, after=after, store_id=store_id)
    assert old["rates"]["customer"] == now["rates"]["customer"] == "300.00"
    assert old["last_reason"] is None
    # Another store's operation is unknown at any moment, as it is now.
    stranger = auth("auditor", "aud-x", [store_id + "X"])
    assert client.get(url, headers=stranger, params={
        "store_id": store_id, "as_of": datetime.now(UTC).isoformat()}).status_code == 404


def test_a_part_as_of_a_moment_has_the_list_price_and_details_then(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", stores=[store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    number = new_part(client, clerk)
    url = f"/parts/{number}"
    first = last_moment(client, url, auditor)

    def change() -> None:
        post(client, f"{url}/price", clerk, {"list_price": "499.00", "reason": "OEM list 2027"})
        post(client, f"{url}/details", clerk, {"name": "front brake pads (ceramic)",
                                               "reason": "ceramic pads since 2027"})

    def before(d: Doc) -> None:
        assert (d["name"], d["version"]) == ("front brake pads", 1), d

    def after(d: Doc) -> None:
        assert (d["name"], d["version"]) == ("front brake pads (ceramic)", 3), d

    old, now = checked_as_of(client, url, auditor, first=first, then=first, change=change,
                             before=before, after=after)
    assert old["list_price"] != now["list_price"] == "499.00"
    assert old["part_number"] == number


def test_an_insurer_as_of_a_moment_has_its_names_and_aliases_then(
        client: TestClient, auth: Auth) -> None:
    manager = auth("manager")
    auditor = auth("auditor")
    code = "PA" + uuid.uuid4().hex[:8].upper()
    post(client, "/insurers", manager, {"code": code, "name": f"平安财产保险 {code}",
                                        "short_name": f"平安 {code}",
                                        "aliases": [f"Ping An {code}"]}, 201)
    url = f"/insurers/{code}"
    first = last_moment(client, url, auditor)

    def change() -> None:
        response = client.patch(url, headers=manager, json={
            "short_name": f"平安财险 {code}", "reason": "the insurer's new brand"})
        assert response.status_code == 200, response.text
        post(client, f"{url}/aliases", manager, {"add": [f"PingAn P&C {code}"],
                                                 "remove": [f"Ping An {code}"],
                                                 "reason": "seen on claims"})
        post(client, f"{url}/deactivation", manager, {"reason": "no longer a partner"})

    def before(d: Doc) -> None:
        assert (d["short_name"], d["aliases"], d["active"]) == (
            f"平安 {code}", [f"Ping An {code}"], True), d

    def after(d: Doc) -> None:
        assert (d["short_name"], d["aliases"], d["active"]) == (
            f"平安财险 {code}", [f"PingAn P&C {code}"], False), d

    old, now = checked_as_of(client, url, auditor, first=first, then=first, change=change,
                             before=before, after=after)
    assert old["id"] == now["id"]
    # By its id too; another kind's id is no insurer at any moment.
    assert get(client, f"/insurers/{now['id']}", auditor,
               as_of=first.isoformat())["short_name"] == f"平安 {code}"
    other = post(client, "/customers", auth("advisor", stores=["S01"]), {
        "store_id": "S01", "name": "王伟", "phones": ["13900000003"]}, 201)["id"]
    assert client.get(f"/insurers/{other}", headers=auditor, params={
        "as_of": datetime.now(UTC).isoformat()}).status_code == 404


def test_a_campaign_as_of_a_moment_and_its_history(client: TestClient, auth: Auth,
                                                   store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    number = campaign(client, manager)
    url = f"/campaigns/{number}"
    post(client, f"{url}/vins", manager, {"vins": [new_vin()]})
    then = last_moment(client, url, auditor)
    first = datetime.fromisoformat(get(client, f"{url}/history", auditor)["items"][0]
                                   ["actor"]["at"])

    def change() -> None:
        post(client, f"{url}/vins", manager, {"vins": [new_vin(), new_vin()]})
        post(client, f"{url}/close", manager, {"reason": "the OEM closed the campaign"})

    def before(d: Doc) -> None:
        assert (d["affected"], d["closed"], d["version"]) == (1, False, 2), d

    def after(d: Doc) -> None:
        assert (d["affected"], d["closed"], d["close_reason"]) == (
            3, True, "the OEM closed the campaign"), d

    old, _ = checked_as_of(client, url, auditor, first=first, then=then, change=change,
                           before=before, after=after)
    assert old["done"] == old["on_file"] == old["not_done_on_file"] == 0
    # The history: registered, two chunks of VINs, closed; who and why, paged.
    history = get(client, f"{url}/history", auditor, limit=2, offset=2)
    assert history["total"] == 4 and len(history["items"]) == 2
    assert history["items"][-1]["reason"] == "the OEM closed the campaign"
    assert client.get(f"{url}/history", headers=auth("technician")).status_code == 403
    unknown = client.get("/campaigns/RC-NONE-0/history", headers=auditor)
    assert unknown.status_code == 404
