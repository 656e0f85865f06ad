"""The analytic tables carry customer complaint cases and suggestions (`fact_grievances`), one
row per case updated by its later steps, alike read event by event, in batches and rebuilt from
the whole log, never with the customer's words; and the KPIs counted from it: complaints per
100 visits, the on-time closure rate (by the first closure) and the first-contact rate."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import duckdb

from analytics.kpis import Filters, run
from analytics.schema import BY_NAME, TABLES
from domain.grievances import Grievances, GrievanceTerms
from servicecore.container import Container
from servicecore.demo import make_vin
from tests.integration.analytics_support import (
    Shop,
    assert_same_tables,
    at,
    one_by_one_and_batched,
    rebuilt_tables,
    table_rows,
)
from tests.scratch_systems import module_container

D = Decimal
container = module_container("sc_grievance_kpis")
DAY = "2025-06-10"
WORDS = "the noise is still there 噪音还在"


def test_cases_one_by_one_in_batches_and_rebuilt_and_their_kpis(
        container: Container, tmp_path: Path) -> None:
    one, batched = one_by_one_and_batched(container, tmp_path)
    shop = Shop(container, "GK" + uuid.uuid4().hex[:6].upper())
    cases = Grievances(container.app, GrievanceTerms(contact_hours=24, close_days=7,
                                                     serious_close_days=3))
    visits = [shop.open(make_vin(shop.rng), "noise", "repair", at(DAY, f"0{3 + i}:00"))
              for i in range(4)]
    wo, customer = visits[0]
    # a visit opened and cancelled (the car left before any work): no visit of the figures
    gone, _ = shop.open(make_vin(shop.rng), "noise", "repair", at(DAY, "07:00"))
    container.work_orders.cancel(shop.r("advisor", at(DAY, "07:10")), gone,
                                 reason="customer left")

    def register(kind: str, hhmm: str, severity: str = "normal") -> UUID:
        return UUID(cases.register(shop.r("advisor", at(DAY, hhmm)), shop.store,
                                   customer_id=customer, kind=kind, channel="phone",
                                   category="repair_quality", severity=severity, words=WORDS,
                                   work_order_id=wo).body["id"])

    def through(case: UUID, contacted: str, closed: str, day: str = DAY) -> None:
        adv = shop.r("advisor", at(DAY, "08:00"))
        cases.assign(adv, case, owner=shop.adv)
        cases.contact(shop.r("advisor", at(day, contacted)), case)
        cases.resolve(shop.r("advisor", at(day, closed)), case, resolution="re-checked, fixed",
                      accepted=True)
        cases.close(shop.r("manager", at(day, closed)), case)

    late = "2025-06-20"  # past a normal complaint's 7 days (and its first day's contact)
    on_time = register("complaint", "08:00")  # contacted and closed the same day
    through(on_time, "09:00", "09:30")
    serious = register("complaint", "08:10", severity="serious")  # late on both counts
    through(serious, "03:00", "04:00", day=late)
    # closed on time, reopened, closed again late: counted once, on time, by its first closure
    reopened = register("complaint", "08:20")
    through(reopened, "09:05", "09:40")
    cases.reopen(shop.r("manager", at("2025-06-21", "03:00")), reopened, reason="came back")
    cases.resolve(shop.r("advisor", at("2025-06-21", "04:00")), reopened,
                  resolution="parts replaced", accepted=False)
    cases.close(shop.r("manager", at("2025-06-21", "05:00")), reopened)
    register("suggestion", "08:30")  # counted in no figure
    waiting = register("complaint", "08:40")  # never contacted
    june = Filters(store_id=shop.store, date_from=date(2025, 6, 1), date_to=date(2025, 6, 30))

    def figures(conn: duckdb.DuckDBPyConnection) -> list[dict[str, object]]:
        return [run(conn, name, june)["rows"][0] for name in (
            "complaints_per_100_visits", "complaint_on_time_closure", "complaint_first_contact")]

    rows = ("SELECT grievance_id, kind, severity, status, contacted_at, first_closed_at, "
            "closed_at, reopened, accepted FROM fact_grievances WHERE store_id = ? "
            "ORDER BY registered_at")
    due = at(DAY, "08:20") + timedelta(days=7)
    try:
        for loader in (one, batched):
            loader.catch_up()
            found = loader.conn.execute(rows, [shop.store]).fetchall()
            assert [r[:4] for r in found] == [
                (str(on_time), "complaint", "normal", "closed"),
                (str(serious), "complaint", "serious", "closed"),
                (str(reopened), "complaint", "normal", "closed"),
                (found[3][0], "suggestion", "normal", "registered"),
                (str(waiting), "complaint", "normal", "registered")]
            assert found[2][4:] == (at(DAY, "09:05"), at(DAY, "09:40"),
                                    at("2025-06-21", "05:00"), 1, False)
            assert loader.conn.execute(
                "SELECT close_due FROM fact_grievances WHERE grievance_id = ?",
                [str(reopened)]).fetchall() == [(due,)]
            # 4 complaints per 4 work orders (the cancelled one not counted, as the monthly
            # report's visits): 100.00; 2 of 3 first closed on time;
            # 2 of 3 contacted within 24 h, 1 still waiting past its contact_due
            assert figures(loader.conn) == [
                {"complaints": 4, "work_orders": 4, "complaints_per_100_visits": D("100.00")},
                {"closed": 3, "closed_on_time": 2, "on_time_closure_rate": D("0.6667"),
                 "reopened": 1},
                {"contacted": 3, "contacted_on_time": 2,
                 "first_contact_on_time_rate": D("0.6667"), "waiting_past_due": 1}]
            # the customer's words are nowhere in the tables
            assert not any(WORDS in str(row) for table in TABLES
                           for row in table_rows(loader.conn, table.name))
        with rebuilt_tables(container, tmp_path) as rebuilt:
            assert_same_tables(one.conn, batched.conn, rebuilt)
            assert figures(rebuilt) == figures(one.conn)
    finally:
        one.close()
        batched.close()


def test_the_table_has_no_column_for_the_customers_words() -> None:
    assert "words" not in BY_NAME["fact_grievances"].column_names
