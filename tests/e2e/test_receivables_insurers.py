"""One insurer is one payer in `/receivables` however the cashier typed its name: there is no
list of insurers, and "Ping An", "ping an ", "PING  AN" and full-width "ＰＩＮＧ　ＡＮ" made four
groups, the insurer's balance split across them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_insurance_bill_api import body_shop_visit
from tests.e2e.test_parts_api import Auth, get, head, post
from tests.integration.audit_support import new_vin


def settled_claim(client: TestClient, auth: Auth, store_id: str, insurer: str, claim: str,
                  assessed: bool = True, retyped: str | None = None) -> dict[str, Any]:
    """A body-shop visit settled with the insurer directly, the customer's bill paid: the
    insurer owes 700.00 under its assessment (900.00 approved, 200.00 deductible), or the
    1,050.00 of insurance work when the cashier names the insurer on the draft instead;
    `retyped`: the assessment's insurer typed otherwise on the draft as well."""
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    wo_id = body_shop_visit(client, auth, store_id, vin=new_vin())
    named = {"insurer": insurer, "claim_number": claim}
    draft: dict[str, Any] = {"work_order_id": wo_id}
    if assessed:
        post(client, f"/work-orders/{wo_id}/insurance-assessment", advisor, {
            **named, "approved_amount": "900.00", "deductible": "200.00"})
    if not assessed or retyped:
        draft["insurance"] = {**named, "insurer": retyped or insurer}
    sid = post(client, "/settlements", cashier, draft, 201)["id"]
    confirmed = post(client, f"/settlements/{sid}/confirmation", cashier)
    paid = post(client, "/payments", cashier, {
        "work_order_id": wo_id, "method": "cash",
        "amount": confirmed["bills"]["customer"]["outstanding"]}, 201)
    assert paid["settled"] is True
    return {"settlement_id": sid, "settlement_number": confirmed["number"],
            "outstanding": confirmed["bills"]["insurance"]["outstanding"]}


def test_an_insurers_typed_names_are_one_group_with_all_its_bills(
        client: TestClient, auth: Auth, store_id: str) -> None:
    # Four visits of one insurer, its name typed four ways; the last on the draft itself.
    ping_an = [settled_claim(client, auth, store_id, name, f"PA-{n}")
               for n, name in enumerate(("Ping An", "ping an "))]
    # Named on the draft too, typed otherwise: the assessment's insurer all the same.
    ping_an.append(settled_claim(client, auth, store_id, "ＰＩＮＧ　ＡＮ", "PA-2",
                                 retyped=" Ping an"))
    ping_an.append(settled_claim(client, auth, store_id, "PING  AN", "PA-3", assessed=False))
    # The Chinese name with a stray space, and another insurer.
    chinese = [settled_claim(client, auth, store_id, name, f"ZG-{n}")
               for n, name in enumerate(("中国平安", " 中国平安 "))]
    picc = settled_claim(client, auth, store_id, "PICC", "PICC-1")
    finance = auth("finance", "fin-" + store_id, [store_id])
    owed = get(client, "/receivables", finance, kind="insurance", wait_for=head(client))
    groups = {g["payer_key"]: g for g in owed["items"]}
    assert sorted(groups) == ["picc", "ping an", "中国平安"]
    for key, visits in (("ping an", ping_an), ("中国平安", chinese), ("picc", [picc])):
        group = groups[key]
        assert Decimal(group["outstanding"]) == sum(Decimal(v["outstanding"]) for v in visits)
        assert group["open_bills_count"] == len(visits)
        assert sorted(b["settlement_number"] for b in group["open_bills"]) == sorted(
            v["settlement_number"] for v in visits)
    assert groups["ping an"]["outstanding"] == "3150.00"  # 3 × 700.00 + 1,050.00
    # The name shown is the one typed last, without its stray spaces.
    assert groups["ping an"]["payer"] == {"insurer": "PING AN"}
    assert groups["中国平安"]["payer"] == {"insurer": "中国平安"}
    assert owed["total"] == 3 and owed["outstanding"] == "5250.00"
    # Narrowed to one insurer by any of its typed forms, or by its key.
    for typed in ("ＰＩＮＧ　ＡＮ", "ping an", " Ping  An"):
        one = get(client, "/receivables", finance, payer_key=typed)
        assert [(g["payer_key"], g["outstanding"]) for g in one["items"]] == [
            ("ping an", "3150.00")], typed
