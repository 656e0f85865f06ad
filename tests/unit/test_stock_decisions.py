"""Deciding a waiting scrap request or stocktake count, as the parts manager and an auditor see
it: an id the stock item never had is not found; one already decided is refused as decided; and
a write-off above the thresholds waits for a second manager whoever asked for it."""

from __future__ import annotations

import pytest

from domain.application import ServiceCore
from domain.common import NotFound, NotPermitted
from domain.inventory import Inventory
from domain.stock_state import StockError
from tests.unit.support import PADS, clerk, events_stored, load_stock, request, stock_part


@pytest.fixture
def app() -> ServiceCore:
    return ServiceCore()


@pytest.fixture
def inv(app: ServiceCore) -> Inventory:
    return Inventory(app)


def test_an_unknown_scrap_request_is_not_found_and_a_decided_one_is_refused(
        app: ServiceCore, inv: Inventory) -> None:
    stock_part(app, PADS, "20", unit_cost="210.00")
    boss = request("manager", "mgr-wang")
    before = events_stored(app)
    with pytest.raises(NotFound, match="no scrap request SC-NOSUCH"):
        inv.decide_scrap(boss, "S01", PADS, "SC-NOSUCH", approve=True)
    assert events_stored(app) == before

    # Scrap that needed no approval, and scrap approved, are decided: 409, not 404.
    small = inv.scrap(clerk(), "S01", PADS, qty="1", reason="cracked backing plate")
    with pytest.raises(StockError, match="already scrapped"):
        inv.decide_scrap(boss, "S01", PADS, small.body["request_id"], approve=True)
    big = inv.scrap(clerk(), "S01", PADS, qty="3", reason="water damage").body["request_id"]
    inv.decide_scrap(boss, "S01", PADS, big, approve=False, reason="dry them first")
    with pytest.raises(StockError, match="already rejected"):
        inv.decide_scrap(boss, "S01", PADS, big, approve=True)


def test_an_unknown_count_is_not_found_and_a_decided_one_is_refused(
        app: ServiceCore, inv: Inventory) -> None:
    lot = stock_part(app, PADS, "10", unit_cost="210.00")
    boss = request("manager", "mgr-wang")
    with pytest.raises(NotFound, match="no count ST-NOSUCH"):
        inv.decide_count(boss, "S01", PADS, "ST-NOSUCH", approve=True)

    inv.count(clerk(), "S01", PADS, counted={lot: "6"}, reason="shelf miscounted",
              count_ref="ST-2026-05")
    inv.decide_count(boss, "S01", PADS, "ST-2026-05", approve=False, reason="count again")
    with pytest.raises(StockError, match="already rejected"):
        inv.decide_count(boss, "S01", PADS, "ST-2026-05", approve=True)
    # the recount carries the ref again: it waits, and once posted it is decided
    inv.count(clerk(), "S01", PADS, counted={lot: "7"}, reason="recounted",
              count_ref="ST-2026-05")
    inv.decide_count(boss, "S01", PADS, "ST-2026-05", approve=True)
    with pytest.raises(StockError, match="already posted"):
        inv.decide_count(boss, "S01", PADS, "ST-2026-05", approve=True)
    assert load_stock(app).on_hand == 7


def test_a_managers_own_large_scrap_waits_for_another_manager_like_a_count(
        app: ServiceCore, inv: Inventory) -> None:
    lot = stock_part(app, PADS, "20", unit_cost="210.00")
    wang, liu = request("manager", "mgr-wang"), request("manager", "mgr-liu")

    # Wang's own count above the threshold waits, and Wang may not approve it.
    count = inv.count(wang, "S01", PADS, counted={lot: "17"}, reason="shelf miscounted")
    assert count.body["status"] == "awaiting_approval"
    with pytest.raises(NotPermitted, match="must not be"):
        inv.decide_count(wang, "S01", PADS, count.body["count_id"], approve=True)
    inv.decide_count(liu, "S01", PADS, count.body["count_id"], approve=True)

    # So does Wang's own scrap above the threshold (630.00): held back, not scrapped.
    own = inv.scrap(wang, "S01", PADS, qty="3", reason="water damage")
    assert (own.body["status"], own.body["picks"]) == ("awaiting_approval", [])
    assert (load_stock(app).on_hand, load_stock(app).available) == (17, 14)
    with pytest.raises(NotPermitted, match="must not be"):
        inv.decide_scrap(wang, "S01", PADS, own.body["request_id"], approve=True)
    assert inv.decide_scrap(liu, "S01", PADS, own.body["request_id"],
                            approve=True).body["status"] == "scrapped"
    assert load_stock(app).on_hand == 14

    # Under the thresholds a manager's scrap, like anyone's, goes at once.
    assert inv.scrap(wang, "S01", PADS, qty="1",
                     reason="cracked backing plate").body["status"] == "scrapped"
