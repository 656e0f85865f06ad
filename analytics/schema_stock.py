"""The DuckDB tables of the parts stock: movements, stocktake variances, lost sales and
purchase-order lines (listed in order in `analytics.schema`)."""

from __future__ import annotations

from analytics.schema_columns import (
    LOT,
    MONEY,
    NOTIFICATION,
    PART,
    QTY,
    SEQ,
    TS,
    UNIT_COST,
    VALUE,
    Table,
    V,
    store,
)

FACT_STOCK_MOVEMENTS = Table(
    "fact_stock_movements", "one row per lot and stock movement (出入库): receipts, "
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
    ))

FACT_STOCKTAKE_VARIANCES = Table(
    "fact_stocktake_variances", "one row per lot whose count differed from the books "
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
    ))

FACT_LOST_SALES = Table(
    "fact_lost_sales", "one row per lost sale: a part asked for at the parts counter "
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
    ), ("lost_sale_id",))

FACT_PURCHASE_ORDER_LINES = Table(
    "fact_purchase_order_lines", "one row per line of a purchase order to a supplier; "
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
    ), ("purchase_order_id", "line_no"))
