"""A technician's figures over a period are the period's hours, summed before dividing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from projections.workshop_queries import _kpi_row, _period_rows

MON, TUE = date(2026, 11, 30), date(2026, 12, 1)


def day(user: str, on: date, available: str, clocked_hours: str, sold: str) -> dict[str, object]:
    return {"user_id": user, "name": "赵工", "store_id": "S01", "day": on,
            "available_hours": Decimal(available),
            "clocked_seconds": Decimal(clocked_hours) * 3600, "sold_hours": Decimal(sold)}


def test_a_week_is_its_hours_sold_over_its_hours_clocked_not_an_average_of_days() -> None:
    # Monday 2 h sold on 1 h clocked (200 %), Tuesday 1 h sold on 3 h clocked (33 %): the
    # two days are 3 h sold on 4 h clocked, 75 % (the days' average would say 117 %).
    rows = [day("tech-a", MON, "8", "1", "2"), day("tech-a", TUE, "8", "3", "1"),
            day("tech-b", TUE, "0", "0", "0.5")]
    week = [_kpi_row(r, "period") for r in _period_rows(rows, MON, TUE)]
    assert week == [
        {"user_id": "tech-a", "name": "赵工", "store_id": "S01", "from_day": MON, "to_day": TUE,
         "days": 2, "available_hours": "16.00", "clocked_hours": "4.00", "sold_hours": "3.00",
         "efficiency": "0.7500", "productivity": "0.2500", "proficiency": "0.1875"},
        {"user_id": "tech-b", "name": "赵工", "store_id": "S01", "from_day": MON, "to_day": TUE,
         "days": 1, "available_hours": "0.00", "clocked_hours": "0.00", "sold_hours": "0.50",
         "efficiency": None, "productivity": None, "proficiency": None}]
    # By day, as before: one row per technician and day.
    by_day = [_kpi_row(r, "day") for r in rows]
    assert [(r["day"], r["efficiency"]) for r in by_day] == [
        (MON, "2.0000"), (TUE, "0.3333"), (TUE, None)]
