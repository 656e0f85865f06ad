"""Invoice numbers recorded before numbers were reserved get their reservation from a backfill:
in log order, once, without failing on the duplicates the log already holds (reported)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain import invoice_backfill
from domain.common import Audit
from domain.invoice_backfill import BackfillReport, backfill
from domain.invoice_number import InvoiceNumber, InvoiceNumberTaken, RedInvoiceNumber
from domain.settlement import Settlement
from servicecore import cli
from servicecore.container import Container
from tests.conftest import JWT_SECRET
from tests.integration.support import head, load
from tests.integration.test_money_support import req
from tests.integration.test_red_invoice_numbers import credit, invoiced, unique


def stamp(store_id: str, user: str = "cash-old") -> Audit:
    return Audit(user, "cashier", store_id, datetime.now(UTC), str(uuid4()))


def invoiced_the_old_way(container: Container, store_id: str, settlement_id: UUID,
                         number: str) -> None:
    """A blue invoice as it was recorded before reservations: the settlement's event alone."""
    settlement = load(container.app, Settlement, settlement_id)
    settlement.record_invoice(stamp(store_id), "customer", number)
    container.app.save(settlement)


def credited_the_old_way(container: Container, store_id: str, settlement_id: UUID,
                         payment_id: str, red: str) -> str:
    """A credit with its red-letter number, requested before reservations; its refund id."""
    settlement = load(container.app, Settlement, settlement_id)
    refund_id = "RF-" + uuid4().hex[:12].upper()
    settlement.request_refund(stamp(store_id), refund_id, payment_id, "50.00", "goodwill",
                              "credit", red)
    container.app.save(settlement)
    return refund_id


def run(container: Container) -> BackfillReport:
    return backfill(container.app, Audit("invoice-backfill", "system", "", datetime.now(UTC),
                                         str(uuid4())), batch=50, keep=100_000)


def mine(report: BackfillReport, store_id: str) -> dict[str, Any]:
    """The part of a report about one store (the test database holds other tests' stores)."""
    reserved = [(u.invoice_no, u.settlement_id, u.refund_id) for u in report.written
                if u.store_id == store_id]
    duplicates = [((a.invoice_no, a.settlement_id, a.refund_id),
                   (b.invoice_no, b.settlement_id, b.refund_id))
                  for a, b in report.duplicates if a.store_id == store_id]
    return {"reserved": reserved, "duplicates": duplicates}


def test_old_invoice_numbers_are_reserved_by_the_backfill_once(
        container: Container, store_id: str) -> None:
    blue, red = unique(), unique()
    old, payment = invoiced(container, store_id, None)
    invoiced_the_old_way(container, store_id, old, blue)
    refund_id = credited_the_old_way(container, store_id, old, payment, red)
    new, new_payment = invoiced(container, store_id, None)
    # before the backfill the old numbers are free to take again: the gap closed here
    assert container.app.recorder.select_events(InvoiceNumber.create_id(store_id, blue)) == []

    first = run(container)

    assert mine(first, store_id) == {"reserved": [(blue, old, None), (red, old, refund_id)],
                                     "duplicates": []}
    blue_held = load(container.app, InvoiceNumber, InvoiceNumber.create_id(store_id, blue))
    red_held = load(container.app, RedInvoiceNumber, InvoiceNumber.create_id(store_id, red))
    number = load(container.app, Settlement, old).number
    assert (blue_held.settlement_id, blue_held.bill, blue_held.settlement_number) == (
        old, "customer", number)
    assert (red_held.refund_id, red_held.cancels) == (refund_id, blue)
    with pytest.raises(InvoiceNumberTaken) as refused:
        container.settlements.record_invoice(req(store_id), new, bill="customer",
                                             invoice_no=blue)
    assert refused.value.extra["settlement_id"] == str(old)
    container.settlements.record_invoice(req(store_id), new, bill="customer",
                                         invoice_no=unique())
    with pytest.raises(InvoiceNumberTaken) as red_refused:
        credit(container, store_id, new, new_payment, red)
    assert red_refused.value.extra["refund_id"] == refund_id
    before = head(container.app)

    second = run(container)

    assert head(container.app) == before  # nothing written
    assert mine(second, store_id) == {"reserved": [], "duplicates": []}
    assert second.held >= 2 and second.uses == first.uses + 1  # the new bill's invoice


def test_duplicates_the_log_already_holds_are_reported_not_failed(
        container: Container, store_id: str) -> None:
    twice, taken_later, blue_and_red = unique(), unique(), unique()
    a, a_payment = invoiced(container, store_id, None)
    b, _ = invoiced(container, store_id, None)
    c, _ = invoiced(container, store_id, None)
    d, _ = invoiced(container, store_id, None)
    invoiced_the_old_way(container, store_id, a, twice)
    invoiced_the_old_way(container, store_id, b, twice)
    # an old credit's red number, later keyed as another visit's blue invoice
    refund_id = credited_the_old_way(container, store_id, a, a_payment, blue_and_red)
    invoiced_the_old_way(container, store_id, c, blue_and_red)
    # an old bill's number taken since by a live command (no reservation stood in its way)
    old, _ = invoiced(container, store_id, None)
    invoiced_the_old_way(container, store_id, old, taken_later)
    container.settlements.record_invoice(req(store_id), d, bill="customer",
                                         invoice_no=taken_later)

    first = run(container)

    expected = [((twice, a, None), (twice, b, None)),
                ((blue_and_red, a, refund_id), (blue_and_red, c, None)),
                ((taken_later, old, None), (taken_later, d, None))]
    assert mine(first, store_id) == {
        "reserved": [(twice, a, None), (blue_and_red, a, refund_id)], "duplicates": expected}
    # the reservation the live command made stays with it; the first use is reported
    held = load(container.app, InvoiceNumber, InvoiceNumber.create_id(store_id, taken_later))
    assert held.settlement_id == d
    before = head(container.app)

    second = run(container)

    assert head(container.app) == before
    assert mine(second, store_id) == {"reserved": [], "duplicates": expected}


def test_the_command_line_backfill_prints_its_report(
        container: Container, database_url: str, store_id: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    number = unique()
    for _ in range(2):
        settlement_id, _ = invoiced(container, store_id, None)
        invoiced_the_old_way(container, store_id, settlement_id, number)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SERVICECORE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SERVICECORE_JWT_SECRET", JWT_SECRET)
    monkeypatch.setenv("SERVICECORE_CREATE_TABLES", "false")
    monkeypatch.setenv("SERVICECORE_IN_PROCESS_PROJECTIONS", "false")
    capsys.readouterr()

    assert cli.main(["invoice-numbers", "backfill", "--user", "fin-audit"]) == 0

    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    ours = [d for d in report["duplicates"] if d["store_id"] == store_id]
    assert [(d["invoice_no"], d["first"]["red_letter"]) for d in ours] == [(number, False)]
    held = load(container.app, InvoiceNumber, InvoiceNumber.create_id(store_id, number))
    stored = container.app.repository.event_store.get(held.id)
    assert [e.audit.user_id for e in stored] == ["fin-audit"]  # type: ignore[attr-defined]


def test_a_number_taken_by_a_command_while_the_backfill_runs_stays_with_the_command(
        container: Container, store_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    number = unique()
    old, _ = invoiced(container, store_id, None)
    live, _ = invoiced(container, store_id, None)
    invoiced_the_old_way(container, store_id, old, number)
    looked = invoice_backfill._held
    taken: list[bool] = []

    def meanwhile(app: Any, keys: set[tuple[str, str]]) -> Any:
        """The backfill looked for the batch's reservations; before it writes the missing
        ones, a cashier takes the number on another bill (a real command, its own
        transaction)."""
        found = looked(app, keys)
        if (store_id, number) in keys and not taken:
            taken.append(True)
            container.settlements.record_invoice(req(store_id), live, bill="customer",
                                                 invoice_no=number)
        return found

    monkeypatch.setattr(invoice_backfill, "_held", meanwhile)

    report = run(container)

    assert mine(report, store_id) == {"reserved": [], "duplicates": [
        ((number, old, None), (number, live, None))]}
    held = load(container.app, InvoiceNumber, InvoiceNumber.create_id(store_id, number))
    assert held.settlement_id == live
    assert len(container.app.recorder.select_events(held.id)) == 1


def test_a_number_a_rejected_credit_let_go_and_another_use_took_is_no_duplicate(
        container: Container, store_id: str) -> None:
    """Both uses are in the log, the rejected credit's first: the reservation named each in
    turn, so the backfill counts both as held and reports no duplicate."""
    red = unique()
    settlement_id, payment_id = invoiced(container, store_id, unique())
    rejected = credit(container, store_id, settlement_id, payment_id, red).body["refund_id"]
    container.settlements.decide_refund(req(store_id, "manager"), settlement_id, rejected,
                                        approve=False, reason="amount not agreed")
    other, _ = invoiced(container, store_id, None)
    container.settlements.record_invoice(req(store_id), other, bill="customer", invoice_no=red)
    reservation = InvoiceNumber.create_id(store_id, red)
    before = container.app.recorder.select_events(reservation)

    report = run(container)

    assert mine(report, store_id) == {"reserved": [], "duplicates": []}
    assert container.app.recorder.select_events(reservation) == before
