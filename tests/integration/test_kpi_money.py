"""Money in the KPI catalogue is a string with two decimals (fen), as everywhere in the API:
in JSON and in the CSV, every amount of every KPI — the effective labor rate and the average
inventory included, which DuckDB would otherwise divide into DOUBLE numbers. Hours are
strings with two decimals too, as `/technicians/kpi` shows them."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable

from fastapi.testclient import TestClient

from servicecore.container import Container
from tests.integration.analytics_support import publish_analytics, visit

MONEY = re.compile(r"^-?\d+\.\d{2}$")
# the catalogue's amounts (CNY, without VAT but the credits' amount and credit_notes_amount)
AMOUNTS = {"amount", "vat_taken_back", "amount_ex_vat", "payment_returns_amount",
           "credit_notes_amount", "credit_notes_ex_vat", "write_offs_amount",
           "effective_rate", "labor_sales_ex_vat", "revenue_ex_vat", "parts_cost",
           "gross_profit", "cost_of_parts_sold", "inventory_start", "inventory_end",
           "average_inventory", "stocktake_variance_value", "obsolete_value", "inventory_value",
           "labor_cost", "labor_gross_profit", "parts_sales_ex_vat", "parts_gross_profit"}
# the catalogue's hours (sold, available, clocked): two decimals too, as `/technicians/kpi`
HOURS = {"hours_sold", "hours_available", "hours_clocked", "hours", "hours_without_cost"}


def test_every_amount_of_the_catalogue_is_a_string_of_fen(
        container: Container, client: TestClient, auth: Callable[..., dict[str, str]]) -> None:
    # One settled visit: 1.0 h of labor at 300.00 with VAT (265.49 without), a part in stock.
    store = "KM" + uuid.uuid4().hex[:6].upper()
    visit(container, store, "2025-05-06", 0)
    publish_analytics(container)
    analyst = auth("analyst", "ana-1", [store])

    seen: dict[str, object] = {}
    names = [k["name"] for k in client.get("/analytics/kpis", headers=analyst).json()["items"]]
    for name in names:
        got = client.get(f"/analytics/kpis/{name}", headers=analyst, params={"store_id": store})
        assert got.status_code == 200, got.text
        for row in got.json()["rows"]:
            for column in (AMOUNTS | HOURS) & set(row):
                value = row[column]
                assert value is None or (isinstance(value, str) and MONEY.match(value)), (
                    name, column, value)
                seen.setdefault(f"{name}.{column}", value)
    assert seen["effective_labor_rate.effective_rate"] == "265.49"
    assert seen["pay_type_mix.labor_sales_ex_vat"] == "265.49"
    # 20 filters at 40.00 received, one issued: 760.00 at the start and end of the window
    assert seen["parts_turnover.average_inventory"] == "760.00"
    # the hour clocked at 85.00 against the 265.49 sold
    assert (seen["labor_gross_margin.labor_cost"],
            seen["labor_gross_margin.labor_gross_profit"]) == ("85.00", "180.49")

    # the filter sold at 100.00 with VAT (11.50): 88.50, at its FIFO cost of 40.00
    assert (seen["parts_sales.parts_sales_ex_vat"], seen["parts_sales.parts_gross_profit"]) == (
        "88.50", "48.50")
    as_csv = client.get("/analytics/kpis/effective_labor_rate", headers=analyst,
                        params={"store_id": store, "format": "csv"})
    [row] = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert (row["labor_sales_ex_vat"], row["effective_rate"]) == ("265.49", "265.49")
    assert (row["hours_sold"], seen["effective_labor_rate.hours_sold"]) == ("1.00", "1.00")
    assert seen["pay_type_mix.hours"] == "1.00"
