"""A customer and a vehicle as they stood at a moment (`GET /customers/{id}?as_of=`,
`GET /vehicles/{vin}?as_of=`): consent given then withdrawn, a plate and an owner changed, each
answered as it was before, between and after; the future refused; a moment before the stream
404; the auditor's read of personal data recorded; an erased customer stays erased at every
moment."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from domain.pii import ERASED
from servicecore.demo import make_vin
from tests.e2e.test_as_of_future_api import future
from tests.e2e.test_parts_api import Auth, get, head, post


def moments(client: TestClient, headers: dict[str, str], url: str) -> list[datetime]:
    """Each event's business time (its audit stamp), oldest first."""
    items = get(client, f"{url}/history", headers)["items"]
    return [datetime.fromisoformat(e["actor"]["at"]) for e in items]


def reads(client: TestClient, headers: dict[str, str], customer_id: str) -> list[Any]:
    return get(client, "/audit/personal-data-reads", headers,  # type: ignore[no-any-return]
               customer_id=customer_id, wait_for=head(client))["items"]


def _consent(doc: dict[str, Any]) -> dict[str, tuple[bool, str | None]]:
    return {channel: (c["granted"], c["note"]) for channel, c in doc["consent"].items()}


def test_a_customer_consent_and_details_are_seen_as_they_stood_at_each_moment(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    phone = f"139{random.Random(store_id).randrange(10**8):08d}"
    cid = post(client, "/customers", advisor, {
        "store_id": store_id, "name": "王芳", "phones": [phone], "consents": ["sms"],
        "tags": ["prefers mornings"]}, 201)["id"]
    url = f"/customers/{cid}"
    post(client, f"{url}/consents", advisor, {"channel": "wechat", "granted": True,
                                               "note": "asked at the desk"})
    post(client, f"{url}/details", advisor, {"name": "王芳芳", "reason": "name misspelt"})
    post(client, f"{url}/consents", advisor, {"channel": "sms", "granted": False,
                                               "note": "no more texts, please"})
    post(client, f"{url}/tags/prefers-mornings/removal", advisor, {"reason": "works nights"})
    at = moments(client, manager, url)
    assert len(at) == 7  # registered, consent, tag; consent; details; withdrawal; untag

    def then(moment: datetime) -> dict[str, Any]:
        doc: dict[str, Any] = get(client, url, auditor, as_of=moment.isoformat())
        assert doc["id"] == cid and doc["store_id"] == store_id
        return doc

    registered = then(at[2])
    assert (registered["name"], registered["phones"]) == ("王芳", [phone])
    assert _consent(registered) == {"sms": (True, "given at registration")}
    assert registered["tags"] == ["prefers-mornings"] and registered["version"] == 3
    assert registered["erased"] is False and registered["points"]["balance"] == 0
    both = then(at[3])
    assert _consent(both) == {"sms": (True, "given at registration"),
                              "wechat": (True, "asked at the desk")}
    assert both["consent"]["wechat"]["by"] == "adv-" + store_id
    assert then(at[4])["name"] == "王芳芳" and then(at[3])["name"] == "王芳"
    # Between the withdrawal and now: SMS no longer consented, since when, and why.
    withdrawn = then(at[5] + (at[6] - at[5]) / 2)
    assert _consent(withdrawn) == {"sms": (False, "no more texts, please"),
                                   "wechat": (True, "asked at the desk")}
    assert datetime.fromisoformat(withdrawn["consent"]["sms"]["at"]) == at[5]
    assert withdrawn["tags"] == ["prefers-mornings"] and withdrawn["version"] == 6
    now = get(client, url, auditor, as_of=datetime.now(UTC).isoformat())
    assert now["tags"] == [] and now["version"] == 7
    current = get(client, url, auditor, wait_for=head(client))
    assert {k: now[k] for k in ("name", "phones", "consent", "tags")} == {
        k: current[k] for k in ("name", "phones", "consent", "tags")}

    # Before the registration there was no such customer; the future is not history.
    before = client.get(url, headers=auditor,
                        params={"as_of": (at[0] - timedelta(seconds=1)).isoformat()})
    assert before.status_code == 404 and "did not exist at" in before.json()["detail"]
    future(client, url, auditor, (datetime.now(UTC) + timedelta(hours=1)).isoformat())
    future(client, url, auditor, "2999-01-01")
    assert client.get(url, headers=auditor, params={"as_of": "yesterday"}).status_code == 422
    # A day is its end in the store's time zone: the day before her registration she was not
    # on file; today is now.
    zone = ZoneInfo("Asia/Shanghai")
    day_before = at[0].astimezone(zone).date() - timedelta(days=1)
    assert client.get(url, headers=auditor,
                      params={"as_of": day_before.isoformat()}).status_code == 404
    today = datetime.now(zone).date()
    assert get(client, url, auditor, as_of=today.isoformat())["version"] == 7
    # Another store's token does not see them, then or now.
    stranger = auth("auditor", "aud-x", [store_id + "X"])
    assert client.get(url, headers=stranger,
                      params={"as_of": at[6].isoformat()}).status_code == 404

    # Each of the auditor's replays showed her name: each is a recorded read.
    recorded = [r for r in reads(client, auditor, cid)
                if r["purpose"] == "customer as of a moment"]
    assert len(recorded) == 7 and {r["user_id"] for r in recorded} == {"aud-" + store_id}

    # Erased: no moment brings her name or phone back; the consent history stays; reading
    # the erased customer records nothing.
    post(client, f"{url}/erasure", manager, {"reason": "PIPL request"})
    counted = len(reads(client, auditor, cid))
    old = then(at[3])
    assert (old["name"], old["phones"], old["wechat_id"]) == (ERASED, [ERASED], ERASED)
    assert phone not in str(old) and "王芳" not in str(old)
    assert _consent(old) == {"sms": (True, "given at registration"),
                             "wechat": (True, "asked at the desk")}
    assert old["erased"] is False  # not yet erased then; its data is gone now all the same
    assert then(datetime.now(UTC))["erased"] is True
    assert len(reads(client, auditor, cid)) == counted


def test_a_vehicle_owner_and_plate_are_seen_as_they_stood_at_each_moment(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    rng = random.Random(store_id)
    vin = make_vin(rng)
    first = "沪B" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(5))
    second = "沪C" + first[2:]
    seller = post(client, "/customers", advisor, {
        "store_id": store_id, "name": "李雷", "phones": ["13900000001"]}, 201)["id"]
    buyer = post(client, "/customers", advisor, {
        "store_id": store_id, "name": "韩梅梅", "phones": ["13900000002"]}, 201)["id"]
    url = f"/vehicles/{vin}"
    missing = client.get(url, headers=auditor, params={"as_of": datetime.now(UTC).isoformat()})
    assert missing.status_code == 404  # not registered (yet)
    post(client, "/vehicles", advisor, {
        "store_id": store_id, "vin": vin, "plate": first, "brand": "Volkswagen",
        "model": "Lavida", "year": 2022, "sale_date": "2022-06-01", "owner_id": seller}, 201)
    post(client, f"{url}/plate", advisor, {"plate": second, "reason": "moved to Shanghai C"})
    post(client, f"{url}/owner", advisor, {"customer_id": buyer, "reason": "sold privately"})
    at = moments(client, advisor, url)
    assert len(at) == 3

    def then(moment: datetime) -> dict[str, Any]:
        doc: dict[str, Any] = get(client, url, auditor, as_of=moment.isoformat())
        assert doc["vin"] == vin and doc["store_id"] == store_id
        return doc

    registered = then(at[0])
    assert (registered["plate"], registered["owner_id"], registered["owner_name"]) == (
        first, seller, "李雷")
    assert (registered["brand"], registered["model"], registered["year"],
            registered["sale_date"]) == ("Volkswagen", "Lavida", 2022, "2022-06-01")
    replated = then(at[1] + (at[2] - at[1]) / 2)
    assert (replated["plate"], replated["owner_id"]) == (second, seller)
    assert [(p["plate"], p["source"]) for p in replated["plates"]] == [
        (first, "registration"), (second, "plate change")]
    sold = then(at[2])
    assert (sold["plate"], sold["owner_id"], sold["owner_name"]) == (second, buyer, "韩梅梅")
    assert [(o["customer_id"], o["name"], o["source"], o["reason"]) for o in sold["owners"]] == [
        (seller, "李雷", "registration", None), (buyer, "韩梅梅", "ownership change",
                                                  "sold privately")]
    # The file now says the same of plate and owner.
    current = get(client, url, auditor, wait_for=head(client))
    assert (current["plate"], current["owner_id"]) == (sold["plate"], sold["owner_id"])

    before = client.get(url, headers=auditor,
                        params={"as_of": (at[0] - timedelta(seconds=1)).isoformat()})
    assert before.status_code == 404 and "did not exist at" in before.json()["detail"]
    future(client, url, auditor, (datetime.now(UTC) + timedelta(minutes=5)).isoformat())
    stranger = auth("auditor", "aud-x", [store_id + "X"])
    assert client.get(url, headers=stranger,
                      params={"as_of": at[2].isoformat()}).status_code == 404
    # The owners' names were shown: the auditor's reads are recorded, for the seller on
    # each replay and for the buyer once (the last).
    purpose = "vehicle file as of a moment"
    assert len([r for r in reads(client, auditor, seller) if r["purpose"] == purpose]) == 3
    assert len([r for r in reads(client, auditor, buyer) if r["purpose"] == purpose]) == 1

    # The seller asks to be erased: the car's past owner reads as erased at every moment, and
    # showing that is no read of his data.
    post(client, f"/customers/{seller}/erasure", auth("manager", stores=[store_id]),
         {"reason": "PIPL request"})
    counted = len(reads(client, auditor, seller))
    registered = then(at[0])
    assert (registered["owner_id"], registered["owner_name"]) == (seller, ERASED)
    assert [o["name"] for o in then(at[2])["owners"]] == [ERASED, "韩梅梅"]
    assert len(reads(client, auditor, seller)) == counted
