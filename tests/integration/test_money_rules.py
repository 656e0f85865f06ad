"""Money rules that hold across commands, not just within one."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from domain.common import InvalidInput, NotPermitted
from domain.settlement import Settlement
from servicecore.container import Container
from servicecore.demo_catalog import ZONE
from tests.integration.support import Auth, load, post
from tests.integration.test_money_support import (
    draft,
    events_of,
    ready_visit,
    req,
    today,
    version_of,
)


def test_split_discounts_do_not_bypass_the_managers_approval(container: Container,
                                                             store_id: str) -> None:
    # A 450.00 customer bill: a cashier may give up to 45.00 (10 %) on their own.
    work_order_id = ready_visit(container, store_id)
    settlement_id = draft(container, store_id, work_order_id)
    settlements = container.settlements
    settlements.discount(req(store_id), settlement_id, bill="customer", amount="45.00",
                         reason="member's discount")

    # Another 45.00, alone under the threshold, takes the bill's discount to 20 %: like 90.00
    # at once, it needs a manager (with a reason). Line by line the same holds.
    for amount, line_id in (("45.00", None), ("90.00", None), ("1.00", "L1")):
        with pytest.raises(NotPermitted):
            settlements.discount(req(store_id), settlement_id, bill="customer", amount=amount,
                                 line_id=line_id)
    assert load(container.app, Settlement, settlement_id).bills["customer"]["discount"] == \
        Decimal("45.00")
    settlements.discount(req(store_id, "manager"), settlement_id, bill="customer",
                         amount="45.00", reason="loyal customer")
    bill = load(container.app, Settlement, settlement_id).bills["customer"]
    assert (bill["discount"], bill["total"]) == (Decimal("90.00"), Decimal("360.00"))


def test_auto_match_with_a_duplicated_statement_line_still_matches_once(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    finance_user = auth("finance", f"fin-{store_id}", [store_id])
    work_order_id = ready_visit(container, store_id)
    settlement_id = draft(container, store_id, work_order_id)
    container.settlements.confirm(req(store_id), settlement_id)
    ref = f"ALI-{store_id}"
    container.settlements.pay(req(store_id), work_order_id=work_order_id, method="alipay",
                              amount="450.00", provider_ref=ref)
    # The provider's export repeats the line (it happens); the payment exists once.
    imported = post(client, "/reconciliation/statements", finance_user, {
        "store_id": store_id, "source": "alipay",
        "csv": f"date,amount,reference,counterparty\n{today()},450.00,{ref},王伟\n"
               f"{today()},450.00,{ref},王伟\n"}, 201)
    url = f"/reconciliation/statements/{imported['id']}"
    client.get(url, headers=finance_user, params={"wait_for": imported["notification_id"]})

    matched = client.post(f"{url}/auto-match", headers=finance_user, json={})

    assert matched.status_code == 200, matched.text
    assert matched.json()["matched"] == 1
    payment = next(iter(load(container.app, Settlement, settlement_id).payments.values()))
    assert payment["reconciled"] is not None


def test_a_correction_into_a_closed_day_says_why(container: Container, store_id: str) -> None:
    """Money found for a day already closed is booked as a correction of it: an auditor asks
    why the drawer of that day did not hold it, so the correction needs a reason, kept on the
    payment's event beside who and when."""
    st = container.settlements
    work_order_id = ready_visit(container, store_id)
    settlement_id = draft(container, store_id, work_order_id)
    st.confirm(req(store_id), settlement_id)
    yesterday = (datetime.now(ZONE).date() - timedelta(days=1)).isoformat()
    st.close_day(req(store_id), store_id=store_id, business_date=yesterday, counted_cash="0.00")
    before = version_of(container, settlement_id)
    for reason in (None, "  "):
        with pytest.raises(InvalidInput, match="reason"):
            st.pay(req(store_id), work_order_id=work_order_id, method="cash", amount="50.00",
                   correction_of=yesterday, reason=reason)
    assert version_of(container, settlement_id) == before  # nothing stored
    st.pay(req(store_id), work_order_id=work_order_id, method="cash", amount="50.00",
           correction_of=yesterday, reason="cash found under the drawer tray at day-end")
    [taken] = [e for e in events_of(container, settlement_id)
               if isinstance(e, Settlement.PaymentTaken)]
    assert (taken.payment["correction_of"], taken.reason) == (
        yesterday, "cash found under the drawer tray at day-end")
    # An ordinary payment needs none.
    st.pay(req(store_id), work_order_id=work_order_id, method="cash", amount="10.00")
