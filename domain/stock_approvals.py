"""Scrap and stocktake commands of a stock item, and a manager's decision on each."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from domain.common import Audit, InvalidInput, NotFound, NotPermitted, require, require_reason
from domain.money import quantity, round_money
from domain.stock_state import (
    ZERO,
    StockError,
    StockState,
    count_hold,
    fifo_picks,
    picks_cost,
)

# A scrap or stocktake request that needs a manager: waiting, then decided.
APPROVAL_STATUSES = ("awaiting_approval", "approved", "rejected")


class StockApprovals(StockState):
    """Scrap and counts of `StockItem`, at once or after a manager approves."""

    # -- scrap -------------------------------------------------------------------------------

    def scrap_value(self, qty: Decimal, lot_id: str | None = None) -> Decimal:
        self._require_available(qty, "scrap")
        return picks_cost(self._take(qty, lot_id))

    def scrap(self, audit: Audit, qty: object, reason: str | None, *,
              request_id: str | None = None, lot_id: str | None = None,
              needs_approval: bool = False) -> list[dict[str, Any]]:
        """Scrap now, or, when `needs_approval`, hold the units until a manager decides.

        Returns the picks scrapped ([] while the request waits for approval).
        """
        amount = self._whole(quantity(qty, "scrapped quantity", places=3, field="qty"))
        reason = require_reason(reason, "scrapping stock")
        request_id = request_id or f"SC{len(self.pending_scraps) + 1}-{self.version}"
        require(request_id not in self.pending_scraps,
                StockError(f"scrap request {request_id} exists"))
        self._require_available(amount, "scrap")
        picks = self._take(amount, lot_id)
        if needs_approval:
            self._scrap_requested(audit, request_id, amount, lot_id, picks_cost(picks), reason)
            self._check_alert(audit)
            return []
        self._scrapped(audit, request_id, picks, picks_cost(picks), reason, None, ZERO)
        self._check_alert(audit)
        return picks

    def _take(self, qty: Decimal, lot_id: str | None,
              request_id: str | None = None) -> list[dict[str, Any]]:
        if lot_id is None:
            return fifo_picks(self._lots_in_order(), qty)
        free = self._free_in(lot_id, qty, besides=request_id)
        return fifo_picks([{**self.open_lots[lot_id], "on_hand": free}], qty)

    def _pending_scrap(self, request_id: str) -> dict[str, Any]:
        """The waiting request: 409 once it is decided (or needed no approval), 404 for an id
        this item never had."""
        if request_id in self.pending_scraps:
            return self.pending_scraps[request_id]
        status = self.decided.get(f"scrap:{request_id}")
        if status is None:
            raise NotFound(f"{self.part_number} in {self.store_id} has no scrap request "
                           f"{request_id}", request_id=request_id)
        raise StockError(f"scrap request {request_id} is already {status}; nothing waits for "
                         "approval", request_id=request_id, decision=status)

    def decide_scrap(self, audit: Audit, request_id: str, approve: bool,
                     reason: str | None) -> list[dict[str, Any]]:
        request = self._pending_scrap(request_id)
        require(audit.role == "manager", NotPermitted("approving scrap needs the manager role"))
        require(audit.user_id != request["requested_by"],
                NotPermitted("the approver must not be the clerk who asked"))
        if not approve:
            self._scrap_rejected(audit, request_id, request["qty"],
                                 require_reason(reason, "rejecting scrap"))
            self._check_alert(audit)
            return []
        picks = self._take(request["qty"], request["lot_id"], request_id)
        self._scrapped(audit, request_id, picks, picks_cost(picks), request["reason"],
                       audit.user_id, request["qty"])
        self._check_alert(audit)
        return picks

    # -- stocktake ---------------------------------------------------------------------------

    def count(self, audit: Audit, count_id: str, counted: dict[str, object], reason: str | None,
              approval_value: Decimal,
              older: Mapping[str, dict[str, Any]] | None = None, *,
              moved_since: Mapping[str, Decimal] | None = None,
              as_of_version: int | None = None) -> dict[str, Any]:
        """Record counted vs book per lot; post the variance now unless it needs approval.

        The book a lot is counted against is its on hand less what `moved_since` says it took
        in (+) or gave out (-) since the count sheet's version `as_of_version`
        (domain/stock_sheet.py): an issue recorded after the sheet is no variance, and the
        line says it as `moved_since`. Lots not named keep their book quantity. A variance
        whose absolute value exceeds `approval_value` waits for a manager. A count id names
        one count of this item: a stocktake's ref may name counts of many parts, never two
        counts of one, except the recount a manager asked for by rejecting the count under it.

        A lot used up before the ones the item keeps is counted from its record in `older`
        (as its receipt or transfer in recorded it: domain/stock_found.py): its book is 0,
        units found are valued at its own unit cost, and the count's line and the variance
        carry the record, so the lot opens again as it was received. Without its record such
        a lot is refused (`LotUsedUpLongAgo`).
        """
        require(count_id not in self.counts, StockError(
            f"count {count_id} of {self.part_number} in {self.store_id} is already recorded; "
            "give this count a ref of its own", count_id=count_id,
            recorded_at=self.counts.get(count_id)))
        require(self.pending_count is None,
                StockError(f"count {self.pending_count and self.pending_count['count_id']} "
                           "waits for approval"))
        require(bool(counted), InvalidInput("count at least one lot", field="counted"))
        lines = []
        for lot_id, raw in counted.items():
            record = (older or {}).get(lot_id) if self.forgotten(lot_id) else None
            lot = self.lot(lot_id, f"counted.{lot_id}") if record is None else \
                {**record, "on_hand": ZERO}
            qty = self._whole(quantity(raw, f"counted quantity of {lot_id}", places=3,
                                       allow_zero=True, field=f"counted.{lot_id}"),
                              f"counted.{lot_id}")
            since = (moved_since or {}).get(lot_id, ZERO)
            book = lot["on_hand"] - since
            lines.append({"lot_id": lot_id, "book": book, "counted": qty,
                          "variance": qty - book, "unit_cost": lot["unit_cost"],
                          **({"moved_since": since} if since else {}),
                          **({"record": record} if record is not None else {})})
        value = round_money(sum((ln["variance"] * ln["unit_cost"] for ln in lines), ZERO))
        moved = [ln for ln in lines if ln["variance"] != 0]
        reason_text = require_reason(reason, "a stocktake variance") if moved else \
            (reason or "").strip() or "no variance"
        needs_approval = abs(value) > approval_value or any(
            abs(ln["variance"] * ln["unit_cost"]) > approval_value for ln in moved)
        self._check_shortage(moved)
        self._counted(audit, count_id, lines, value, reason_text, needs_approval, as_of_version)
        if not needs_approval and moved:
            self._post(audit, count_id, moved, value, reason_text, None)
        elif needs_approval:
            self._check_alert(audit)  # what it found missing is held
        return {"count_id": count_id, "value": value, "needs_approval": needs_approval,
                "lines": lines}

    def _check_shortage(self, moved: list[dict[str, Any]], again: str = "count again",
                        holds: Decimal = ZERO) -> None:
        """The count's losses are on hand, and leave what is reserved (besides `holds`, the
        count's own hold) on hand."""
        for line in moved:
            if self.lot_on_hand(line["lot_id"]) + line["variance"] < 0:
                raise StockError(f"lot {line['lot_id']} now holds less than the count removes; "
                                 f"{again}")
        loss = -sum((ln["variance"] for ln in moved), ZERO)
        if loss > 0 and self.on_hand - loss < self.reserved_total - holds:
            raise StockError(
                f"the count leaves {self.on_hand - loss} on hand but {self.reserved_total} is "
                "reserved: release or move the reservations first",
                reserved={k: str(v) for k, v in self.reserved.items()})

    def _post(self, audit: Audit, count_id: str, moved: list[dict[str, Any]], value: Decimal,
              reason: str, approved_by: str | None) -> None:
        adjustments = [{"lot_id": ln["lot_id"], "qty": ln["variance"],
                        "unit_cost": ln["unit_cost"],
                        **({"record": ln["record"]} if "record" in ln else {})} for ln in moved]
        self._variance_posted(audit, count_id, adjustments, value, reason, approved_by)
        self._check_alert(audit)

    def decide_count(self, audit: Audit, count_id: str, approve: bool,
                     reason: str | None) -> None:
        pending = self._pending_count(count_id)
        require(audit.role == "manager",
                NotPermitted("approving a stocktake variance needs the manager role"))
        require(audit.user_id != pending["counted_by"],
                NotPermitted("the approver must not be the clerk who counted"))
        if not approve:
            self._count_rejected(audit, count_id, require_reason(reason, "rejecting a count"))
            self._check_alert(audit)
            return
        moved = [ln for ln in pending["lines"] if ln["variance"] != 0]
        # stock moved since the count: a new count waits until this one is rejected
        self._check_shortage(moved, f"reject count {count_id} (with a reason) and count again",
                             self.reserved.get(count_hold(count_id), ZERO))
        self._post(audit, count_id, moved, pending["value"], pending["reason"], audit.user_id)

    def _pending_count(self, count_id: str) -> dict[str, Any]:
        """The waiting count: 409 once it is posted or rejected, 404 for an id this item
        never counted under."""
        pending = self.pending_count
        if pending is not None and pending["count_id"] == count_id:
            return pending
        if count_id in self.counts:
            raise StockError(f"count {count_id} is already posted; nothing waits for approval",
                             count_id=count_id, decision="posted")
        if self.decided.get(f"count:{count_id}") == "rejected":
            raise StockError(f"count {count_id} is already rejected; nothing waits for "
                             "approval", count_id=count_id, decision="rejected")
        raise NotFound(f"{self.part_number} in {self.store_id} has no count {count_id}",
                       count_id=count_id)
