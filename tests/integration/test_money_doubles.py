"""A transaction is money once: the same card slip or provider transaction id is not recorded
twice, even without an Idempotency-Key; the same statement is not imported twice; an
auto-match does a bounded amount of work per command."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from domain import reconciling
from domain.application import CommandResult
from domain.cashier_day import CashierDay
from domain.payment_reference import ReferenceTaken
from domain.settlement import Settlement
from servicecore.container import Container
from tests.integration.support import Auth, head, load, together
from tests.integration.test_money_support import (
    draft,
    ready_visit,
    req,
    second_process,
    today,
)


def confirmed(container: Container, store_id: str) -> tuple[UUID, UUID]:
    """A visit with a confirmed 450.00 customer bill: (work order, settlement)."""
    work_order_id = ready_visit(container, store_id)
    settlement_id = draft(container, store_id, work_order_id)
    container.settlements.confirm(req(store_id), settlement_id)
    return work_order_id, settlement_id


def test_a_double_tapped_card_slip_is_refused_on_the_same_settlement(
        container: Container, store_id: str) -> None:
    work_order_id, settlement_id = confirmed(container, store_id)
    pay = container.settlements.pay
    # 200.00 of 450.00 by card; the cashier taps again: 400.00 is still under the bill
    first = pay(req(store_id), work_order_id=work_order_id, method="bank_card",
                amount="200.00", provider_ref="SLIP-000123").body
    before = head(container.app)

    with pytest.raises(ReferenceTaken) as refused:
        pay(req(store_id), work_order_id=work_order_id, method="bank_card", amount="200.00",
            provider_ref=" SLIP-000123 ")

    assert refused.value.extra["payment_id"] == first["payment_id"]
    assert refused.value.extra["settlement_id"] == str(settlement_id)
    assert head(container.app) == before  # nothing written
    settlement = load(container.app, Settlement, settlement_id)
    assert [p["payment_id"] for p in settlement.payments.values()] == [first["payment_id"]]
    day = load(container.app, CashierDay,
               CashierDay.create_id(store_id, f"cashier-{store_id}", today()))
    assert str(day.totals["bank_card"]) == "200.00"

    # another slip, the same slip number by another method, and cash twice: all taken
    pay(req(store_id), work_order_id=work_order_id, method="bank_card", amount="100.00",
        provider_ref="SLIP-000124")
    pay(req(store_id), work_order_id=work_order_id, method="wechat_pay", amount="50.00",
        provider_ref="SLIP-000123")
    pay(req(store_id), work_order_id=work_order_id, method="cash", amount="50.00")
    pay(req(store_id), work_order_id=work_order_id, method="cash", amount="50.00")
    assert load(container.app, Settlement, settlement_id).status == "settled"


def test_a_reference_taken_on_one_visit_is_refused_on_another_of_the_store(
        container: Container, store_id: str) -> None:
    other_store_id = "T" + uuid4().hex[:6].upper()
    first_wo, first_settlement = confirmed(container, store_id)
    second_wo, second_settlement = confirmed(container, store_id)
    elsewhere_wo, _ = confirmed(container, other_store_id)
    ref = f"4200001234{store_id}"
    taken = container.settlements.pay(req(store_id), work_order_id=first_wo, method="wechat_pay",
                                      amount="100.00", provider_ref=ref).body
    number = load(container.app, Settlement, first_settlement).work_order_number

    with pytest.raises(ReferenceTaken) as refused:
        container.settlements.pay(req(store_id), work_order_id=second_wo, method="wechat_pay",
                                  amount="100.00", provider_ref=ref)

    assert refused.value.extra == {"payment_id": taken["payment_id"],
                                   "settlement_id": str(first_settlement),
                                   "work_order_number": number}
    assert load(container.app, Settlement, second_settlement).payments == {}
    # another store's terminal numbers its own transactions
    container.settlements.pay(req(other_store_id), work_order_id=elsewhere_wo,
                              method="wechat_pay", amount="100.00", provider_ref=ref)


def test_two_processes_taking_one_reference_at_once_store_it_once(
        container: Container, database_url: str, tmp_path: Path, store_id: str) -> None:
    visits = [confirmed(container, store_id)[0] for _ in range(2)]
    other = second_process(database_url, tmp_path)
    try:
        processes = (container, other)
        # two cashiers, one in each API process, key in the same slip number on two visits
        results = together(2, lambda i: processes[i].settlements.pay(
            req(store_id, user=f"cash-{i}"), work_order_id=visits[i], method="bank_card",
            amount="100.00", provider_ref="SLIP-42"))
    finally:
        other.close()
    taken = [r for r in results if isinstance(r, CommandResult)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(taken) == 1 and len(refused) == 1, results
    assert isinstance(refused[0], ReferenceTaken), refused
    assert refused[0].extra["payment_id"] == taken[0].body["payment_id"]
    loser = results.index(refused[0])
    assert load(container.app, Settlement, Settlement.create_id(visits[loser])).payments == {}
    assert container.app.recorder.select_events(
        CashierDay.create_id(store_id, f"cash-{loser}", today())) == []


def test_a_retry_with_its_key_gets_the_first_answer_not_the_refusal(
        container: Container, store_id: str) -> None:
    work_order_id, _ = confirmed(container, store_id)
    first = container.settlements.pay(req(store_id, key="tap-1"), work_order_id=work_order_id,
                                      method="alipay", amount="100.00", provider_ref="ALI-77")
    again = container.settlements.pay(req(store_id, key="tap-1"), work_order_id=work_order_id,
                                      method="alipay", amount="100.00", provider_ref="ALI-77")
    assert again.replayed and again.body == first.body
    with pytest.raises(ReferenceTaken):
        container.settlements.pay(req(store_id, key="tap-2"), work_order_id=work_order_id,
                                  method="alipay", amount="100.00", provider_ref="ALI-77")


def test_the_api_answers_a_double_tap_with_409_naming_the_first_payment(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    work_order_id, settlement_id = confirmed(container, store_id)
    cashier = auth("cashier", f"cashier-{store_id}", [store_id])
    body = {"work_order_id": str(work_order_id), "method": "bank_card", "amount": "150.00",
            "provider_ref": "UP-889900"}
    first = client.post("/payments", headers=cashier, json=body)
    assert first.status_code in (200, 201), first.text

    second = client.post("/payments", headers=cashier, json=body)

    assert second.status_code == 409, second.text
    assert second.headers["content-type"].startswith("application/problem+json")
    problem = second.json()
    assert problem["payment_id"] == first.json()["payment_id"]
    assert problem["settlement_id"] == str(settlement_id)
    assert "UP-889900" in problem["detail"]


def import_csv(client: TestClient, headers: dict[str, str], store_id: str, csv: str,
               account: str = "工行 1001-2345") -> Any:
    return client.post("/reconciliation/statements", headers=headers, json={
        "store_id": store_id, "source": "bank", "account": account, "csv": csv})


def test_the_same_statement_imported_twice_is_refused_naming_the_first(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    finance = auth("finance", f"fin-{store_id}", [store_id])
    csv = (f"date,amount,reference,counterparty\n{today()},450.00,BK-1,王伟\n"
           f"{today()},120.00,BK-2,李娜\n")
    first = import_csv(client, finance, store_id, csv)
    assert first.status_code == 201, first.text
    before = head(container.app)

    # again as text, and as the bank's GBK file with Chinese headers: the same statement
    again = import_csv(client, finance, store_id, csv)
    as_file = client.post(
        "/reconciliation/statements/file", params={
            "store_id": store_id, "source": "bank", "account": "工行 1001-2345"},
        content=("交易日期,交易金额,交易流水号,对方户名\n" + csv.split("\n", 1)[1]).encode("gbk"),
        headers={**finance, "Content-Type": "text/csv"})

    for refused in (again, as_file):
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["statement_id"] == first.json()["id"]
    assert head(container.app) == before  # nothing written
    # another account's statement with the same lines is its own
    assert import_csv(client, finance, store_id, csv, "建行 6217-0001").status_code == 201
    # the first import retried with its key answers as the first time
    keyed = auth("finance", f"fin-{store_id}", [store_id], **{"Idempotency-Key": store_id})
    other = f"date,amount,reference,counterparty\n{today()},9.00,BK-9,王伟\n"
    made = import_csv(client, keyed, store_id, other)
    replayed = import_csv(client, keyed, store_id, other)
    assert replayed.status_code == 201 and replayed.json()["id"] == made.json()["id"]


def test_lines_of_an_overlapping_statement_are_flagged_with_where_they_came_first(
        client: TestClient, auth: Auth, store_id: str) -> None:
    finance = auth("finance", f"fin-{store_id}", [store_id])
    first = import_csv(client, finance, store_id, (
        f"date,amount,reference,counterparty\n{today()},450.00,BK-1,王伟\n"
        f"{today()},120.00,BK-2,李娜\n")).json()
    # the next file starts a day earlier than it should: BK-2 is in both
    second = import_csv(client, finance, store_id, (
        f"date,amount,reference,counterparty\n{today()},120.00,BK-2,李娜\n"
        f"{today()},300.00,BK-3,张敏\n"))
    assert second.status_code == 201, second.text

    view = client.get(f"/reconciliation/statements/{second.json()['id']}", headers=finance,
                      params={"wait_for": second.json()["notification_id"]}).json()

    flags = {ln["reference"]: ln["imported_before"] for ln in view["unmatched_lines"]}
    assert flags == {"BK-2": {"statement_id": first["id"], "line_no": 2}, "BK-3": None}


def test_an_auto_match_matches_a_bounded_chunk_and_says_what_is_left(
        client: TestClient, auth: Auth, container: Container, store_id: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reconciling, "MAX_AUTO_MATCH", 2)
    finance = auth("finance", f"fin-{store_id}", [store_id])
    work_order_id = ready_visit(container, store_id)
    refs = [f"WX-{store_id}-{n}" for n in range(3)]
    for ref in refs:  # three deposits by WeChat Pay
        container.settlements.pay(req(store_id), work_order_id=work_order_id,
                                  method="wechat_pay", amount="100.00", provider_ref=ref)
    imported = client.post("/reconciliation/statements", headers=finance, json={
        "store_id": store_id, "source": "wechat_pay", "csv": "date,amount,reference,counterparty\n"
        + "".join(f"{today()},100.00,{ref},王伟\n" for ref in refs)}).json()
    url = f"/reconciliation/statements/{imported['id']}/auto-match"

    first = client.post(url, headers=finance, json={},
                        params={"wait_for": imported["notification_id"]})
    assert first.status_code == 200, first.text
    assert (first.json()["matched"], first.json()["remaining"]) == (2, 1)
    second = client.post(url, headers=finance, json={},
                         params={"wait_for": first.json()["notification_id"]})
    assert (second.json()["matched"], second.json()["remaining"]) == (1, 0)
    done = client.post(url, headers=finance, json={},
                       params={"wait_for": second.json()["notification_id"]})
    assert done.status_code == 200, done.text
    assert (done.json()["matched"], done.json()["remaining"]) == (0, 0)
    settlement = load(container.app, Settlement, Settlement.create_id(work_order_id))
    assert all(p["reconciled"] for p in settlement.payments.values())
