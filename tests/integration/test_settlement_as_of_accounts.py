"""A settlement stored while its parts cost credited parts inventory (1405), before issues
were booked: the `as_of` replay shows its entries to the accounts the ledger books them to
(1408, parts issued to the job), as the finance view's journal does."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

import domain.settlement_lifecycle as lifecycle
from domain.ledger import posting
from projections.settlement_as_of import settlement_as_of
from servicecore.container import Container
from tests.integration.audit_support import Desk, at, new_vin
from tests.integration.test_money_support import wait_for_projection

D = "2025-07-01"


def _stored_before(account: str, debit: Decimal = Decimal("0.00"),
                   credit: Decimal = Decimal("0.00")) -> dict[str, Any]:
    """The posting as settlements made it before: the job's cost credited to 1405."""
    return posting("1405" if account == "1408" else account, debit=debit, credit=credit)


def test_an_old_settlements_replay_shows_the_accounts_the_ledger_books(
        container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    desk = Desk(container)
    pump = desk.part("water pump", "800.00", at(D, "08:00"))
    desk.receive(pump, 2, "400.00", at(D, "08:10"), supplier="Bosch Shanghai", doc="DN-7")
    wo = desk.open(new_vin(), ["coolant leak"], at(D, "09:00"))
    desk.check_in(wo, 20_000, at(D, "09:05"))
    line = desk.part_line(wo, 1, pump, 1, at(D, "09:10"))
    desk.approve(wo, [line], at(D, "09:15"))
    desk.repair(wo, 1, desk.t1, at(D, "10:00"), at(D, "11:00"), issue=(line,))
    monkeypatch.setattr(lifecycle, "posting", _stored_before)
    sid = desk.settle(wo, at(D, "12:00"))
    monkeypatch.undo()
    stored = container.app.repository.get(sid).settled_entries
    assert ("1405", Decimal("400.00")) in [(p["account"], p["credit"])
                                           for e in stored for p in e["postings"]]

    replayed = settlement_as_of(container.app, sid, datetime(2100, 1, 1, tzinfo=UTC))
    assert replayed is not None
    shown = [(p["account"], p["debit"], p["credit"])
             for e in replayed["settled_entries"] for p in e["postings"]]
    assert ("1408", Decimal("0.00"), Decimal("400.00")) in shown
    assert all(account != "1405" for account, _, _ in shown)
    wait_for_projection(container, "finance")
    with container.pool.connection() as conn:
        booked = conn.execute(
            """SELECT account, debit, credit FROM journal
               WHERE settlement_id = %s ORDER BY notification_id, entry_no, line_no""",
            (sid,)).fetchall()
    # The journal (which also holds the customer's payment) books every posting replayed.
    journal = [(a, Decimal(d), Decimal(c)) for a, d, c in booked]
    assert all(journal.count(p) >= shown.count(p) for p in shown), (journal, shown)
    assert "1405" not in {account for account, _, _ in journal}
