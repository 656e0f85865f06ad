"""The DuckDB analytic tables: facts and dimensions loaded from the event log, with their data
dictionary.

Each table says what one row is, and each column what it holds, in which unit or currency: the
loader writes them as DuckDB comments (`COMMENT ON TABLE / COLUMN`), so a BI tool or
`SELECT * FROM duckdb_columns()` shows them next to the data. Facts that describe one thing whose
state changes (a work order, a labor line) have a key; keyless facts only ever grow (movements,
payments, punches). Money is CNY to the fen; times are instants (TIMESTAMPTZ, stored in UTC).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

MONEY = "DECIMAL(18,2)"
QTY = "DECIMAL(18,3)"
TS = "TIMESTAMPTZ"
VALUE = "DECIMAL(20,5)"  # quantity (3 places) x unit cost (2 places)
V = "VARCHAR"

Column = tuple[str, str, str]  # name, SQL type, what it holds (unit, currency)


@dataclass(frozen=True)
class Table:
    name: str
    about: str
    fields: tuple[Column, ...]
    key: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[tuple[str, str], ...]:
        return tuple((name, sql_type) for name, sql_type, _ in self.fields)

    @property
    def column_names(self) -> list[str]:
        return [name for name, _, _ in self.fields]

    def ddl(self) -> str:
        cols = ", ".join(f"{c} {t}" for c, t in self.columns)
        return f"CREATE TABLE IF NOT EXISTS {self.name} ({cols})"

    def comments(self) -> list[str]:
        """The data dictionary as DuckDB statements (run again on every start: idempotent)."""
        return [f"COMMENT ON TABLE {self.name} IS {_quoted(self.about)}"] + [
            f"COMMENT ON COLUMN {self.name}.{name} IS {_quoted(meaning)}"
            for name, _, meaning in self.fields]


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def store(what: str = "row") -> Column:
    return ("store_id", V, f"the store (dealership site) of the {what}, e.g. S01; see dim_store")


WORK_ORDER = ("work_order_id", V, "the work order (UUID); see fact_work_orders")
NOTIFICATION = ("notification_id", "BIGINT",
                "position of the event in the event log that made the row (global, increasing)")
SEQ = ("seq", "INTEGER", "0, 1, 2 … for the rows one event made (with notification_id: unique)")
PAY_TYPE = ("pay_type", V, "who pays the line: customer, warranty (the OEM), insurance, internal")
PART = ("part_number", V, "the part number (as in the part master); see dim_part")
LOT = ("lot_id", V, "the stock lot the quantity came from or went to (supplier delivery)")
UNIT_COST = ("unit_cost", MONEY, "CNY per unit: the lot's unit cost as received")
TECHNICIAN = ("technician_id", V, "the technician's user id; see dim_technician")


def typed_key(what: str, compared: str, use: str) -> Column:
    """The key column of a brand or model as typed ("VOLKSWAGEN", full-width
    "ＶＯＬＫＳＷＡＧＥＮ"): the payer key (domain/payer_name.py)."""
    about = (f"the {what} compared as {compared} compare it (full-width as ASCII, spaces "
             f"collapsed, case folded): {use}")
    return f"{what}_key", V, about


TABLES: tuple[Table, ...] = (
    Table("fact_work_orders", "one row per work order (a service visit) with its milestones; "
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
          ), ("work_order_id",)),
    Table("fact_labor_lines", "one row per labor line of a work order (hours sold at a rate), "
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
          ), ("work_order_id", "line_id")),
    Table("fact_part_lines", "one row per part line of a work order (parts sold), with the "
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
          ), ("work_order_id", "line_id")),
    Table("fact_clock_punches", "one row per clock-on / clock-off of a technician on a job "
          "(打卡): the hours actually worked", (
              WORK_ORDER,
              ("job_no", "INTEGER", "the job of the work order: 1, 2, …"),
              TECHNICIAN,
              store("work order"),
              ("clock_on_at", TS, "when the technician clocked on"),
              ("clock_off_at", TS, "when the technician clocked off"),
              ("hours", "DECIMAL(18,4)", "hours between clock on and off, h"),
              NOTIFICATION,
          )),
    Table("fact_stock_movements", "one row per lot and stock movement (出入库): receipts, "
          "issues to jobs, returns, scrap, transfers, supplier returns, stocktake variances", (
              NOTIFICATION, SEQ,
              ("moved_at", TS, "when the stock moved"),
              store("stock"),
              PART,
              ("type", V, ("receipt, issue, return_from_job, scrap, transfer_out, transfer_in, "
                          "return_to_supplier or stocktake_variance")),
              ("qty", QTY, "quantity in the part's unit: positive into stock, negative out"),
              LOT, UNIT_COST,
              ("value", VALUE, "CNY: qty x unit_cost (negative out of stock)"),
              ("supplier", V, "the lot's supplier"),
              ("work_order_id", V, "the work order of an issue or return from a job (UUID)"),
              ("reference", V, ("purchase order or delivery note, scrap request, transfer or "
                               "stocktake id")),
          )),
    Table("fact_payments", "one row per money movement of a settlement: deposits, payments "
          "and (negative) approved refunds", (
              NOTIFICATION,
              ("payment_id", V, ("the payment's id within its settlement; for a refund, the "
                                "refund id")),
              ("settlement_id", V, "the settlement (UUID); see fact_settlements"),
              store("payment"),
              ("kind", V, "deposit (before confirmation), payment, or refund"),
              ("bill", V, "the bill paid: customer, warranty, insurance or internal"),
              ("method", V, "cash, bank_card, wechat_pay, alipay or bank_transfer"),
              ("amount", MONEY, "CNY: taken (positive) or refunded (negative)"),
              ("paid_at", TS, "when it was taken or the refund approved"),
              ("business_date", "DATE", "the cashier's business day (store time) it counts in"),
              ("cashier", V, "user id of the cashier (for a refund: the approving manager)"),
          )),
    Table("fact_settlements", "one row per settlement (结算) of a work order: the current "
          "bills' figures; emptied by a reversal until settled again", (
              ("settlement_id", V, "the settlement (UUID)"),
              WORK_ORDER,
              store("settlement"),
              ("number", V, ("the settlement number, SET-<store>-<year>-<n>, gap-free per store "
                            "and year")),
              ("status", V, "open, draft, confirmed or settled"),
              ("revenue", MONEY, ("CNY without VAT: every bill's lines after discounts, less "
                                 "the allowances of credits")),
              ("vat", MONEY, "CNY: the output VAT inside the bills, less that of credits"),
              ("parts_cost", MONEY, "CNY: FIFO cost of the parts billed"),
              ("discount", MONEY, "CNY, VAT included: discounts given on every bill"),
              ("customer_total", MONEY, "CNY, VAT included: the customer bill"),
              ("warranty_total", MONEY, "CNY, VAT included: the bill to the OEM (warranty)"),
              ("insurance_total", MONEY, "CNY, VAT included: the bill to the insurer"),
              ("internal_total", MONEY, ("CNY, VAT included: the bill to an internal "
                                        "department")),
              ("confirmed_at", TS, "when the settlement was confirmed (numbered)"),
              ("settled_at", TS, "when it was paid in full"),
              ("bills_json", V, "the bills line by line, as JSON (amounts in CNY as text)"),
              ("allowances", MONEY, ("CNY, VAT included: credits (price allowances after "
                                    "settlement) approved on the current bills; revenue and "
                                    "vat are without them")),
              ("insurer", V, ("the insurer as typed on the insurance bill (the assessment's "
                             "or the draft's); empty without one")),
              ("insurer_key", V, ("the typed insurer's name compared as the insurer master "
                                 "compares names (full-width as ASCII, spaces collapsed, "
                                 "case folded); join dim_insurer_name.name_key for the "
                                 "insurer it belongs to")),
          ), ("settlement_id",)),
    Table("fact_refunds", "one row per refund asked for, with its decision", (
              ("refund_id", V, "the refund's id within its settlement"),
              ("settlement_id", V, "the settlement (UUID); see fact_settlements"),
              ("payment_id", V, "the payment refunded; see fact_payments"),
              store("refund"),
              ("method", V, "method of the payment refunded"),
              ("bill", V, "bill of the payment refunded"),
              ("amount", MONEY, "CNY asked to be refunded"),
              ("status", V, "requested, approved or rejected"),
              ("requested_at", TS, "when the refund was asked for"),
              ("decided_at", TS, "when a manager approved or rejected it"),
              ("kind", V, ("payment_return (the bill still asks for it) or credit (a price "
                          "allowance: the bill asks that much less)")),
          ), ("refund_id",)),
    Table("fact_follow_ups", "one row per follow-up call after delivery (回访)", (
              ("follow_up_id", V, "the follow-up (UUID)"),
              WORK_ORDER,
              store("visit"),
              ("due_on", "DATE", "the day the call is due (store time)"),
              ("csi", "INTEGER", "satisfaction score 1-5 (5 best); empty if not reached"),
              ("completed_at", TS, "when the call was recorded"),
              ("complaint", "BOOLEAN", "whether the call opened a complaint"),
          ), ("follow_up_id",)),
    Table("fact_stocktake_variances", "one row per lot whose count differed from the books "
          "in an approved stocktake (盘点)", (
              NOTIFICATION, SEQ,
              ("counted_at", TS, "when the variance was posted"),
              store("stock"),
              PART,
              ("count_id", V, "the stocktake count"),
              LOT,
              ("qty", QTY, "counted − booked, in the part's unit (negative: missing)"),
              UNIT_COST,
              ("value", VALUE, "CNY: qty x unit_cost"),
          )),
    Table("fact_lost_sales", "one row per lost sale: a part asked for at the parts counter "
          "or the service desk and not sold (a line of demand the store did not fill, unless "
          "voided)", (
              NOTIFICATION,
              ("lost_sale_id", V, "the lost sale (UUID)"),
              ("recorded_at", TS, "when it was recorded"),
              store("request"),
              PART[:2] + (("the part number asked for, as the part master spells part "
                           "numbers; it need not be in the master (see dim_part)"),),
              ("qty", QTY, "the quantity asked for, in the part's unit"),
              ("reason", V, "not_stocked, out_of_stock, price or customer_declined_wait"),
              ("work_order_id", V, "the work order it was asked for (UUID), if any"),
              ("customer_id", V, "the customer who asked (UUID), if named; see dim_customer"),
              ("voided_at", TS, ("when a manager voided it as a wrong entry (no longer "
                                 "demand: the fill rate leaves it out); empty: it stands")),
          ), ("lost_sale_id",)),
    Table("fact_purchase_order_lines", "one row per line of a purchase order to a supplier; "
          "an emergency line is an emergency purchase (parts fill rate)", (
              ("purchase_order_id", V, "the purchase order (UUID)"),
              ("line_no", "INTEGER", "the line within its order: 1, 2, …"),
              ("number", V, "the order number people read, PO-<store>-<year>-<n>"),
              store("order"),
              ("supplier", V, "the supplier ordered from"),
              PART,
              ("qty", QTY, "quantity ordered, in the part's unit"),
              ("unit_cost", MONEY, "CNY per unit as ordered"),
              ("emergency", "BOOLEAN", ("an emergency purchase: bought outside normal "
                                        "replenishment (false on orders from before the flag)")),
              ("status", V, "draft, sent or cancelled: the order's, until it was sent"),
              ("added_at", TS, "when the line was put on the order"),
              ("sent_at", TS, "when the order was sent to the supplier (the purchase)"),
          ), ("purchase_order_id", "line_no")),
    Table("fact_appointments", "one row per appointment (预约) and where it ended", (
              ("appointment_id", V, "the appointment (UUID)"),
              store("appointment"),
              ("day", "DATE", "the day booked (store time), after any reschedule"),
              ("status", V, "booked, arrived, no_show or cancelled"),
              ("booked_at", TS, "when it was booked"),
              ("work_order_id", V, "the work order opened on arrival (UUID)"),
          ), ("appointment_id",)),
    Table("fact_attendance", "one row per technician and planned shift day: the hours "
          "available for productivity", (
              TECHNICIAN,
              store("technician"),
              ("day", "DATE", "the shift's day (store time)"),
              ("planned_hours", "DECIMAL(8,2)", "hours planned on the shift, h"),
              ("available_hours", "DECIMAL(8,2)", ("hours actually available after attendance "
                                                  "(0 if absent or cancelled), h")),
              ("status", V, "planned, present, partial, absent, or cancelled (the shift)"),
          ), ("technician_id", "day")),
    Table("fact_hourly_costs", "one row per hourly cost set on a technician's profile: the "
          "cost of their clocked time from then on (labor gross margin)", (
              NOTIFICATION,
              TECHNICIAN,
              store("technician"),
              ("set_at", TS, ("when the cost was set: it applies to time clocked on from then "
                              "until the next one, never to time clocked before")),
              ("hourly_cost", MONEY, ("CNY per hour clocked: what the technician's time costs "
                                      "the shop (a cost: no VAT)")),
          )),
    Table("dim_technician_stream", "technician streams to technician ids (for loading)", (
              ("stream_id", V, "the technician's stream in the event store (UUID)"),
              TECHNICIAN,
              store("technician"),
          ), ("stream_id",)),
    Table("dim_job", "one row per job of a work order dispatched (派工): the technician it "
          "is with, whose are its labor lines, those added after the dispatch included", (
              WORK_ORDER,
              ("job_no", "INTEGER", "the job of the work order: 1, 2, …"),
              TECHNICIAN[:2] + ("the technician the job was last dispatched to",),
              ("dispatched_at", TS, "when the job was last dispatched (or reassigned)"),
          ), ("work_order_id", "job_no")),
    Table("dim_store", "one row per store seen on a work order", (
              ("store_id", V, "the store (dealership site), e.g. S01"),
              ("first_seen", TS, "when its first work order was opened"),
          ), ("store_id",)),
    # a column added after the first release goes last (`create` adds it to older files)
    Table("dim_technician", "one row per technician a job was dispatched to or who was "
          "named in a profile", (
              TECHNICIAN,
              store("technician"),
              ("name", V, ("the technician's current name, from their latest profile (a "
                          "rename replaces it: KPI rows show it beside the user id, the key); "
                          "empty until one is given")),
          ), ("technician_id",)),
    Table("dim_stock_item", "one row per part held in a store's stock", (
              ("stock_item_id", V, "the stock item's stream (UUID)"),
              store("stock"),
              PART,
          ), ("stock_item_id",)),
    Table("dim_part", "the part master: one row per part number", (
              ("part_id", V, "the part (UUID)"),
              PART[:2] + ("the part number",),
              ("name", V, "the part's name"),
              ("category", V, "part category, e.g. brakes, filters, fluids"),
              ("unit", V, "the unit quantities of the part are counted in (piece, litre, set, …)"),
              ("list_price", MONEY, "CNY per unit, VAT included: the current list price"),
              ("preferred_supplier", V, "the supplier reorders go to"),
          ), ("part_id",)),
    Table("dim_vehicle", "one row per vehicle seen on a work order", (
              ("vehicle_id", V, "the vehicle (UUID derived from the VIN)"),
              ("vin", V, "the vehicle identification number (17 characters)"),
              ("brand", V, "vehicle brand"),
              ("model", V, "vehicle model"),
              ("year", "INTEGER", "model year"),
              typed_key("brand", "service plans and the OEM payer",
                        "group by it for one brand however it was typed"),
              typed_key("model", "service plans",
                        "group by it for one model however it was typed"),
          ), ("vehicle_id",)),
    Table("dim_insurer", "the insurer master: one row per insurer registered", (
              ("insurer_id", V, "the insurer (UUID)"),
              ("code", V, "its stable code, e.g. PINGAN"),
              ("name", V, "its official name, as it stands now"),
              ("short_name", V, "its short name, as it stands now"),
              ("active", "BOOLEAN", "false once deactivated"),
              ("registered_at", TS, "when it was registered"),
          ), ("insurer_id",)),
    Table("dim_insurer_name", "one row per name an insurer of the master holds or held: "
          "fact_settlements.insurer_key joins name_key to group an insurer's bills however "
          "they were typed", (
              ("name_key", V, ("a name (official, short or alias) compared as the master "
                              "compares names")),
              ("insurer_id", V, ("the insurer holding it now (UUID); see dim_insurer; empty "
                                "once let go (a rename, an alias removed)")),
          ), ("name_key",)),
    Table("dim_customer", "one row per customer, without personal data", (
              ("customer_id", V, "the customer (UUID)"),
              ("kind", V, "person or company"),
              ("first_seen", TS, "when the customer was registered or first seen"),
              ("erased", "BOOLEAN", "true once the customer's personal data was erased"),
          ), ("customer_id",)),
)
# Every keyed table ends with the last event that changed its row: the snapshot publisher
# copies only rows changed since the snapshot's position (growing facts: new notification ids).
CHANGED_BY = ("last_notification_id", "BIGINT",
              "the last event (notification id, see analytics_position) that changed the row")
TABLES = tuple(replace(t, fields=(*t.fields, CHANGED_BY)) if t.key else t for t in TABLES)
BY_NAME = {t.name: t for t in TABLES}
POSITION_DDL = ("CREATE TABLE IF NOT EXISTS analytics_position (position BIGINT NOT NULL, "
                "revision INTEGER)")
POSITION_COMMENTS = [
    "COMMENT ON TABLE analytics_position IS 'the loader''s position in the event log: one row'",
    ("COMMENT ON COLUMN analytics_position.position IS 'the last event (notification id) the "
    "tables include'"),
    ("COMMENT ON COLUMN analytics_position.revision IS 'the revision of the loader''s fold that "
     "wrote the tables (NULL: from before revisions, taken as 1)'"),
]
