"""A lost sale: validated once, as recorded; the part number is kept as the master spells it,
whether or not the master holds it; a wrong entry voided once, by a manager, with a reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from domain.application import ServiceCore
from domain.common import Audit, InvalidInput, NotPermitted
from domain.integration_events import IntegrationMapper
from domain.lost_sale import REASONS, LostSale, LostSaleError

CLERK = Audit("clerk-1", "parts_clerk", "S01", datetime(2026, 5, 1, 2, 30, tzinfo=UTC), "corr-1")
MAPPER = ServiceCore().mapper
MANAGER = Audit("mgr-1", "manager", "S01", datetime(2026, 5, 1, 3, 0, tzinfo=UTC), "corr-2")


def test_a_lost_sale_keeps_the_part_number_as_the_master_spells_it() -> None:
    sale = LostSale.record(CLERK, part_number="5q0 698 151", qty="2", reason="out_of_stock",
                           note="  bought elsewhere ")
    assert (sale.store_id, sale.part_number, sale.qty, sale.reason, sale.note) == (
        "S01", "5Q0698151", Decimal(2), "out_of_stock", "bought elsewhere")
    (recorded,) = sale.collect_events()
    assert isinstance(recorded, LostSale.Recorded) and recorded.audit == CLERK


@pytest.mark.parametrize(("given", "field"), [
    ({"part_number": "5Q0/698"}, "part_number"), ({"qty": "0"}, "qty"),
    ({"qty": "1.0001"}, "qty"), ({"reason": "weather"}, "reason"),
    ({"note": "x" * 501}, "note")])
def test_bad_input_is_refused_naming_its_field(given: dict[str, str], field: str) -> None:
    data = {"part_number": "5Q0698151", "qty": "1", "reason": REASONS[0], **given}
    with pytest.raises(InvalidInput) as refused:
        LostSale.record(CLERK, **data)
    assert refused.value.extra["field"] == field


def test_a_wrong_entry_is_voided_once_by_a_manager_with_a_reason() -> None:
    sale = LostSale.record(CLERK, part_number="5Q0698151", qty="20", reason="out_of_stock")
    with pytest.raises(NotPermitted):
        sale.void(CLERK, "typed 20 for 2")
    with pytest.raises(InvalidInput) as refused:
        sale.void(MANAGER, "  ")
    assert refused.value.extra["field"] == "reason"
    sale.void(MANAGER, " typed 20 for 2 ")
    assert sale.voided == {"by": "mgr-1", "at": MANAGER.at, "reason": "typed 20 for 2"}
    with pytest.raises(LostSaleError):
        sale.void(MANAGER, "again")
    voided = sale.collect_events()[-1]
    assert isinstance(voided, LostSale.Voided) and voided.reason == "typed 20 for 2"
    assert voided.audit == MANAGER


def test_the_relay_publishes_a_lost_sale_and_its_void_on_the_stock_topic() -> None:
    """Both events are known integration events of the stock topic, with their fields and
    without the clerk's free-text note."""
    sale = LostSale.record(CLERK, part_number="5Q0698151", qty="2", reason="out_of_stock",
                           note="customer 王芳 bought elsewhere")
    sale.void(MANAGER, "typed 20 for 2")
    relay = IntegrationMapper(MAPPER)
    sent = [relay.to_message(n, MAPPER.to_stored_event(e))
            for n, e in enumerate(sale.collect_events(), start=1)]
    assert all(m is not None and m.known for m in sent)
    assert [m.type for m in sent if m] == ["lost_sale.recorded", "lost_sale.voided"]
    assert {m.topic for m in sent if m} == {"servicecore.stock"}
    assert all(m.key == str(sale.id).encode() for m in sent if m)
    bodies = [json.loads(m.value) for m in sent if m]
    assert bodies[0]["payload"] == {
        "store_id": "S01", "part_number": "5Q0698151", "qty": "2", "reason": "out_of_stock",
        "work_order_id": None, "customer_id": None}
    assert bodies[1]["payload"] == {"reason": "typed 20 for 2"}
    assert [(b["schema_version"], b["stream_version"], b["actor"]["user_id"]) for b in bodies
            ] == [(1, 1, "clerk-1"), (1, 2, "mgr-1")]
    assert "王芳" not in "".join(m.value.decode() for m in sent if m)
