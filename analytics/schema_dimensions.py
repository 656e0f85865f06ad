"""The DuckDB dimension tables: stores, technicians and their jobs, parts and stock items,
vehicles, insurers and customers (listed in order in `analytics.schema`)."""

from __future__ import annotations

from analytics.schema_columns import (
    MONEY,
    PART,
    TECHNICIAN,
    TS,
    WORK_ORDER,
    Table,
    V,
    store,
    typed_key,
)

DIM_TECHNICIAN_STREAM = Table(
    "dim_technician_stream", "technician streams to technician ids (for loading)", (
        ("stream_id", V, "the technician's stream in the event store (UUID)"),
        TECHNICIAN,
        store("technician"),
    ), ("stream_id",))

DIM_JOB = Table(
    "dim_job", "one row per job of a work order dispatched (派工): the technician it "
    "is with, whose are its labor lines, those added after the dispatch included", (
        WORK_ORDER,
        ("job_no", "INTEGER", "the job of the work order: 1, 2, …"),
        TECHNICIAN[:2] + ("the technician the job was last dispatched to",),
        ("dispatched_at", TS, "when the job was last dispatched (or reassigned)"),
    ), ("work_order_id", "job_no"))

DIM_STORE = Table(
    "dim_store", "one row per store seen on a work order", (
        ("store_id", V, "the store (dealership site), e.g. S01"),
        ("first_seen", TS, "when its first work order was opened"),
    ), ("store_id",))

# a column added after the first release goes last (`create` adds it to older files)
DIM_TECHNICIAN = Table(
    "dim_technician", "one row per technician a job was dispatched to or who was "
    "named in a profile", (
        TECHNICIAN,
        store("technician"),
        ("name", V, ("the technician's current name, from their latest profile (a "
                    "rename replaces it: KPI rows show it beside the user id, the key); "
                    "empty until one is given")),
    ), ("technician_id",))

DIM_STOCK_ITEM = Table(
    "dim_stock_item", "one row per part held in a store's stock", (
        ("stock_item_id", V, "the stock item's stream (UUID)"),
        store("stock"),
        PART,
    ), ("stock_item_id",))

DIM_PART = Table(
    "dim_part", "the part master: one row per part number", (
        ("part_id", V, "the part (UUID)"),
        PART[:2] + ("the part number",),
        ("name", V, "the part's name"),
        ("category", V, "part category, e.g. brakes, filters, fluids"),
        ("unit", V, "the unit quantities of the part are counted in (piece, litre, set, …)"),
        ("list_price", MONEY, "CNY per unit, VAT included: the current list price"),
        ("preferred_supplier", V, "the supplier reorders go to"),
    ), ("part_id",))

DIM_VEHICLE = Table(
    "dim_vehicle", "one row per vehicle seen on a work order", (
        ("vehicle_id", V, "the vehicle (UUID derived from the VIN)"),
        ("vin", V, "the vehicle identification number (17 characters)"),
        ("brand", V, "vehicle brand"),
        ("model", V, "vehicle model"),
        ("year", "INTEGER", "model year"),
        typed_key("brand", "service plans and the OEM payer",
                  "group by it for one brand however it was typed"),
        typed_key("model", "service plans",
                  "group by it for one model however it was typed"),
    ), ("vehicle_id",))

DIM_INSURER = Table(
    "dim_insurer", "the insurer master: one row per insurer registered", (
        ("insurer_id", V, "the insurer (UUID)"),
        ("code", V, "its stable code, e.g. PINGAN"),
        ("name", V, "its official name, as it stands now"),
        ("short_name", V, "its short name, as it stands now"),
        ("active", "BOOLEAN", "false once deactivated"),
        ("registered_at", TS, "when it was registered"),
    ), ("insurer_id",))

DIM_INSURER_NAME = Table(
    "dim_insurer_name", "one row per name an insurer of the master holds or held: "
    "fact_settlements.insurer_key joins name_key to group an insurer's bills however "
    "they were typed", (
        ("name_key", V, ("a name (official, short or alias) compared as the master "
                        "compares names")),
        ("insurer_id", V, ("the insurer holding it now (UUID); see dim_insurer; empty "
                          "once let go (a rename, an alias removed)")),
    ), ("name_key",))

DIM_CUSTOMER = Table(
    "dim_customer", "one row per customer, without personal data", (
        ("customer_id", V, "the customer (UUID)"),
        ("kind", V, "person or company"),
        ("first_seen", TS, "when the customer was registered or first seen"),
        ("erased", "BOOLEAN", "true once the customer's personal data was erased"),
    ), ("customer_id",))
