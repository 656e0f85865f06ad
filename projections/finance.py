"""Money read models: settlements and their bills, payments, refunds, the journal (ledger and
trial balance), cashier days, statements for reconciliation, follow-ups and complaints.

Money events are few next to stock and work-order events, so each is applied with its own
statements inside the batch's transaction.

Stock movements are booked from the stock events (`projections.finance_stock`), so parts
inventory (1405) per store is the stock valuation's; see domain/ledger.py for what goes where.

What the handlers share: `projections.finance_batch`; the queries: `projections.finance_queries`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from functools import singledispatchmethod
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.types.json import Jsonb

from domain.cashier_day import CashierDay
from domain.follow_up import Complaint, FollowUp
from domain.reconciliation import Statement
from domain.settlement import Settlement
from domain.settlement_bills import bill_totals
from projections import finance_follow_ups, statement_rows, write_off_rows
from projections.base import Index, ReadModel
from projections.finance_batch import ZERO, Ctx, FinanceChanges
from projections.finance_follow_ups import TABLES as FOLLOW_UP_TABLES
from projections.finance_stock import COLUMNS as STOCK_BOOK_COLUMNS
from projections.finance_stock import STOCK_EVENTS, StockBooks
from projections.insurers import INSURER_EVENTS, apply_insurer
from projections.insurers import TABLES as INSURER_TABLES
from projections.work_orders import dumps


class FinanceView(FinanceChanges, ReadModel):
    name = "finance"
    # 2: stock movements booked (receipts, issues, returns, scrap, stocktakes, transfers), a
    # settlement's parts cost taken from the parts issued to the job (1408); 3: an insurer's
    # bills keyed by its name's `insurer_key` (its typed forms one payer in the receivables);
    # 4: the insurer master (projections/insurers.py), which groups an insurer's names; 5: the
    # OEM's and a department's bills keyed by their name's `payer_name_key` as an insurer's;
    # 6: a row per write-off (projections/write_off_rows.py), filled from the log; 7: an
    # older complaint moved into the complaint register (`moved`, `grievance_id`); 8: a
    # payment's `bank_receipt` (the OEM's or an insurer's remittance, in no cashier's day); 9:
    # a refund's `bank_refund` (a bank receipt paid back by bank, in no cashier's day) and a
    # payment's `bank_refunded`
    revision = 9
    handles = (Settlement.Event, CashierDay.Event, Statement.Event, FollowUp.Event,
               Complaint.Event, *STOCK_EVENTS, *INSURER_EVENTS)
    tables = {  # noqa: RUF012
        "settlements": """
            id uuid PRIMARY KEY, work_order_id uuid NOT NULL, work_order_number text NOT NULL,
            store_id text NOT NULL, customer_id uuid NOT NULL, status text NOT NULL,
            number text, numbers text[] NOT NULL DEFAULT '{}', bills jsonb NOT NULL,
            revenue numeric NOT NULL DEFAULT 0, vat numeric NOT NULL DEFAULT 0,
            parts_cost numeric NOT NULL DEFAULT 0, confirmed_at timestamptz,
            settled_at timestamptz, updated_at timestamptz NOT NULL, version integer NOT NULL,
            insurance_assessment jsonb""",
        "settlement_bills": """
            settlement_id uuid NOT NULL, kind text NOT NULL, store_id text NOT NULL,
            payer_key text NOT NULL, payer jsonb NOT NULL, total numeric NOT NULL,
            paid numeric NOT NULL DEFAULT 0, status text NOT NULL, invoice_no text,
            allowances numeric NOT NULL DEFAULT 0, written_off numeric NOT NULL DEFAULT 0,
            due_on date,
            PRIMARY KEY (settlement_id, kind)""",
        "payments": """
            payment_id text PRIMARY KEY, settlement_id uuid NOT NULL, store_id text NOT NULL,
            work_order_number text NOT NULL, bill text NOT NULL, kind text NOT NULL,
            method text NOT NULL, amount numeric NOT NULL, tendered numeric,
            change numeric NOT NULL, provider_ref text, business_date date NOT NULL,
            cashier text NOT NULL, correction_of date, at timestamptz NOT NULL,
            refunded numeric NOT NULL DEFAULT 0, statement_id uuid, statement_line integer,
            bank_receipt boolean NOT NULL DEFAULT false,
            bank_refunded numeric NOT NULL DEFAULT 0""",
        "refunds": """
            refund_id text PRIMARY KEY, settlement_id uuid NOT NULL, store_id text NOT NULL,
            payment_id text NOT NULL, amount numeric NOT NULL, status text NOT NULL,
            reason text NOT NULL, requested_by text NOT NULL, requested_at timestamptz NOT NULL,
            decided_by text, decided_at timestamptz, decision_reason text,
            business_date date, kind text NOT NULL DEFAULT 'payment_return',
            red_invoice_number text, statement_id uuid, statement_line integer,
            payout_method text, payout_ref text, bank_refund boolean NOT NULL DEFAULT false""",
        "journal": """
            notification_id bigint NOT NULL, entry_no integer NOT NULL, line_no integer NOT NULL,
            store_id text NOT NULL, posted_on date NOT NULL, month text NOT NULL,
            account text NOT NULL, debit numeric NOT NULL, credit numeric NOT NULL,
            memo text NOT NULL, settlement_id uuid,
            PRIMARY KEY (notification_id, entry_no, line_no)""",
        "cashier_days": """
            id uuid PRIMARY KEY, store_id text NOT NULL, cashier_id text NOT NULL, business_date date NOT NULL,
            status text NOT NULL, totals jsonb NOT NULL, expected_cash numeric,
            counted_cash numeric, variance numeric, reason text, closed_at timestamptz,
            closed_by text, UNIQUE (store_id, cashier_id, business_date)""",
        "statements": """
            id uuid PRIMARY KEY, store_id text NOT NULL, source text NOT NULL,
            account text NOT NULL, imported_at timestamptz NOT NULL, imported_by text NOT NULL""",
        "statement_lines": """
            statement_id uuid NOT NULL, line_no integer NOT NULL, store_id text NOT NULL,
            source text NOT NULL, date date NOT NULL, amount numeric NOT NULL,
            reference text NOT NULL, counterparty text NOT NULL, payment_id text,
            settlement_id uuid, manual boolean, reason text,
            explained_kind text, explained_reason text, duplicate_of integer,
            explained_by text, explained_at timestamptz, refund_id text,
            PRIMARY KEY (statement_id, line_no)""",
        **FOLLOW_UP_TABLES,
        "stock_book": STOCK_BOOK_COLUMNS,
        **INSURER_TABLES,
        **write_off_rows.TABLES,
    }
    indexes = (
        Index("settlements", "settlements_store_idx", "(store_id, settled_at)"),
        Index("settlements", "settlements_wo_idx", "(work_order_id)"),
        Index("settlements", "settlements_numbers_idx", "USING gin (numbers)"),
        Index("settlement_bills", "bills_payer_idx", "(kind, payer_key)"),
        Index("payments", "payments_day_idx", "(store_id, business_date)"),
        Index("payments", "payments_ref_idx", "(provider_ref)"),
        Index("payments", "payments_settlement_idx", "(settlement_id)"),  # a visit's money
        Index("statement_lines", "statement_lines_ref_idx", "(store_id, reference)"),
        Index("refunds", "refunds_payout_ref_idx", "(store_id, payout_ref)"),
        # the refunds paid out on a store's days: the day report, the payments journal, GET /refunds
        Index("refunds", "refunds_day_idx", "(store_id, business_date)"),
        Index("journal", "journal_month_idx", "(store_id, month, account)"),
        # a past period's trial balance reads up to its end (projections/trial_balance.py)
        Index("journal", "journal_posted_idx", "(store_id, posted_on)"),
        Index("follow_ups", "follow_ups_due_idx", "(store_id, status, due_on)"),
        Index("complaints", "complaints_store_idx", "(store_id, status)"),
        Index("follow_ups", "follow_ups_wo_idx", "(work_order_id)"),
        Index("complaints", "complaints_wo_idx", "(work_order_id)"),
    )

    # Columns added since the tables were first made: tables made before them get them here
    # (their rows are right with the defaults: every refund before credits returned a payment).
    added_columns = (
        ("settlement_bills", "allowances numeric NOT NULL DEFAULT 0"),
        ("refunds", "kind text NOT NULL DEFAULT 'payment_return'"),
        ("refunds", "red_invoice_number text"),
        ("settlements", "insurance_assessment jsonb"),  # no event before it had one
        # no line was explained before lines could be
        ("statement_lines", "explained_kind text"),
        ("statement_lines", "explained_reason text"),
        ("statement_lines", "duplicate_of integer"),
        ("statement_lines", "explained_by text"),
        ("statement_lines", "explained_at timestamptz"),
        # no refund was matched to a line before refunds could be
        ("statement_lines", "refund_id text"),
        ("refunds", "statement_id uuid"),
        ("refunds", "statement_line integer"),
        # a refund approved before they were said went out as its payment came in (the
        # proposals read the payment's method then), with no reference
        ("refunds", "payout_method text"),
        ("refunds", "payout_ref text"),
        ("settlement_bills", "written_off numeric NOT NULL DEFAULT 0"),  # none before
        ("settlement_bills", "due_on date"),  # no bill was charged to account before
        ("payments", "bank_receipt boolean NOT NULL DEFAULT false"),  # all before: in a day
        ("payments", "bank_refunded numeric NOT NULL DEFAULT 0"),  # no bank refund before
        ("refunds", "bank_refund boolean NOT NULL DEFAULT false"),  # all before: from a day
    )

    def __init__(self, timezone: str = "Asia/Shanghai") -> None:
        self.zone = ZoneInfo(timezone)

    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        books = StockBooks(conn, suffix, events)
        for notification_id, event in events:
            if isinstance(event, INSURER_EVENTS):
                apply_insurer(Ctx(conn, suffix, notification_id, self.zone, self.tables), event)
            elif isinstance(event, STOCK_EVENTS):
                books.book(notification_id, event, event.audit.at.astimezone(self.zone).date())
            elif isinstance(event, Settlement.Event | CashierDay.Event | Statement.Event
                          | FollowUp.Event | Complaint.Event):
                ctx = Ctx(conn, suffix, notification_id, self.zone, self.tables)
                self.on(event, ctx)
                if isinstance(event, Settlement.Event) and not isinstance(event,
                                                                          Settlement.Opened):
                    # every event moves the version a client sends back as If-Match
                    ctx.run("UPDATE {settlements} SET version = %s, updated_at = %s WHERE id = %s",
                            (event.originator_version, event.audit.at, event.originator_id))
        books.write()

    @singledispatchmethod
    def on(self, event: Any, ctx: Ctx) -> None:
        """Events with nothing to show (e.g. a cashier day opening) change no row."""

    # -- settlements ---------------------------------------------------------------------------

    @on.register
    def _opened(self, event: Settlement.Opened, ctx: Ctx) -> None:
        ctx.run("""INSERT INTO {settlements} (id, work_order_id, work_order_number, store_id,
                   customer_id, status, bills, updated_at, version)
                   VALUES (%s, %s, %s, %s, %s, 'open', '{{}}', %s, %s)""",
                (event.originator_id, event.work_order_id, event.work_order_number,
                 event.audit.store_id, event.customer_id, event.audit.at,
                 event.originator_version))

    @on.register
    def _drafted(self, event: Settlement.Drafted, ctx: Ctx) -> None:
        self._bills(ctx, event, event.bills, "draft")

    @on.register
    def _assessed(self, event: Settlement.InsuranceAssessed, ctx: Ctx) -> None:
        ctx.run("UPDATE {settlements} SET insurance_assessment = %s WHERE id = %s",
                (Jsonb(event.assessment, dumps=dumps), event.originator_id))

    @on.register
    def _discount(self, event: Settlement.DiscountGiven, ctx: Ctx) -> None:
        bills = self._doc(ctx, event.originator_id)
        bill = bills[event.bill]
        for line in bill["lines"]:
            line["discount"] += event.allocation.get(line["line_id"], ZERO)
        bill_totals(bill)
        bill.setdefault("discounts", []).append({
            "line_id": event.line_id, "amount": event.amount, "reason": event.reason,
            "approved_by": event.approved_by, "by": event.audit.user_id})
        self._bills(ctx, event, bills, "draft")

    @on.register
    def _confirmed(self, event: Settlement.Confirmed, ctx: Ctx) -> None:
        ctx.run("""UPDATE {settlements} SET status = 'confirmed', number = %s,
                   numbers = array_append(numbers, %s), confirmed_at = %s, updated_at = %s,
                   version = %s WHERE id = %s""",
                (event.number, event.number, event.audit.at, event.audit.at,
                 event.originator_version, event.originator_id))
        ctx.run("UPDATE {settlement_bills} SET status = 'confirmed' WHERE settlement_id = %s",
                (event.originator_id,))

    @on.register
    def _invoice(self, event: Settlement.InvoiceRecorded, ctx: Ctx) -> None:
        ctx.run("""UPDATE {settlement_bills} SET invoice_no = %s
                   WHERE settlement_id = %s AND kind = %s""",
                (event.invoice_no, event.originator_id, event.bill))
        ctx.run("""UPDATE {settlements} SET bills = jsonb_set(bills, %s, to_jsonb(%s::text)),
                   version = %s WHERE id = %s""",
                ([event.bill, "invoice_no"], event.invoice_no, event.originator_version,
                 event.originator_id))

    @on.register
    def _settled(self, event: Settlement.Settled, ctx: Ctx) -> None:
        ctx.run("""UPDATE {settlements} SET status = 'settled', settled_at = %s, updated_at = %s,
                   version = %s WHERE id = %s""",
                (event.audit.at, event.audit.at, event.originator_version, event.originator_id))
        ctx.run("UPDATE {settlement_bills} SET status = 'settled' WHERE settlement_id = %s",
                (event.originator_id,))
        self._post(ctx, event, event.entries, ctx.day(event))

    @on.register
    def _charged(self, event: Settlement.ChargedToAccount, ctx: Ctx) -> None:
        """A customer bill charged to account is owed by its due day (on_account.py)."""
        ctx.run("""UPDATE {settlement_bills} SET due_on = %s
                   WHERE settlement_id = %s AND kind = 'customer'""",
                (event.due_on, event.originator_id))

    @on.register
    def _reversed(self, event: Settlement.Reversed, ctx: Ctx) -> None:
        ctx.run("""UPDATE {settlements} SET status = 'open', number = NULL, bills = '{{}}',
                   revenue = 0, vat = 0, parts_cost = 0, settled_at = NULL, confirmed_at = NULL,
                   updated_at = %s, version = %s WHERE id = %s""",
                (event.audit.at, event.originator_version, event.originator_id))
        ctx.run("DELETE FROM {settlement_bills} WHERE settlement_id = %s", (event.originator_id,))
        self._post(ctx, event, event.entries, ctx.day(event))

    # -- payments and refunds ----------------------------------------------------------------

    @on.register
    def _payment(self, event: Settlement.PaymentTaken, ctx: Ctx) -> None:
        p = event.payment
        ctx.run("""INSERT INTO {payments} (payment_id, settlement_id, store_id, work_order_number,
                   bill, kind, method, amount, tendered, change, provider_ref, business_date,
                   cashier, correction_of, at, bank_receipt)
                   SELECT %s, %s, store_id, work_order_number, %s, %s, %s, %s, %s, %s, %s, %s,
                          %s, %s, %s, %s FROM {settlements} WHERE id = %s""",
                (p["payment_id"], event.originator_id, p["bill"], p["kind"], p["method"],
                 p["amount"], p["tendered"], p["change"], p["provider_ref"], p["business_date"],
                 p["cashier"], p.get("correction_of"), event.audit.at, event.bank_receipt,
                 event.originator_id))
        self._repaid(ctx, event.originator_id, p["bill"])
        self._post(ctx, event, [event.entry], date.fromisoformat(p["business_date"]))

    @on.register
    def _refund_requested(self, event: Settlement.RefundRequested, ctx: Ctx) -> None:
        ctx.run("""INSERT INTO {refunds} (refund_id, settlement_id, store_id, payment_id, amount,
                   status, reason, requested_by, requested_at, kind, red_invoice_number)
                   VALUES (%s, %s, %s, %s, %s, 'requested', %s, %s, %s, %s, %s)""",
                (event.refund_id, event.originator_id, event.audit.store_id, event.payment_id,
                 event.amount, event.reason, event.audit.user_id, event.audit.at, event.kind,
                 event.red_invoice_number))

    @on.register
    def _refund_approved(self, event: Settlement.RefundApproved, ctx: Ctx) -> None:
        self._decided(ctx, event, "approved", None, event.business_date)
        ctx.run("""UPDATE {refunds} SET payout_method = %s, payout_ref = %s, bank_refund = %s
                   WHERE refund_id = %s""",
                (event.payout_method, event.payout_ref, event.bank_refund, event.refund_id))
        row = ctx.one("""UPDATE {payments} p SET refunded = p.refunded + r.amount,
                         bank_refunded = p.bank_refunded
                             + CASE WHEN r.bank_refund THEN r.amount ELSE 0 END
                         FROM {refunds} r WHERE r.refund_id = %s AND p.payment_id = r.payment_id
                         RETURNING p.bill, r.amount""", (event.refund_id,))
        self._repaid(ctx, event.originator_id, row[0])
        if event.kind == "credit":  # the bill asks less; revenue and VAT carry the allowance
            net = sum((p["debit"] for p in event.entry["postings"] if p["account"] == "6003"),
                      ZERO)
            vat = sum((p["debit"] for p in event.entry["postings"] if p["account"] == "2221"),
                      ZERO)
            ctx.run("""UPDATE {settlement_bills} SET allowances = allowances + %s
                       WHERE settlement_id = %s AND kind = %s""",
                    (row[1], event.originator_id, row[0]))
            ctx.run("""UPDATE {settlements} SET revenue = revenue - %s, vat = vat - %s,
                       bills = jsonb_set(bills, %s, to_jsonb(round(coalesce(
                           (bills #>> %s)::numeric, 0) + %s, 2)::text))
                       WHERE id = %s""",
                    (net, vat, [row[0], "allowances"], [row[0], "allowances"], row[1],
                     event.originator_id))
        self._post(ctx, event, [event.entry], date.fromisoformat(event.business_date))

    @on.register
    def _written_off(self, event: Settlement.ReceivableWrittenOff, ctx: Ctx) -> None:
        if event.kind != "oem_charged_back":  # a charge-back leaves the paid bill as it was
            ctx.run("UPDATE {settlement_bills} SET written_off = written_off + %s WHERE "
                    "settlement_id = %s AND kind = %s", (event.amount, event.originator_id,
                                                         event.bill))
        write_off_rows.written_off(ctx, event)
        self._post(ctx, event, [event.entry], ctx.day(event))  # domain/receivable_adjustment.py

    @on.register
    def _write_off_reversed(self, event: Settlement.WriteOffReversed, ctx: Ctx) -> None:
        if event.kind != "oem_charged_back":  # the receivable is outstanding again
            ctx.run("UPDATE {settlement_bills} SET written_off = written_off - %s WHERE "
                    "settlement_id = %s AND kind = %s", (event.amount, event.originator_id,
                                                         event.bill))
        write_off_rows.write_off_reversed(ctx, event)
        self._post(ctx, event, [event.entry], ctx.day(event))

    @on.register
    def _refund_rejected(self, event: Settlement.RefundRejected, ctx: Ctx) -> None:
        self._decided(ctx, event, "rejected", event.reason, None)

    @on.register
    def _reconciled(self, event: Settlement.PaymentReconciled, ctx: Ctx) -> None:
        ctx.run("""UPDATE {payments} SET statement_id = %s, statement_line = %s
                   WHERE payment_id = %s""", (event.statement_id, event.line_no, event.payment_id))

    @on.register
    def _unreconciled(self, event: Settlement.PaymentReconciliationWithdrawn, ctx: Ctx) -> None:
        ctx.run("""UPDATE {payments} SET statement_id = NULL, statement_line = NULL
                   WHERE payment_id = %s""", (event.payment_id,))

    @on.register
    def _refund_reconciled(self, event: Settlement.RefundReconciled, ctx: Ctx) -> None:
        ctx.run("""UPDATE {refunds} SET statement_id = %s, statement_line = %s
                   WHERE refund_id = %s""", (event.statement_id, event.line_no, event.refund_id))

    @on.register
    def _refund_unreconciled(self, event: Settlement.RefundReconciliationWithdrawn,
                             ctx: Ctx) -> None:
        ctx.run("""UPDATE {refunds} SET statement_id = NULL, statement_line = NULL
                   WHERE refund_id = %s""", (event.refund_id,))

    # -- cashier days ----------------------------------------------------------------------------

    @on.register
    def _day_opened(self, event: CashierDay.Opened, ctx: Ctx) -> None:
        ctx.run("""INSERT INTO {cashier_days} (id, store_id, cashier_id, business_date, status,
                   totals) VALUES (%s, %s, %s, %s, 'open', '{{}}')""",
                (event.originator_id, event.audit.store_id, event.cashier_id,
                 event.business_date))

    @on.register
    def _money_in(self, event: CashierDay.MoneyIn, ctx: Ctx) -> None:
        self._day_moved(ctx, event, event.method, event.amount)

    @on.register
    def _money_out(self, event: CashierDay.MoneyOut, ctx: Ctx) -> None:
        self._day_moved(ctx, event, event.method, -event.amount)

    @on.register
    def _day_closed(self, event: CashierDay.Closed, ctx: Ctx) -> None:
        ctx.run("""UPDATE {cashier_days} SET status = 'closed', totals = %s, expected_cash = %s,
                   counted_cash = %s, variance = %s, reason = %s, closed_at = %s, closed_by = %s
                   WHERE id = %s""",
                (Jsonb(event.totals, dumps=dumps), event.expected_cash, event.counted_cash,
                 event.variance, event.reason, event.audit.at, event.audit.user_id,
                 event.originator_id))
        if event.entries:  # the variance, booked on the day it belongs to
            day = ctx.one("SELECT business_date FROM {cashier_days} WHERE id = %s",
                          (event.originator_id,))[0]
            self._post(ctx, event, event.entries, day)

    # -- statements (projections/statement_rows.py) -------------------------------------------

    on.register(Statement.Imported, statement_rows.imported)
    on.register(Statement.LineMatched, statement_rows.matched)
    on.register(Statement.RefundMatched, statement_rows.refund_matched)
    on.register(Statement.LineExplained, statement_rows.explained)
    on.register(Statement.ExplanationWithdrawn, statement_rows.explanation_withdrawn)
    on.register(Statement.RefundMatchWithdrawn, statement_rows.match_withdrawn)
    on.register(Statement.PaymentMatchWithdrawn, statement_rows.match_withdrawn)

    # -- follow-ups and complaints (projections/finance_follow_ups.py) -----------------------

    on.register(FollowUp.Scheduled, finance_follow_ups.scheduled)
    on.register(FollowUp.Attempted, finance_follow_ups.attempted)
    on.register(FollowUp.Completed, finance_follow_ups.followed_up)
    on.register(Complaint.Opened, finance_follow_ups.complaint)
    on.register(Complaint.Assigned, finance_follow_ups.assigned)
    on.register(Complaint.Resolved, finance_follow_ups.resolved)
    on.register(Complaint.Moved, finance_follow_ups.moved)
