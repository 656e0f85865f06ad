"""The DuckDB tables of the money side: settlements, payments and refunds (listed in order in
`analytics.schema`)."""

from __future__ import annotations

from analytics.schema_columns import MONEY, NOTIFICATION, TS, WORK_ORDER, Table, V, store

FACT_PAYMENTS = Table(
    "fact_payments", "one row per money movement of a settlement: deposits, payments "
    "and (negative) approved refunds", (
        NOTIFICATION,
        ("payment_id", V, ("the payment's id within its settlement; for a refund, the "
                          "refund id")),
        ("settlement_id", V, "the settlement (UUID); see fact_settlements"),
        store("payment"),
        ("kind", V, "deposit (before confirmation), payment, or refund"),
        ("bill", V, "the bill paid: customer, warranty, insurance or internal"),
        ("method", V, ("cash, bank_card, wechat_pay, alipay or bank_transfer: the method "
                       "the money came in by, or a refund's went out by (its payout method; "
                       "a refund approved before payout methods went out as its payment "
                       "came in); the refunded payment's is fact_refunds.method")),
        ("amount", MONEY, "CNY: taken (positive) or refunded (negative)"),
        ("paid_at", TS, "when it was taken or the refund approved"),
        ("business_date", "DATE", ("the cashier's business day (store time) it counts in; "
                                   "of a bank receipt, the value date on the bank's "
                                   "statement")),
        ("cashier", V, ("user id of who took it (a bank receipt: who recorded the "
                        "remittance) or paid it out: a refund from a drawer, the cashier who "
                        "asked for it, whose day it left; a bank refund (in no cashier's "
                        "day), the manager who approved it and recorded the bank transfer; "
                        "the approving manager is approved_by")),
        ("approved_by", V, "a refund's approving manager (user id); empty for money taken"),
        ("bank", "BOOLEAN", ("a bank receipt (the OEM's or an insurer's remittance by bank "
                             "transfer) or a bank refund (one paid back by bank transfer): "
                             "the bank's money, in no cashier's day")),
    ))

FACT_SETTLEMENTS = Table(
    "fact_settlements", "one row per settlement (结算) of a work order: the current "
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
    ), ("settlement_id",))

FACT_REFUNDS = Table(
    "fact_refunds", "one row per refund asked for, with its decision", (
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
        ("red_letter", "BOOLEAN", ("a credit with a red-letter invoice (红字发票) against the "
                                   "bill's tax invoice")),
        ("business_date", "DATE", ("the approving manager's business day (store time) it "
                                   "counts in; empty until approved")),
        ("vat", MONEY, ("CNY: of an approved credit, the output VAT it takes back (the "
                        "2221 debit of its entry); 0 for a payment return; empty until "
                        "approved")),
        ("requested_by", V, "user id of who asked for the refund"),
        ("decided_by", V, "user id of the manager who approved or rejected it"),
        ("payout_method", V, ("the method an approved refund went out by (one approved "
                              "before payout methods: its payment's); empty until approved")),
        ("bank", "BOOLEAN", ("an approved bank refund: a bank receipt paid back by bank "
                             "transfer, in no cashier's day; empty until approved")),
    ), ("refund_id",))

FACT_WRITE_OFFS = Table(
    "fact_write_offs", "one row per receivable adjustment of a settlement: a write-off or "
    "charge-back (positive) and its taking back (negative); no money moves", (
        NOTIFICATION,
        ("write_off_id", V, ("the write-off's id within its settlement (empty for one stored "
                             "before ids existed)")),
        ("settlement_id", V, "the settlement (UUID); see fact_settlements"),
        store("settlement"),
        ("bill", V, "the bill adjusted: warranty or insurance"),
        ("kind", V, ("oem_rejected, oem_short_paid, oem_underpaid, oem_charged_back or "
                     "insurer_short_paid")),
        ("amount", MONEY, ("CNY, VAT included: written off (positive) or taken back "
                           "(negative)")),
        ("adjusted_at", TS, "when the manager wrote it off or took it back"),
        ("business_date", "DATE", "the day of adjusted_at (store time)"),
    ))
