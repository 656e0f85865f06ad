"""The stock machine (tests/unit/test_stock_machine.py) with a shelf, and counts from a sheet.

The model now knows the shelf as well as the book: per lot, the units the shelf holds more
than the book (`gap`), which only units going missing or turning up unseen (`misplace`) and
posted stocktake variances change; every recorded movement changes shelf and book alike. A
count sheet is printed at a version of the item, the shelf as it then stood is counted, and
the count is keyed in later, after any number of issues, returns, receipts, scrap, transfers,
other counts and units misplaced. Its variance must be exactly the difference between shelf
and book the sheet saw, less what counts posted since already booked: once posted, the
shelf differs from the book only by what was misplaced after the sheet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from domain.stock_sheet import moved_by
from tests.unit import test_stock_machine as base

MISPLACED = st.sampled_from([Decimal(-1), Decimal(1), Decimal(2), Decimal("-0.5")])


@dataclass
class SheetModel:
    version: int
    shelf: dict[str, Decimal]  # lot -> what the clerk counted on the shelf
    misplaced: dict[str, Decimal] = field(default_factory=dict)  # since the sheet, unseen
    events: list[Any] = field(default_factory=list)  # the item's events since the sheet


class SheetMachine(base.StockMachine):
    def __init__(self) -> None:
        super().__init__()
        self.gap: dict[str, Decimal] = {}  # lot -> shelf less book
        self.sheet: SheetModel | None = None

    def attempt(self, expect_ok: bool, command: Any, *args: Any, by: Any = base.AUDIT,
                **kwargs: Any) -> list[Any] | None:
        events = super().attempt(expect_ok, command, *args, by=by, **kwargs)
        if events and self.sheet is not None and command.__self__ is self.item:
            self.sheet.events.extend(events)
        return events

    def post(self, moved: list[tuple[str, Decimal, Decimal]]) -> None:
        super().post(moved)  # the book moves towards the shelf; the shelf stays
        for lot_id, variance, _ in moved:
            self.gap[lot_id] = self.gap.get(lot_id, Decimal(0)) - variance

    def shelf(self, lot_id: str) -> Decimal:
        lot = self.model.lot(lot_id)
        assert lot is not None
        return lot.on_hand + self.gap.get(lot_id, Decimal(0))

    @precondition(lambda self: self.model.lots)
    @rule(lot=base.LOT, delta=MISPLACED)
    def misplace(self, lot: int, delta: Decimal) -> None:
        """Units go missing from (or turn up on) the shelf; nothing is recorded."""
        lot_id = self.model.lots[lot % len(self.model.lots)].lot_id
        if self.shelf(lot_id) + delta < 0:
            return
        self.gap[lot_id] = self.gap.get(lot_id, Decimal(0)) + delta
        if self.sheet is not None:
            self.sheet.misplaced[lot_id] = self.sheet.misplaced.get(lot_id, Decimal(0)) + delta

    @rule()
    def print_sheet(self) -> None:
        """The clerk prints a count sheet now and counts the shelf of every lot the item keeps."""
        self.sheet = SheetModel(self.item.version, {
            lot.lot_id: self.shelf(lot.lot_id) for lot in self.model.lots
            if lot.lot_id in self.item.lots})

    @precondition(lambda self: self.sheet is not None and self.sheet.shelf)
    @rule(lots=st.lists(base.LOT, min_size=1, max_size=3), reason=base.REASON,
          approval_value=base.APPROVAL_VALUE, asker=base.ASKERS)
    def count_from_sheet(self, lots: list[int], reason: str | None, approval_value: Decimal,
                         asker: str) -> None:
        sheet = self.sheet
        assert sheet is not None
        on_sheet = sorted(sheet.shelf)
        counted = {on_sheet[n % len(on_sheet)]: sheet.shelf[on_sheet[n % len(on_sheet)]]
                   for n in lots}
        # the difference the sheet saw, less the variances posted since
        expected = {lot_id: self.gap.get(lot_id, Decimal(0))
                    - sheet.misplaced.get(lot_id, Decimal(0)) for lot_id in counted}
        ok = self.count_pending is None and all(
            lot_id in self.item.lots and base.valid_qty(qty, allow_zero=True)
            for lot_id, qty in counted.items())
        moved: list[tuple[str, Decimal, Decimal]] = []
        value, needs = Decimal(0), False
        if ok:
            by_id = self.model.lots_by_id()
            moved = [(lot_id, v, by_id[lot_id].unit_cost) for lot_id, v in expected.items()
                     if v != 0]
            value = base.half_up(sum((v * cost for _, v, cost in moved), Decimal(0)))
            needs = abs(value) > approval_value or any(
                abs(v * cost) > approval_value for _, v, cost in moved)
            ok = (not moved or base.valid_reason(reason)) and not self.shortage(moved)
        count_id = self.next_id("ST-SHEET-")
        events = self.attempt(ok, self.item.count, count_id, dict(counted), reason,
                              approval_value, by=base.PEOPLE[asker],
                              moved_since=moved_by(sheet.events), as_of_version=sheet.version)
        if events is None:
            return
        if needs:
            self.count_pending = base.CountModel(count_id, moved, value, (reason or "").strip(),
                                                 base.PEOPLE[asker].user_id)
            self.hold_missing(self.count_pending)
            recorded = self.check_events(events, "Counted")
        elif moved:
            self.post(moved)
            recorded = self.check_events(events, "Counted", "VariancePosted")
            assert [(a["lot_id"], a["qty"]) for a in events[1].adjustments] == [
                (lot_id, v) for lot_id, v, _ in moved]
            # the book is the shelf, but for what went missing or turned up after the sheet
            assert all(self.gap.get(lot_id, Decimal(0)) == sheet.misplaced.get(
                lot_id, Decimal(0)) for lot_id in counted)
        else:
            recorded = self.check_events(events, "Counted", checks_alert=False)
        assert recorded.as_of_version == sheet.version
        assert {ln["lot_id"]: ln["variance"] for ln in recorded.lines} == expected
        assert (recorded.value, recorded.needs_approval) == (value, needs)


SheetMachine.TestCase.settings = settings(max_examples=80, stateful_step_count=40)
TestSheetMachine = SheetMachine.TestCase
