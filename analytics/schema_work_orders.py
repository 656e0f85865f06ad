"""The DuckDB tables of the service visit: work orders and their labor and part lines,
technicians' clock punches, attendance and hourly costs, appointments and follow-ups
(listed in order in `analytics.schema`)."""

from __future__ import annotations

from analytics.schema_columns import (
    MONEY,
    NOTIFICATION,
    PART,
    PAY_TYPE,
    QTY,
    TECHNICIAN,
    TS,
    WORK_ORDER,
    Table,
    V,
    store,
    typed_key,
)

FACT_WORK_ORDERS = Table(
    "fact_work_orders", "one row per work order (a service visit) with its milestones; "
    "updated as the visit moves on", (
        WORK_ORDER,
        ("number", V, ("the work-order number people read, WO-<store>-<year>-<n>, "
                      "gap-free per store and year")),
        store("visit"),
        ("kind", V, "maintenance, repair, warranty, insurance, internal or body_paint"),
        ("customer_id", V, "the customer (UUID); see dim_customer"),
        ("vehicle_id", V, "the vehicle (UUID derived from the VIN); see dim_vehicle"),
        ("vin", V, "the vehicle identification number (17 characters)"),
        ("brand", V, "vehicle brand as recorded on the work order"),
        ("model", V, "vehicle model as recorded on the work order"),
        ("year", "INTEGER", "vehicle model year"),
        ("complaint", V, "the customer's first complaint, as the advisor wrote it"),
        ("appointment_id", V, "the appointment it came from (UUID), empty for walk-ins"),
        ("status", V, ("opened, checked_in, in_progress, ready_for_settlement, settled, "
                      "delivered, closed or cancelled")),
        ("opened_at", TS, "when the work order was opened"),
        ("checked_in_at", TS, "when the vehicle was received (接车)"),
        ("first_clock_on_at", TS, "when a technician first clocked on to a job"),
        ("ready_at", TS, "when the last job passed QC: ready for settlement"),
        ("settled_at", TS, ("when the settlement was paid in full; empty again after a "
                           "reversal")),
        ("delivered_at", TS, "when the vehicle was handed back (交车)"),
        ("closed_at", TS, "when the work order was closed (after the follow-up)"),
        ("cancelled_at", TS, "when the work order was cancelled"),
        ("mileage_in", "INTEGER", "odometer at check-in, km"),
        ("mileage_out", "INTEGER", "odometer at delivery, km"),
        ("customer_total", MONEY, ("CNY, VAT included: the customer bill once settled, "
                                  "after discounts")),
        typed_key("brand", "service plans and the OEM payer",
                  "the KPI filter brand matches by it"),
        typed_key("model", "service plans", "the KPI filter model matches by it"),
        ("comeback_of", V, ("the earlier work order (UUID) the advisor marked this visit a "
                           "comeback of; empty when unmarked or the mark was withdrawn")),
    ), ("work_order_id",))

FACT_LABOR_LINES = Table(
    "fact_labor_lines", "one row per labor line of a work order (hours sold at a rate), "
    "with settlement discounts", (
        WORK_ORDER,
        ("line_id", V, "the line within its work order: L1, L2, … in the order added"),
        store("work order"),
        ("job_no", "INTEGER", "the job of the work order the line belongs to: 1, 2, …"),
        ("op_code", V, "the labor operation code (flat-rate catalogue)"),
        PAY_TYPE,
        ("status", V, ("pending, approved or declined by the customer; moved to another "
                      "work order")),
        ("hours_sold", QTY, "labor hours sold (flat-rate hours), h"),
        ("rate", MONEY, "CNY per hour, VAT included"),
        ("gross", MONEY, "CNY, VAT included: hours_sold x rate, before discounts"),
        ("vat", MONEY, "CNY: the VAT inside gross"),
        ("vat_rate", "DECIMAL(6,4)", "VAT rate of the line, e.g. 0.1300 for 13 %"),
        ("discount", MONEY, "CNY, VAT included: the settlement discount given on the line"),
        ("net_ex_vat", MONEY, ("CNY without VAT: (gross − discount) less the VAT inside "
                              "it; labor sales for the effective labor rate")),
        TECHNICIAN[:2] + ("the technician the job was dispatched to",),
        ("added_at", TS, "when the line was added to the estimate"),
        ("approved_at", TS, ("when the customer decided on the line (approved or "
                            "declined)")),
        ("completed_at", TS, "when the line's job was completed"),
        ("passed_at", TS, ("when the line's job passed QC: its hours count as sold "
                           "(technician efficiency) from then")),
    ), ("work_order_id", "line_id"))

FACT_PART_LINES = Table(
    "fact_part_lines", "one row per part line of a work order (parts sold), with the "
    "quantity issued from stock and its FIFO cost", (
        WORK_ORDER,
        ("line_id", V, "the line within its work order: L1, L2, … in the order added"),
        store("work order"),
        PART,
        PAY_TYPE,
        ("status", V, ("pending, approved or declined by the customer; moved to another "
                      "work order")),
        ("supply", V, ("how the demand was met at approval: reserved (from stock), "
                      "back_order or special_order")),
        ("qty", QTY, "quantity sold, in the part's unit (see dim_part.unit)"),
        ("issued_qty", QTY, ("quantity issued to the job from stock, net of returns, in "
                            "the part's unit")),
        ("unit_price", MONEY, "CNY per unit, VAT included"),
        ("gross", MONEY, "CNY, VAT included: qty x unit_price"),
        ("cost", MONEY, "CNY: FIFO cost of the issued quantity at its lots' unit cost"),
        ("added_at", TS, "when the line was added to the estimate"),
        ("approved_at", TS, "when the customer decided on the line"),
    ), ("work_order_id", "line_id"))

FACT_CLOCK_PUNCHES = Table(
    "fact_clock_punches", "one row per clock-on / clock-off of a technician on a job "
    "(打卡): the hours actually worked", (
        WORK_ORDER,
        ("job_no", "INTEGER", "the job of the work order: 1, 2, …"),
        TECHNICIAN,
        store("work order"),
        ("clock_on_at", TS, "when the technician clocked on"),
        ("clock_off_at", TS, "when the technician clocked off"),
        ("hours", "DECIMAL(18,4)", "hours between clock on and off, h"),
        NOTIFICATION,
    ))

FACT_FOLLOW_UPS = Table(
    "fact_follow_ups", "one row per follow-up call after delivery (回访)", (
        ("follow_up_id", V, "the follow-up (UUID)"),
        WORK_ORDER,
        store("visit"),
        ("due_on", "DATE", "the day the call is due (store time)"),
        ("csi", "INTEGER", "satisfaction score 1-5 (5 best); empty if not reached"),
        ("completed_at", TS, "when the call was recorded"),
        ("complaint", "BOOLEAN", "whether the call opened a complaint"),
    ), ("follow_up_id",))

FACT_APPOINTMENTS = Table(
    "fact_appointments", "one row per appointment (预约) and where it ended", (
        ("appointment_id", V, "the appointment (UUID)"),
        store("appointment"),
        ("day", "DATE", "the day booked (store time), after any reschedule"),
        ("status", V, "booked, arrived, no_show or cancelled"),
        ("booked_at", TS, "when it was booked"),
        ("work_order_id", V, "the work order opened on arrival (UUID)"),
    ), ("appointment_id",))

FACT_ATTENDANCE = Table(
    "fact_attendance", "one row per technician and planned shift day: the hours "
    "available for productivity", (
        TECHNICIAN,
        store("technician"),
        ("day", "DATE", "the shift's day (store time)"),
        ("planned_hours", "DECIMAL(8,2)", "hours planned on the shift, h"),
        ("available_hours", "DECIMAL(8,2)", ("hours actually available after attendance "
                                            "(0 if absent or cancelled), h")),
        ("status", V, "planned, present, partial, absent, or cancelled (the shift)"),
    ), ("technician_id", "day"))

FACT_HOURLY_COSTS = Table(
    "fact_hourly_costs", "one row per hourly cost set on a technician's profile: the "
    "cost of their clocked time from then on (labor gross margin)", (
        NOTIFICATION,
        TECHNICIAN,
        store("technician"),
        ("set_at", TS, ("when the cost was set: it applies to time clocked on from then "
                        "until the next one, never to time clocked before")),
        ("hourly_cost", MONEY, ("CNY per hour clocked: what the technician's time costs "
                                "the shop (a cost: no VAT)")),
    ))
