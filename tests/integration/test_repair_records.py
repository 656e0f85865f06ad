"""Electronic repair records (汽车维修电子健康档案): the 13 elements per settled visit, the visits
settled on a store's calendar day, CSV and JSON lines."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

import projections.repair_records as repair_records_module
from domain.settlement import Settlement
from domain.warranty_evidence import WarrantyEvidence
from projections.evidence import one_snapshot
from projections.repair_records import (
    CSV_COLUMNS,
    NotSettled,
    ShopNames,
    as_csv,
    as_jsonl,
    iter_repair_records,
    repair_record,
    repair_records,
    repair_records_page,
)
from servicecore.container import Container
from tests.integration.audit_support import Desk, at, new_vin
from tests.integration.test_money_support import wait_for_projection

ZONE = ZoneInfo("Asia/Shanghai")
DAY = date(2025, 8, 15)


def customer_visit(desk: Desk, pads: str) -> UUID:
    """Brake pads and an AC recharge; a declined part line stays off the record."""
    d = "2025-08-14"
    wo = desk.open(new_vin(), ["brake noise", "AC not cold"], at(d, "16:00"), mileage=30_500)
    desk.check_in(wo, 30_512, at(d, "16:10"))
    desk.diagnose(wo, 1, "pads worn to 2 mm", "replace front pads", [], at(d, "16:30"))
    lines = [desk.labor(wo, 1, "BRK-PAD", "1.5", at(d, "16:35"), description="replace front pads"),
             desk.part_line(wo, 1, pads, 1, at(d, "16:36")),
             desk.labor(wo, 2, "AC-GAS", "0.5", at(d, "16:37"), description="recharge AC")]
    declined = desk.part_line(wo, 2, pads, 1, at(d, "16:38"))
    desk.approve(wo, lines, at(d, "16:40"))
    desk.approve(wo, [declined], at(d, "16:40"), decision="declined")
    desk.repair(wo, 1, desk.t1, at(d, "17:00"), at(d, "17:45"), issue=(lines[1],))
    desk.repair(wo, 2, desk.t2, at(d, "17:00"), at(d, "17:30"))
    # The worn pads go to scrap; the brake test printout is kept in the document store.
    records = WarrantyEvidence(desk.c.app)
    records.record_serials(desk.tech(desk.t1, at(d, "17:50")), wo, lines[1],
                           fitted=["PAD-7781"],
                           removed=[{"serial": "PAD-1203", "disposition": "scrapped"}])
    records.add_evidence(desk.tech(desk.t1, at(d, "17:51")), wo, job_no=1,
                         kind="diagnostic_report", sha256="0f" * 32,
                         media_type="application/pdf", size=48_213, uri="docs/brake-test.pdf")
    return wo


@pytest.fixture(scope="module")
def day(container: Container) -> dict[str, Any]:
    desk, other = Desk(container), Desk(container)
    pads = desk.part("front brake pads", "560.00", at("2025-08-01", "09:00"))
    lot = desk.receive(pads, 5, "300.00", at("2025-08-01", "09:10"),
                       supplier="Bosch Shanghai", doc="DN-9")
    a = customer_visit(desk, pads)
    desk.settle(a, at("2025-08-15", "10:00"))
    # Settled, then reversed the same day and not settled again: no record.
    reversed_ = desk.warranty_visit(new_vin(), "engine misfire", "ENG-COIL",
                                    at("2025-08-15", "09:00"), at("2025-08-15", "10:30"))
    sid = desk.settle(reversed_, at("2025-08-15", "11:00"))
    container.settlements.reverse(desk.r("manager", at("2025-08-15", "12:00")), sid,
                                  reason="warranty bill to the wrong OEM")
    # Settled at 23:27 Shanghai (15:27 UTC): the 15th; at 00:27 on the 16th: not the 15th.
    late = desk.warranty_visit(new_vin(), "engine misfire", "ENG-COIL", at("2025-08-15", "13:00"),
                               at("2025-08-15", "18:00"))
    desk.settle(late, at("2025-08-15", "23:25"))
    next_day = desk.warranty_visit(new_vin(), "engine misfire", "ENG-COIL",
                                   at("2025-08-15", "14:00"), at("2025-08-15", "19:00"))
    desk.settle(next_day, at("2025-08-16", "00:25"))
    ready = desk.warranty_visit(new_vin(), "engine misfire", "ENG-COIL",
                                at("2025-08-15", "15:00"), at("2025-08-15", "20:00"))
    elsewhere = other.warranty_visit(new_vin(), "engine misfire", "ENG-COIL",
                                     at("2025-08-15", "09:00"), at("2025-08-15", "10:00"))
    other.settle(elsewhere, at("2025-08-15", "12:00"))
    wait_for_projection(container, "finance")
    return {"desk": desk, "other": other, "pads": pads, "lot": lot, "a": a, "late": late,
            "next_day": next_day, "ready": ready, "elsewhere": elsewhere,
            "shops": ShopNames({desk.store: "上海大众汽车某某特约维修站"}, "某某汽车服务集团")}


def records(c: Container, day: dict[str, Any], when: date = DAY,
            store_id: str | None = None) -> list[dict[str, Any]]:
    stores = [day["desk"].store, day["other"].store]
    with c.pool.connection() as conn, one_snapshot(conn):
        return repair_records(c.app, conn, when, ZONE, day["shops"], stores, store_id)


def test_a_settled_visit_carries_the_13_elements(container: Container,
                                                  day: dict[str, Any]) -> None:
    desk = day["desk"]
    first = records(container, day, store_id=desk.store)[0]
    assert {k: first[k] for k in (
        "shop_name", "vin", "plate", "date_in", "mileage_in", "settlement_date",
        "settlement_number", "fault_description", "work_items", "labor_hours", "parts")} == {
        "shop_name": "上海大众汽车某某特约维修站",
        "vin": first["vin"],
        "plate": "沪B52819",
        "date_in": "2025-08-14",
        "mileage_in": 30_512,
        "settlement_date": "2025-08-15",
        "settlement_number": f"SET-{desk.store}-2025-000001",
        "fault_description": "brake noise — pads worn to 2 mm; AC not cold",
        "work_items": [
            {"name": "replace front pads", "op_code": "BRK-PAD", "labor_hours": "1.5",
             "fee": "450.00", "technicians": [{"technician_id": desk.t1,
                                               "clocked_hours": "0.75"}]},
            {"name": "recharge AC", "op_code": "AC-GAS", "labor_hours": "0.5", "fee": "150.00",
             "technicians": [{"technician_id": desk.t2, "clocked_hours": "0.50"}]}],
        "labor_hours": "2.0",
        "parts": [{"part_name": "front brake pads", "part_code": day["pads"], "quantity": "1",
                   "unit": "pc", "amount": "560.00",
                   "lots": [{"lot_id": str(day["lot"]), "qty": "1"}], "serials": {
                       "fitted": ["PAD-7781"],
                       "removed": [{"serial": "PAD-1203", "disposition": "scrapped",
                                    "tag": None}]}}],
    }
    assert [(e["evidence_id"], e["job_no"], e["kind"], e["uri"], e["size"])
            for e in first["evidence_refs"]] == [
        ("E1", 1, "diagnostic_report", "docs/brake-test.pdf", 48_213)]
    assert (first["work_order_id"], first["store_id"], first["work_order_number"]) == (
        str(day["a"]), desk.store, f"WO-{desk.store}-2025-000001")
    # Built from the work order's and the settlement's events, all of them cited.
    cited = {e["stream_id"] for e in first["evidence"]}
    assert cited == {str(day["a"]), str(Settlement.create_id(day["a"]))}
    with container.pool.connection() as conn:
        alone = repair_record(container.app, conn, day["a"], [desk.store], ZONE, day["shops"])
    assert alone == first


def test_the_day_is_the_stores_calendar_day_and_reversed_visits_are_left_out(
        container: Container, day: dict[str, Any]) -> None:
    desk, other = day["desk"], day["other"]
    mine = records(container, day, store_id=desk.store)
    assert [r["work_order_id"] for r in mine] == [str(day["a"]), str(day["late"])]
    assert mine[1]["settlement_date"] == "2025-08-15"
    assert mine[1]["settlement_number"] == f"SET-{desk.store}-2025-000003"  # 2 was reversed
    assert [r["work_order_id"] for r in records(container, day, date(2025, 8, 16),
                                                store_id=desk.store)] == [str(day["next_day"])]
    both = records(container, day)
    assert [r["work_order_id"] for r in both if r["store_id"] == other.store] == \
        [str(day["elsewhere"])]
    assert {r["shop_name"] for r in both} == {"上海大众汽车某某特约维修站", "某某汽车服务集团"}
    assert len(both) == 3


def test_no_record_before_settlement(container: Container, day: dict[str, Any]) -> None:
    with container.pool.connection() as conn, pytest.raises(NotSettled, match="ready_for_settle"):
        repair_record(container.app, conn, day["ready"], [day["desk"].store], ZONE, day["shops"])


def test_csv_has_one_row_per_visit_and_jsonl_one_record_per_line(
        container: Container, day: dict[str, Any]) -> None:
    mine = records(container, day, store_id=day["desk"].store)
    rows = list(csv.DictReader(io.StringIO(as_csv(mine))))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 2
    assert {k: rows[0][k] for k in ("date_in", "mileage_in", "settlement_date", "work_items",
                                    "labor_hours", "part_names", "part_codes",
                                    "part_quantities")} == {
        "date_in": "2025-08-14", "mileage_in": "30512", "settlement_date": "2025-08-15",
        "work_items": "replace front pads [BRK-PAD] 1.5 h | recharge AC [AC-GAS] 0.5 h",
        "labor_hours": "2.0", "part_names": "front brake pads", "part_codes": day["pads"],
        "part_quantities": "1"}
    assert (rows[1]["part_names"], rows[1]["work_items"]) == ("", "labor [ENG-COIL] 1.0 h")
    lines = as_jsonl(mine).splitlines()
    assert [json.loads(line) for line in lines] == mine


def test_a_days_records_are_read_a_page_or_a_batch_at_a_time(
        container: Container, day: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The API answers `limit` visits from `offset`; the command line reads `batch` visits'
    streams at a time and yields each record as it is built, never the day's streams at once."""
    stores = [day["desk"].store, day["other"].store]
    whole = records(container, day)
    with container.pool.connection() as conn, one_snapshot(conn):
        # The day's visits (the reversed one is not settled any more), in settlement order.
        visits, first = repair_records_page(container.app, conn, DAY, ZONE, day["shops"],
                                            stores, None, limit=2)
        assert visits == 3 and [r["work_order_id"] for r in first] == [
            r["work_order_id"] for r in whole[:2]] == [str(day["a"]), str(day["elsewhere"])]
        pages = [repair_records_page(container.app, conn, DAY, ZONE, day["shops"], stores,
                                     None, limit=1, offset=n)[1] for n in range(visits)]
        assert [r for p in pages for r in p] == whole
        assert repair_records_page(container.app, conn, DAY, ZONE, day["shops"], stores, None,
                                   limit=5, offset=3) == (3, [])
        read: list[int] = []
        real = repair_records_module.read_streams

        def spy(*args: Any, **kwargs: Any) -> Any:
            read.append(len(args[2]))
            return real(*args, **kwargs)

        monkeypatch.setattr(repair_records_module, "read_streams", spy)
        batches = iter_repair_records(container.app, conn, DAY, ZONE, day["shops"], stores,
                                      batch=1)
        assert next(batches) == whole[0] and read == [2]  # one visit and its settlement
        assert [whole[0], *batches] == whole
        assert read == [2] * visits
