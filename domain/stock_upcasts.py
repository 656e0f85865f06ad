"""How a stock item's snapshot of an older `class_version` is read (domain/stock.py).

A snapshot's topic is the aggregate's (`domain.stock:StockItem`); eventsourcing finds each
`upcast_vN_vN+1` on that class by name, so `StockItem` inherits them from `StockUpcasts`. Its
events are not snapshots: they change by new event classes, never by these.
"""

from __future__ import annotations

from typing import Any

from domain.stock_lots import HeldInLots
from domain.stock_state import count_hold, count_loss


class StockUpcasts:
    """The snapshot upcasts of `StockItem`, one per `class_version` step."""

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        HeldInLots.lots_from_list(state)

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        """Snapshots from before count ids were kept: only the waiting count's is known (the
        events after the snapshot add theirs)."""
        pending = state.get("pending_count")
        state["counts"] = {pending["count_id"]: None} if pending else {}

    @staticmethod
    def upcast_v3_v4(state: dict[str, Any]) -> None:
        """Snapshots that kept every used-up lot and every job's picks: the work order keeps
        a job's picks (a return names them), and only the last used-up lots stay."""
        state.pop("issued", None)
        HeldInLots.keep_last_exhausted(state)

    @staticmethod
    def upcast_v4_v5(state: dict[str, Any]) -> None:
        """Snapshots from before decisions were kept: the events after the snapshot add theirs
        (a request decided before it is then unknown: 404 instead of 409)."""
        state["decided"] = {}

    @staticmethod
    def upcast_v5_v6(state: dict[str, Any]) -> None:
        """Snapshots from before a count waiting for a manager held the units it found
        missing: its hold is added, as its `Counted` event makes it now (replayed, the item
        holds them; loaded from the snapshot, it did not)."""
        pending = state.get("pending_count")
        if pending and count_loss(pending["lines"]) > 0:
            state["reserved"][count_hold(pending["count_id"])] = count_loss(pending["lines"])
