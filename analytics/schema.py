"""The DuckDB analytic tables: facts and dimensions loaded from the event log.

Each table says its columns and, for facts that describe one thing whose state changes (a work
order, a labor line), its key; keyless facts only ever grow (movements, payments, punches).
"""

from __future__ import annotations

from dataclasses import dataclass

MONEY = "DECIMAL(18,2)"
QTY = "DECIMAL(18,3)"
TS = "TIMESTAMPTZ"
VALUE = "DECIMAL(20,5)"  # quantity (3 places) x unit cost (2 places)


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]

    def ddl(self) -> str:
        cols = ", ".join(f"{c} {t}" for c, t in self.columns)
        return f"CREATE TABLE IF NOT EXISTS {self.name} ({cols})"


TABLES = (
    Table("fact_work_orders", (
        ("work_order_id", "VARCHAR"), ("number", "VARCHAR"), ("store_id", "VARCHAR"),
        ("kind", "VARCHAR"), ("customer_id", "VARCHAR"), ("vehicle_id", "VARCHAR"),
        ("vin", "VARCHAR"), ("brand", "VARCHAR"), ("model", "VARCHAR"), ("year", "INTEGER"),
        ("complaint", "VARCHAR"), ("appointment_id", "VARCHAR"), ("status", "VARCHAR"),
        ("opened_at", TS), ("checked_in_at", TS), ("first_clock_on_at", TS), ("ready_at", TS),
        ("settled_at", TS), ("delivered_at", TS), ("closed_at", TS), ("cancelled_at", TS),
        ("mileage_in", "INTEGER"), ("mileage_out", "INTEGER"), ("customer_total", MONEY),
    ), ("work_order_id",)),
    Table("fact_labor_lines", (
        ("work_order_id", "VARCHAR"), ("line_id", "VARCHAR"), ("store_id", "VARCHAR"),
        ("job_no", "INTEGER"), ("op_code", "VARCHAR"), ("pay_type", "VARCHAR"),
        ("status", "VARCHAR"), ("hours_sold", QTY), ("rate", MONEY), ("gross", MONEY),
        ("vat", MONEY), ("vat_rate", "DECIMAL(6,4)"), ("discount", MONEY),
        ("net_ex_vat", MONEY), ("technician_id", "VARCHAR"), ("added_at", TS),
        ("approved_at", TS), ("completed_at", TS),
    ), ("work_order_id", "line_id")),
    Table("fact_part_lines", (
        ("work_order_id", "VARCHAR"), ("line_id", "VARCHAR"), ("store_id", "VARCHAR"),
        ("part_number", "VARCHAR"), ("pay_type", "VARCHAR"), ("status", "VARCHAR"),
        ("supply", "VARCHAR"), ("qty", QTY), ("issued_qty", QTY), ("unit_price", MONEY),
        ("gross", MONEY), ("cost", MONEY), ("added_at", TS), ("approved_at", TS),
    ), ("work_order_id", "line_id")),
    Table("fact_clock_punches", (
        ("work_order_id", "VARCHAR"), ("job_no", "INTEGER"), ("technician_id", "VARCHAR"),
        ("store_id", "VARCHAR"), ("clock_on_at", TS), ("clock_off_at", TS),
        ("hours", "DECIMAL(18,4)"),
        ("notification_id", "BIGINT"),
    )),
    Table("fact_stock_movements", (
        ("notification_id", "BIGINT"), ("seq", "INTEGER"), ("moved_at", TS),
        ("store_id", "VARCHAR"), ("part_number", "VARCHAR"), ("type", "VARCHAR"), ("qty", QTY), ("lot_id", "VARCHAR"),
        ("unit_cost", MONEY), ("value", VALUE), ("supplier", "VARCHAR"),
        ("work_order_id", "VARCHAR"), ("reference", "VARCHAR"),
    )),
    Table("fact_payments", (
        ("notification_id", "BIGINT"), ("payment_id", "VARCHAR"), ("settlement_id", "VARCHAR"),
        ("store_id", "VARCHAR"), ("kind", "VARCHAR"), ("bill", "VARCHAR"),
        ("method", "VARCHAR"), ("amount", MONEY), ("paid_at", TS), ("business_date", "DATE"),
        ("cashier", "VARCHAR"),
    )),
    Table("fact_settlements", (
        ("settlement_id", "VARCHAR"), ("work_order_id", "VARCHAR"), ("store_id", "VARCHAR"),
        ("number", "VARCHAR"), ("status", "VARCHAR"), ("revenue", MONEY), ("vat", MONEY),
        ("parts_cost", MONEY), ("discount", MONEY), ("customer_total", MONEY),
        ("warranty_total", MONEY), ("insurance_total", MONEY), ("internal_total", MONEY),
        ("confirmed_at", TS), ("settled_at", TS), ("bills_json", "VARCHAR"),
    ), ("settlement_id",)),
    Table("fact_refunds", (
        ("refund_id", "VARCHAR"), ("settlement_id", "VARCHAR"), ("payment_id", "VARCHAR"),
        ("store_id", "VARCHAR"), ("method", "VARCHAR"), ("bill", "VARCHAR"),
        ("amount", MONEY), ("status", "VARCHAR"), ("requested_at", TS), ("decided_at", TS),
    ), ("refund_id",)),
    Table("fact_follow_ups", (
        ("follow_up_id", "VARCHAR"), ("work_order_id", "VARCHAR"), ("store_id", "VARCHAR"),
        ("due_on", "DATE"), ("csi", "INTEGER"), ("completed_at", TS), ("complaint", "BOOLEAN"),
    ), ("follow_up_id",)),
    Table("fact_stocktake_variances", (
        ("notification_id", "BIGINT"), ("seq", "INTEGER"), ("counted_at", TS),
        ("store_id", "VARCHAR"), ("part_number", "VARCHAR"), ("count_id", "VARCHAR"), ("lot_id", "VARCHAR"),
        ("qty", QTY), ("unit_cost", MONEY), ("value", VALUE),
    )),
    Table("fact_appointments", (
        ("appointment_id", "VARCHAR"), ("store_id", "VARCHAR"), ("day", "DATE"),
        ("status", "VARCHAR"), ("booked_at", TS), ("work_order_id", "VARCHAR"),
    ), ("appointment_id",)),
    Table("fact_attendance", (
        ("technician_id", "VARCHAR"), ("store_id", "VARCHAR"), ("day", "DATE"),
        ("planned_hours", "DECIMAL(8,2)"), ("available_hours", "DECIMAL(8,2)"),
        ("status", "VARCHAR"),
    ), ("technician_id", "day")),
    Table("dim_technician_stream", (
        ("stream_id", "VARCHAR"), ("technician_id", "VARCHAR"), ("store_id", "VARCHAR"),
    ), ("stream_id",)),
    Table("dim_store", (("store_id", "VARCHAR"), ("first_seen", TS)), ("store_id",)),
    # name: from the technician's profile (Technician.Named), NULL until one is given; a
    # column added after the first release goes last (`create` adds it to older files)
    Table("dim_technician", (("technician_id", "VARCHAR"), ("store_id", "VARCHAR"),
                             ("name", "VARCHAR")), ("technician_id",)),
    Table("dim_stock_item", (
        ("stock_item_id", "VARCHAR"), ("store_id", "VARCHAR"), ("part_number", "VARCHAR"),
    ), ("stock_item_id",)),
    Table("dim_part", (
        ("part_id", "VARCHAR"), ("part_number", "VARCHAR"), ("name", "VARCHAR"),
        ("category", "VARCHAR"),
        ("unit", "VARCHAR"), ("list_price", MONEY), ("preferred_supplier", "VARCHAR"),
    ), ("part_id",)),
    Table("dim_vehicle", (
        ("vehicle_id", "VARCHAR"), ("vin", "VARCHAR"), ("brand", "VARCHAR"),
        ("model", "VARCHAR"), ("year", "INTEGER"),
    ), ("vehicle_id",)),
    Table("dim_customer", (
        ("customer_id", "VARCHAR"), ("kind", "VARCHAR"), ("first_seen", TS),
        ("erased", "BOOLEAN"),
    ), ("customer_id",)),
)
BY_NAME = {t.name: t for t in TABLES}
POSITION_DDL = "CREATE TABLE IF NOT EXISTS analytics_position (position BIGINT NOT NULL)"
