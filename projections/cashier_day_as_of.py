"""A cashier's day as it stood at a moment (`GET /day-end/{day}?as_of=`): the row the finance
view keeps (projections/finance.py: open or closed, totals by method, expected and counted
cash, the variance and its reason, who closed it and when), folded from the day's own stream
up to the moment (`projections.audit.folded_as_of`, as every `as_of` read).

Was the day already closed when the late payment came in; what did the drawer hold then?
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.application import ServiceCore
from domain.cashier_day import CashierDay
from domain.money import CENT
from projections.audit import folded_as_of


def cashier_day_row(doc: dict[str, Any] | None, e: CashierDay.Event) -> dict[str, Any]:
    if isinstance(e, CashierDay.Opened):
        return {"id": e.originator_id, "store_id": e.audit.store_id, "cashier_id": e.cashier_id,
                "status": "open", "totals": {}, "expected_cash": None, "counted_cash": None,
                "variance": None, "reason": None, "closed_at": None, "closed_by": None}
    assert doc is not None
    if isinstance(e, CashierDay.Closed):
        return {**doc, "status": "closed", "totals": {m: str(v) for m, v in e.totals.items()},
                "expected_cash": e.expected_cash, "counted_cash": e.counted_cash,
                "variance": e.variance, "reason": e.reason, "closed_at": e.audit.at,
                "closed_by": e.audit.user_id}
    assert isinstance(e, CashierDay.MoneyIn | CashierDay.MoneyOut)
    amount = e.amount if isinstance(e, CashierDay.MoneyIn) else -e.amount
    total = Decimal(doc["totals"].get(e.method, 0)) + amount
    cash = amount if e.method == "cash" else Decimal(0)
    return {**doc, "totals": {**doc["totals"], e.method: str(total.quantize(CENT))},
            "expected_cash": (doc["expected_cash"] or Decimal(0)) + cash}


def cashier_day_as_of(app: ServiceCore, day_id: UUID, at: datetime) -> dict[str, Any] | None:
    """The cashier's day at `at`; None before it was opened."""
    return folded_as_of(app, day_id, at, CashierDay.Event, cashier_day_row)
