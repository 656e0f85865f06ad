"""The OEM is one payer in `/receivables` however the vehicle's brand was typed: the warranty
bill's payer is the brand as typed on the vehicle, and "Volkswagen", "volkswagen ",
"VOLKSWAGEN" and full-width "ＶＯＬＫＳＷＡＧＥＮ" made four groups, the OEM's open warranty
claims and their aging split across them. (The internal bill, the store paying itself, is
never a receivable: its department makes no group.)"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from servicecore.container import Container
from tests.e2e.test_money_api import ready_for_settlement
from tests.e2e.test_parts_api import Auth, get, head, post
from tests.integration.audit_support import new_vin
from workers.view_verify import verify_view

ZERO = {"days_0_30": "0.00", "days_31_60": "0.00", "days_61_90": "0.00", "days_over_90": "0.00"}


def settled_warranty(client: TestClient, auth: Auth, store_id: str,
                     brand: str) -> dict[str, Any]:
    """A visit of a car whose brand was typed as `brand`, with a warranty labor line (150.00
    the OEM owes), settled: the customer's bill paid, the OEM's left open."""
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    _, wo_id = ready_for_settlement(client, auth, store_id, warranty_labor=True,
                                    vin=new_vin(), brand=brand)
    sid = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)["id"]
    confirmed = post(client, f"/settlements/{sid}/confirmation", cashier)
    paid = post(client, "/payments", cashier, {
        "work_order_id": wo_id, "method": "cash",
        "amount": confirmed["bills"]["customer"]["outstanding"]}, 201)
    assert paid["settled"] is True
    return {"settlement_number": confirmed["number"], "work_order_id": wo_id,
            "outstanding": confirmed["bills"]["warranty"]["outstanding"]}


def test_a_brands_typed_forms_are_one_oem_with_all_its_warranty_bills(
        client: TestClient, auth: Auth, store_id: str, container: Container) -> None:
    # Four cars of one make, the brand typed four ways at reception; the last full-width.
    typed = ("Volkswagen", "volkswagen ", "VOLKSWAGEN", "ＶＯＬＫＳＷＡＧＥＮ")
    vw = [settled_warranty(client, auth, store_id, brand) for brand in typed]
    # Another make is another payer.
    audi = settled_warranty(client, auth, store_id, "Audi")
    finance = auth("finance", "fin-" + store_id, [store_id])
    later = datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=40)
    owed = get(client, "/receivables", finance, kind="warranty", aged_on=later.isoformat(),
               wait_for=head(client))
    groups = {g["payer_key"]: g for g in owed["items"]}
    assert sorted(groups) == ["audi", "volkswagen"]
    for key, visits in (("volkswagen", vw), ("audi", [audi])):
        group = groups[key]
        owes = sum(Decimal(v["outstanding"]) for v in visits)
        assert Decimal(group["outstanding"]) == owes
        assert group["open_bills_count"] == len(visits)
        assert sorted(b["settlement_number"] for b in group["open_bills"]) == sorted(
            v["settlement_number"] for v in visits)
        # Aged as one debt: every bill 40 days old on the day asked.
        assert group["oldest_age_days"] == 40
        assert group["aging"] == {**ZERO, "days_31_60": group["outstanding"]}
    assert groups["volkswagen"]["outstanding"] == "600.00"  # 4 × 150.00
    assert owed["total"] == 2 and owed["outstanding"] == "750.00"
    assert owed["aging"] == {**ZERO, "days_31_60": "750.00"}
    # The name shown is the one on the latest settled bill, in the kept form; every VIN shows.
    vw_group = groups["volkswagen"]
    assert vw_group["payer"] == {"oem": "VOLKSWAGEN"}
    assert vw_group["names_typed"] == ["VOLKSWAGEN", "Volkswagen", "volkswagen"]
    assert len({b["vin"] for b in vw_group["open_bills"]}) == 4
    # Narrowed to the OEM by any of its typed forms, or by its key.
    for form in (*typed, " Volkswagen  ", "volkswagen"):
        one = get(client, "/receivables", finance, payer_key=form)
        assert [(g["kind"], g["payer_key"], g["outstanding"]) for g in one["items"]] == [
            ("warranty", "volkswagen", "600.00")], form

    # The finance view keeps the key it listed by: it equals its rebuild from event 0.
    view = next(v for v in container.views if v.name == "finance")
    check = verify_view(container.app, container.pool, view)
    assert check.ok, check.as_dict()


def test_an_oem_bill_shows_its_claim_number_and_status_at_the_oem(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """Chasing the OEM, each open warranty bill is matched to its claim by the OEM's number:
    the one sent shows it, the one not sent yet says so."""
    clerk = auth("advisor", "warranty-clerk", [store_id])
    sent, unsent = (settled_warranty(client, auth, store_id, "Skoda") for _ in range(2))
    claim = f"/work-orders/{sent['work_order_id']}/warranty-claim"
    post(client, f"{claim}/submission", clerk, {"oem_claim_number": "SK-2026-0042"}, 201)
    post(client, f"{claim}/rejection", clerk, {"reason_code": "R-2", "reason": "no photo"})
    finance = auth("finance", "fin-" + store_id, [store_id])
    [group] = get(client, "/receivables", finance, kind="warranty", payer_key="Skoda",
                  store_id=store_id, wait_for=head(client))["items"]
    bills = {b["settlement_number"]: b for b in group["open_bills"]}
    assert (bills[sent["settlement_number"]]["claim_number"],
            bills[sent["settlement_number"]]["claim_status"]) == ("SK-2026-0042", "rejected")
    assert (bills[unsent["settlement_number"]]["claim_number"],
            bills[unsent["settlement_number"]]["claim_status"]) == (None, "not_submitted")
