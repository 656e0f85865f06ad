"""A tax invoice (发票) number is recorded on one bill of its store: a second use, on another
visit or from another API process at the same moment, is refused naming the bill that has it."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from domain.application import CommandResult
from domain.common import InvalidInput
from domain.invoice_number import InvoiceNumber, InvoiceNumberTaken
from domain.settlement import Settlement
from servicecore.container import Container
from tests.integration.support import Auth, head, load, together
from tests.integration.test_money_doubles import confirmed
from tests.integration.test_money_support import req, second_process
from tests.integration.test_red_invoice_numbers import credit, invoiced


def test_an_invoice_number_on_a_second_bill_of_the_store_is_refused_naming_the_first(
        container: Container, store_id: str) -> None:
    _, first = confirmed(container, store_id)
    _, second = confirmed(container, store_id)
    elsewhere = "T" + uuid4().hex[:6].upper()
    _, other_store = confirmed(container, elsewhere)
    record = container.settlements.record_invoice
    record(req(store_id), first, bill="customer", invoice_no="31000012345678")
    earlier = load(container.app, Settlement, first)
    before = head(container.app)

    # the same number keyed in again on the next visit (spaces around it change nothing)
    with pytest.raises(InvoiceNumberTaken) as refused:
        record(req(store_id), second, bill="customer", invoice_no=" 31000012345678 ")

    assert refused.value.extra == {
        "invoice_no": "31000012345678", "bill": "customer", "settlement_id": str(first),
        "settlement_number": earlier.number, "work_order_number": earlier.work_order_number}
    assert earlier.work_order_number in str(refused.value)
    assert head(container.app) == before  # nothing written
    assert load(container.app, Settlement, second).bills["customer"]["invoice_no"] is None
    # another number is taken; another store's tax registration numbers its own invoices
    record(req(store_id), second, bill="customer", invoice_no="31000012345679")
    record(req(elsewhere), other_store, bill="customer", invoice_no="31000012345678")
    assert load(container.app, Settlement, other_store).bills["customer"]["invoice_no"] == \
        "31000012345678"


def test_a_reversed_and_settled_again_visit_needs_a_new_invoice_number(
        container: Container, store_id: str) -> None:
    work_order_id, settlement_id = confirmed(container, store_id)
    record = container.settlements.record_invoice
    record(req(store_id), settlement_id, bill="customer", invoice_no="INV-1")
    container.settlements.reverse(req(store_id, "manager"), settlement_id, reason="wrong labor",
                                  red_invoice_numbers={"customer": "RED-1"})
    container.settlements.draft(req(store_id), work_order_id)
    container.settlements.confirm(req(store_id), settlement_id)

    for taken in ("INV-1", "RED-1"):  # the blue invoice written off, and its red-letter one
        with pytest.raises(InvoiceNumberTaken):
            record(req(store_id), settlement_id, bill="customer", invoice_no=taken)
    record(req(store_id), settlement_id, bill="customer", invoice_no="INV-2")


def test_reversing_an_invoiced_bill_needs_its_red_letter_invoice(
        container: Container, store_id: str) -> None:
    """The reversal takes the bill's output VAT back: the tax system's red-letter invoice
    (红字发票) writing the blue one off is recorded with it, in the store's one series."""
    _, settlement_id = confirmed(container, store_id)
    _, other = confirmed(container, store_id)
    container.settlements.record_invoice(req(store_id), settlement_id, bill="customer",
                                         invoice_no="BLUE-7")
    container.settlements.record_invoice(req(store_id), other, bill="customer",
                                         invoice_no="BLUE-8")
    reverse, before = container.settlements.reverse, head(container.app)
    manager = req(store_id, "manager")

    with pytest.raises(InvalidInput) as missing:  # no red-letter invoice named
        reverse(manager, settlement_id, reason="wrong labor")
    assert missing.value.extra == {"field": "red_invoice_numbers.customer",
                                   "invoice_no": "BLUE-7"}
    with pytest.raises(InvalidInput) as no_blue:  # a bill without a tax invoice
        reverse(manager, settlement_id, reason="wrong labor",
                red_invoice_numbers={"customer": "RED-7", "warranty": "RED-9"})
    assert no_blue.value.extra == {"field": "red_invoice_numbers.warranty"}
    with pytest.raises(InvoiceNumberTaken) as blue:  # another bill's blue number
        reverse(manager, settlement_id, reason="wrong labor",
                red_invoice_numbers={"customer": "BLUE-8"})
    assert blue.value.extra["settlement_id"] == str(other)
    assert head(container.app) == before  # none stored anything

    reverse(manager, settlement_id, reason="wrong labor",
            red_invoice_numbers={"customer": " red-7 "})
    reversed_ = [e for e in container.app.events.get(settlement_id)
                 if isinstance(e, Settlement.Reversed)]
    assert [e.red_invoices for e in reversed_] == [{"customer": "RED-7"}]
    held = container.app.repository.get(InvoiceNumber.create_id(store_id, "RED-7"))
    assert (held.settlement_id, held.bill, held.cancels, held.refund_id) == (
        settlement_id, "customer", "BLUE-7", None)
    _, third = confirmed(container, store_id)
    with pytest.raises(InvoiceNumberTaken) as again:  # the red number is one invoice too
        container.settlements.record_invoice(req(store_id), third, bill="customer",
                                             invoice_no="RED-7")
    assert "reversal" in str(again.value) and again.value.extra["cancels"] == "BLUE-7"


def test_a_bill_without_a_tax_invoice_is_reversed_without_one(
        container: Container, store_id: str) -> None:
    _, settlement_id = confirmed(container, store_id)
    container.settlements.reverse(req(store_id, "manager"), settlement_id, reason="wrong labor")
    (reversed_,) = [e for e in container.app.events.get(settlement_id)
                    if isinstance(e, Settlement.Reversed)]
    assert reversed_.red_invoices == {}


def test_two_processes_recording_one_invoice_number_at_once_store_it_once(
        container: Container, database_url: str, tmp_path: Path, store_id: str) -> None:
    settlements = [confirmed(container, store_id)[1] for _ in range(2)]
    other = second_process(database_url, tmp_path)
    try:
        processes = (container, other)
        results = together(2, lambda i: processes[i].settlements.record_invoice(
            req(store_id, user=f"cash-{i}"), settlements[i], bill="customer",
            invoice_no="INV-RACE"))
    finally:
        other.close()
    recorded = [r for r in results if isinstance(r, CommandResult)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(recorded) == 1 and len(refused) == 1, results
    assert isinstance(refused[0], InvoiceNumberTaken), refused
    winner, loser = results.index(recorded[0]), results.index(refused[0])
    assert refused[0].extra["settlement_id"] == str(settlements[winner])
    assert load(container.app, Settlement, settlements[loser]).bills["customer"][
        "invoice_no"] is None
    reservation = InvoiceNumber.create_id(store_id, "INV-RACE")
    assert len(container.app.recorder.select_events(reservation)) == 1


def test_the_api_answers_a_reused_invoice_number_with_409_naming_the_work_order(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    _, first = confirmed(container, store_id)
    _, second = confirmed(container, store_id)
    cashier = auth("cashier", f"cashier-{store_id}", [store_id])
    body = {"bill": "customer", "invoice_no": "31000099990000"}
    taken = client.post(f"/settlements/{first}/invoice", headers=cashier, json=body)
    assert taken.status_code == 200, taken.text

    again = client.post(f"/settlements/{second}/invoice", headers=cashier, json=body)

    assert again.status_code == 409, again.text
    assert again.headers["content-type"].startswith("application/problem+json")
    problem = again.json()
    number = load(container.app, Settlement, first).work_order_number
    assert (problem["work_order_number"], problem["bill"], problem["settlement_id"]) == (
        number, "customer", str(first))
    assert number in problem["detail"] and "31000099990000" in problem["detail"]


def full_width(text: str) -> str:
    """As a Chinese input method types it: full-width digits and letters."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


def test_one_number_typed_full_width_spaced_or_in_lower_case_is_the_same_number(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    """The tax system prints one number; the keyboard may send it in other forms. Each is the
    number itself: recorded once in the store, blue or red, and found by the lookup."""
    number = "44" + uuid4().hex[:10].upper()
    first = invoiced(container, store_id, None)
    others = [invoiced(container, store_id, None)[0] for _ in range(3)]
    container.settlements.record_invoice(req(store_id), first[0], bill="customer",
                                         invoice_no=full_width(number))
    assert load(container.app, Settlement, first[0]).bills["customer"]["invoice_no"] == number
    before = head(container.app)
    for settlement_id, typed in zip(others, (number.lower(), f"{number[:4]} {number[4:]}",
                                             f"\u3000{number}"), strict=True):
        with pytest.raises(InvoiceNumberTaken) as taken:
            container.settlements.record_invoice(req(store_id), settlement_id,
                                                 bill="customer", invoice_no=typed)
        assert taken.value.extra["settlement_id"] == str(first[0]), typed
    # a credit's red-letter number is of the same series
    with pytest.raises(InvoiceNumberTaken):
        credit(container, store_id, first[0], first[1], full_width(number.lower()))
    assert head(container.app) == before  # nothing stored
    auditor = auth("auditor", stores=[store_id])
    found = client.get("/audit/lookup", headers=auditor,
                       params={"number": full_width(number), "store_id": store_id})
    assert found.status_code == 200, found.text
    assert [(u["invoice_no"], u["settlement_id"]) for u in found.json()["invoices"]] == [
        (number, str(first[0]))]
