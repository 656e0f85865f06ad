"""A red-letter invoice (红字发票) has its own number from the store's invoice series: it is used
once in the store, blue and red together, and only on a credit against an invoiced bill; a
credit rejected lets its number go to the next use."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from domain.application import CommandResult
from domain.common import InvalidInput
from domain.integration_events import IntegrationMapper
from domain.invoice_number import InvoiceNumber, InvoiceNumberTaken, RedInvoiceNumber
from domain.settlement import Settlement
from servicecore.container import Container
from tests.integration.support import Auth, head, load, together
from tests.integration.test_money_doubles import confirmed
from tests.integration.test_money_support import req, second_process


def invoiced(container: Container, store_id: str, invoice_no: str | None) -> tuple[UUID, str]:
    """A visit settled in cash (450.00), its customer bill invoiced when a number is given:
    (settlement, payment)."""
    work_order_id, settlement_id = confirmed(container, store_id)
    paid = container.settlements.pay(req(store_id), work_order_id=work_order_id, method="cash",
                                     amount="450.00").body
    assert paid["settled"] is True
    if invoice_no is not None:
        container.settlements.record_invoice(req(store_id), settlement_id, bill="customer",
                                             invoice_no=invoice_no)
    return settlement_id, paid["payment_id"]


def credit(container: Container, store_id: str, settlement_id: UUID, payment_id: str,
           red: str | None, **kwargs: object) -> CommandResult:
    return container.settlements.request_refund(
        req(store_id, **kwargs), settlement_id, payment_id=payment_id, amount="50.00",
        reason="goodwill: waiting time", kind="credit", red_invoice_number=red)


def unique() -> str:
    return "44" + uuid4().hex[:12].upper()


def test_a_red_number_equal_to_a_blue_one_or_used_twice_is_refused_naming_its_first_use(
        container: Container, store_id: str) -> None:
    blue, red = unique(), unique()
    first, first_payment = invoiced(container, store_id, blue)
    second, second_payment = invoiced(container, store_id, unique())
    number = load(container.app, Settlement, first).number
    before = head(container.app)

    # the credit's red number keyed as the blue invoice it cancels
    with pytest.raises(InvoiceNumberTaken) as as_blue:
        credit(container, store_id, first, first_payment, blue)

    assert as_blue.value.extra["settlement_id"] == str(first)
    assert "refund_id" not in as_blue.value.extra  # the blue invoice had it first
    assert head(container.app) == before  # nothing written: no refund, no reservation
    assert load(container.app, Settlement, first).refunds == {}

    asked = credit(container, store_id, first, first_payment, f" {red} ").body
    reserved = load(container.app, RedInvoiceNumber, InvoiceNumber.create_id(store_id, red))
    assert (reserved.refund_id, reserved.cancels, reserved.settlement_id) == (
        asked["refund_id"], blue, first)
    # an internal stream, as the blue reservations: never published to Kafka
    (stored,) = container.app.recorder.select_events(reserved.id)
    assert IntegrationMapper(container.app.mapper).to_message(1, stored) is None
    before = head(container.app)

    # the same red number on another visit's credit, and as a blue invoice
    with pytest.raises(InvoiceNumberTaken) as again:
        credit(container, store_id, second, second_payment, red)
    third, _ = invoiced(container, store_id, None)
    mid = head(container.app)
    with pytest.raises(InvoiceNumberTaken) as as_red:
        container.settlements.record_invoice(req(store_id), third, bill="customer",
                                             invoice_no=red)

    assert again.value.extra == {
        "invoice_no": red, "bill": "customer", "settlement_id": str(first),
        "settlement_number": number, "work_order_number": reserved.work_order_number,
        "refund_id": asked["refund_id"], "cancels": blue}
    assert asked["refund_id"] in str(again.value) and "red-letter" in str(again.value)
    assert as_red.value.extra["refund_id"] == asked["refund_id"]
    assert load(container.app, Settlement, second).refunds == {}
    assert load(container.app, Settlement, third).bills["customer"]["invoice_no"] is None
    assert head(container.app) == mid and before < mid  # only the third visit was written
    # another store numbers its own invoices
    elsewhere = "T" + uuid4().hex[:6].upper()
    other, other_payment = invoiced(container, elsewhere, blue)
    credit(container, elsewhere, other, other_payment, red)


def reject(container: Container, store_id: str, settlement_id: UUID,
           refund_id: str) -> CommandResult:
    return container.settlements.decide_refund(
        req(store_id, "manager"), settlement_id, refund_id, approve=False,
        reason="amount not agreed with the customer")


def test_a_rejected_credit_lets_its_red_number_go_to_the_corrected_credit(
        container: Container, store_id: str) -> None:
    """The credit is rejected (the amount was wrong); the tax system's red-letter invoice is
    then issued for the corrected credit, with the number the cashier keyed the first time."""
    red = unique()
    settlement_id, payment_id = invoiced(container, store_id, unique())
    rejected = credit(container, store_id, settlement_id, payment_id, red).body["refund_id"]
    reject(container, store_id, settlement_id, rejected)

    corrected = credit(container, store_id, settlement_id, payment_id, red).body["refund_id"]

    held = load(container.app, RedInvoiceNumber, InvoiceNumber.create_id(store_id, red))
    assert (held.refund_id, held.released) == (corrected, False)
    # the number is the corrected credit's now, pending as approved: a third use is refused
    # naming it, and rejecting the first credit again changes nothing
    with pytest.raises(InvoiceNumberTaken) as pending:
        credit(container, store_id, settlement_id, payment_id, red)
    assert pending.value.extra["refund_id"] == corrected
    container.settlements.decide_refund(req(store_id, "manager"), settlement_id, corrected,
                                        approve=True)
    other, _ = invoiced(container, store_id, None)
    with pytest.raises(InvoiceNumberTaken) as approved:
        container.settlements.record_invoice(req(store_id), other, bill="customer",
                                             invoice_no=red)
    assert approved.value.extra["refund_id"] == corrected


def test_a_released_red_number_may_be_a_blue_invoice_and_is_then_refused_as_one(
        container: Container, store_id: str) -> None:
    red = unique()
    settlement_id, payment_id = invoiced(container, store_id, unique())
    rejected = credit(container, store_id, settlement_id, payment_id, red).body["refund_id"]
    reject(container, store_id, settlement_id, rejected)
    other, other_payment = invoiced(container, store_id, None)

    container.settlements.record_invoice(req(store_id), other, bill="customer", invoice_no=red)

    with pytest.raises(InvoiceNumberTaken) as taken:
        credit(container, store_id, settlement_id, payment_id, red)
    assert taken.value.extra["settlement_id"] == str(other)
    assert "refund_id" not in taken.value.extra and "red-letter" not in str(taken.value)
    # a blue number is never let go: a credit on its bill rejected keeps it the bill's
    second_red = unique()
    asked = credit(container, store_id, other, other_payment, second_red).body["refund_id"]
    reject(container, store_id, other, asked)
    with pytest.raises(InvoiceNumberTaken):
        credit(container, store_id, settlement_id, payment_id, red)


def test_two_processes_taking_a_released_red_number_at_once_store_it_once(
        container: Container, database_url: str, tmp_path: Path, store_id: str) -> None:
    red = unique()
    settlement_id, payment_id = invoiced(container, store_id, unique())
    rejected = credit(container, store_id, settlement_id, payment_id, red).body["refund_id"]
    reject(container, store_id, settlement_id, rejected)
    blue_visit, _ = invoiced(container, store_id, None)
    other = second_process(database_url, tmp_path)
    try:
        # the corrected credit in one process, the same number keyed as a blue invoice in
        # another, saved at the same instant
        results = together(2, lambda i: credit(
            container, store_id, settlement_id, payment_id, red, user="cash-0") if i == 0
            else other.settlements.record_invoice(req(store_id, user="cash-1"), blue_visit,
                                                  bill="customer", invoice_no=red))
    finally:
        other.close()
    won = [r for r in results if isinstance(r, CommandResult)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(won) == 1 and len(refused) == 1, results
    assert isinstance(refused[0], InvoiceNumberTaken), refused
    held = load(container.app, InvoiceNumber, InvoiceNumber.create_id(store_id, red))
    if results.index(won[0]) == 0:  # the credit won: the bill has no invoice
        assert held.refund_id == won[0].body["refund_id"]
        assert refused[0].extra["refund_id"] == held.refund_id
        assert load(container.app, Settlement, blue_visit).bills["customer"][
            "invoice_no"] is None
    else:  # the blue invoice won: no corrected credit was stored
        assert (held.refund_id, held.settlement_id) == (None, blue_visit)
        assert list(load(container.app, Settlement, settlement_id).refunds) == [rejected]
    assert not held.released
    # reserved, released, taken again: one taker's event after the release
    assert len(container.app.recorder.select_events(InvoiceNumber.create_id(store_id, red))) == 3


def test_a_release_and_a_claim_racing_never_both_hold_the_number(
        container: Container, database_url: str, tmp_path: Path, store_id: str) -> None:
    """The rejection lets the number go in the save that rejects; a claim at the same instant
    either saw it held (409 naming the rejected credit) or takes it after the release."""
    red = unique()
    settlement_id, payment_id = invoiced(container, store_id, unique())
    asked = credit(container, store_id, settlement_id, payment_id, red).body["refund_id"]
    blue_visit, _ = invoiced(container, store_id, None)
    other = second_process(database_url, tmp_path)
    try:
        results = together(2, lambda i: reject(container, store_id, settlement_id, asked)
                           if i == 0 else other.settlements.record_invoice(
                               req(store_id, user="cash-1"), blue_visit, bill="customer",
                               invoice_no=red))
    finally:
        other.close()
    assert isinstance(results[0], CommandResult), results
    held = load(container.app, InvoiceNumber, InvoiceNumber.create_id(store_id, red))
    invoice = load(container.app, Settlement, blue_visit).bills["customer"]["invoice_no"]
    if isinstance(results[1], CommandResult):  # after the release
        assert (held.settlement_id, held.refund_id, held.released, invoice) == (
            blue_visit, None, False, red)
    else:  # before it: refused naming the credit, which has let it go since
        assert isinstance(results[1], InvoiceNumberTaken), results
        assert results[1].extra["refund_id"] == asked
        assert (held.refund_id, held.released, invoice) == (asked, True, None)
        container.settlements.record_invoice(req(store_id), blue_visit, bill="customer",
                                             invoice_no=red)


def test_a_red_number_is_reserved_only_for_a_credit_on_an_invoiced_bill(
        container: Container, store_id: str) -> None:
    red = unique()
    plain, plain_payment = invoiced(container, store_id, None)
    billed, billed_payment = invoiced(container, store_id, unique())
    reservation = InvoiceNumber.create_id(store_id, red)

    with pytest.raises(InvalidInput, match="no tax invoice"):
        credit(container, store_id, plain, plain_payment, red)
    with pytest.raises(InvalidInput, match="red-letter"):
        container.settlements.request_refund(
            req(store_id), billed, payment_id=billed_payment, amount="50.00",
            reason="returned part", kind="payment_return", red_invoice_number=red)

    assert container.app.recorder.select_events(reservation) == []
    credit(container, store_id, billed, billed_payment, red)  # still free


def test_a_credit_missing_or_misplacing_its_red_number_names_the_field(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    """The cashier's form marks `red_invoice_number`: asked for on an invoiced bill (with the
    blue number it writes off), refused on a bill without a tax invoice."""
    blue = unique()
    billed, billed_payment = invoiced(container, store_id, blue)
    plain, plain_payment = invoiced(container, store_id, None)
    cashier = auth("cashier", f"cashier-{store_id}", [store_id])
    before = head(container.app)

    missing = client.post("/refunds", headers=cashier, json={
        "settlement_id": str(billed), "payment_id": billed_payment, "amount": "20.00",
        "reason": "goodwill", "kind": "credit"})
    misplaced = client.post("/refunds", headers=cashier, json={
        "settlement_id": str(plain), "payment_id": plain_payment, "amount": "20.00",
        "reason": "goodwill", "kind": "credit", "red_invoice_number": unique()})

    assert (missing.status_code, misplaced.status_code) == (422, 422)
    assert (missing.json()["field"], missing.json()["invoice_no"]) == (
        "red_invoice_number", blue)
    assert misplaced.json()["field"] == "red_invoice_number"
    assert head(container.app) == before


def test_two_processes_crediting_with_one_red_number_at_once_store_it_once(
        container: Container, database_url: str, tmp_path: Path, store_id: str) -> None:
    red = unique()
    visits = [invoiced(container, store_id, unique()) for _ in range(2)]
    other = second_process(database_url, tmp_path)
    try:
        processes = (container, other)
        results = together(2, lambda i: credit(
            processes[i], store_id, visits[i][0], visits[i][1], red, user=f"cash-{i}"))
    finally:
        other.close()
    asked = [r for r in results if isinstance(r, CommandResult)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(asked) == 1 and len(refused) == 1, results
    assert isinstance(refused[0], InvoiceNumberTaken), refused
    winner, loser = results.index(asked[0]), results.index(refused[0])
    assert refused[0].extra["settlement_id"] == str(visits[winner][0])
    assert refused[0].extra["refund_id"] == asked[0].body["refund_id"]
    assert load(container.app, Settlement, visits[loser][0]).refunds == {}
    assert len(container.app.recorder.select_events(InvoiceNumber.create_id(store_id, red))) == 1


def test_a_credit_retried_with_its_idempotency_key_answers_the_first_answer(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    red = unique()
    settlement_id, payment_id = invoiced(container, store_id, unique())
    work_order_id = load(container.app, Settlement, settlement_id).work_order_id
    cashier = auth("cashier", f"cashier-{store_id}", [store_id])
    body = {"work_order_id": str(work_order_id), "payment_id": payment_id, "amount": "50.00",
            "reason": "goodwill: waiting time", "kind": "credit", "red_invoice_number": red}
    keyed = {**cashier, "Idempotency-Key": f"credit-{red}"}
    first = client.post("/refunds", headers=keyed, json=body)
    assert first.status_code == 201, first.text
    before = head(container.app)

    # the answer was lost; the client sends the same request again with the same key
    again = client.post("/refunds", headers=keyed, json=body)

    assert again.status_code == 201, again.text
    assert again.json()["refund_id"] == first.json()["refund_id"]
    assert head(container.app) == before
    assert len(load(container.app, Settlement, settlement_id).refunds) == 1
    # without the key, the same red number is a second use: 409 naming the first credit
    fresh = client.post("/refunds", headers=cashier, json=body)
    assert fresh.status_code == 409, fresh.text
    assert fresh.json()["refund_id"] == first.json()["refund_id"]


def test_a_credit_and_its_retry_racing_in_two_processes_answer_the_same_credit(
        container: Container, database_url: str, tmp_path: Path, store_id: str) -> None:
    red = unique()
    settlement_id, payment_id = invoiced(container, store_id, unique())
    other = second_process(database_url, tmp_path)
    try:
        processes = (container, other)
        # the client gave up waiting and sent the request again, to another replica
        results = together(2, lambda i: credit(processes[i], store_id, settlement_id,
                                               payment_id, red, key=f"credit-{red}"))
    finally:
        other.close()
    assert all(isinstance(r, CommandResult) for r in results), results
    answers = [r.body["refund_id"] for r in results if isinstance(r, CommandResult)]
    assert answers[0] == answers[1]
    assert list(load(container.app, Settlement, settlement_id).refunds) == [answers[0]]
    assert len(container.app.recorder.select_events(InvoiceNumber.create_id(store_id, red))) == 1
