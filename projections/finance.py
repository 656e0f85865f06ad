"""Money read models: settlements and their bills, payments, refunds, the journal (ledger and
trial balance), cashier days, statements for reconciliation, follow-ups and complaints.

Money events are few next to stock and work-order events, so each is applied with its own
statements inside the batch's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import singledispatchmethod
from typing import Any, TypeVar, cast
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg
from psycopg.types.json import Jsonb

from domain.cashier_day import CashierDay
from domain.follow_up import Complaint, FollowUp
from domain.money import CENT
from domain.reconciliation import Statement
from domain.settlement import Settlement
from domain.settlement_bills import bill_totals
from projections.base import Index, ReadModel
from projections.base import page as _page
from projections.base import rows as _rows
from projections.work_orders import dumps

ZERO = Decimal("0.00")
T = TypeVar("T")
METHODS_BY_SOURCE = {"bank": ("bank_transfer", "bank_card"), "card_acquirer": ("bank_card",),
                     "wechat_pay": ("wechat_pay",), "alipay": ("alipay",)}


def _payer_key(kind: str, payer: dict[str, Any]) -> str:
    return str(payer.get("customer_id") or payer.get("oem") or payer.get("insurer")
               or payer.get("department") or kind)


class _Ctx:
    """One event's place: the connection, the table suffix, its notification id, the zone."""

    def __init__(self, conn: psycopg.Connection[Any], suffix: str, notification_id: int,
                 zone: ZoneInfo) -> None:
        self.conn = conn
        self.suffix = suffix
        self.notification_id = notification_id
        self.zone = zone

    def _sql(self, sql: str) -> str:
        return sql.format(**{t: t + self.suffix for t in FinanceView.tables})

    def run(self, sql: str, params: Sequence[Any] | dict[str, Any]) -> None:
        self.conn.execute(self._sql(sql), params)

    def one(self, sql: str, params: Sequence[Any]) -> Any:
        row = self.conn.execute(self._sql(sql), params).fetchone()
        assert row is not None, sql
        return row

    def day(self, event: Any) -> date:
        return event.audit.at.astimezone(self.zone).date()  # type: ignore[no-any-return]


class FinanceView(ReadModel):
    name = "finance"
    handles = (Settlement.Event, CashierDay.Event, Statement.Event, FollowUp.Event,
               Complaint.Event)
    tables = {  # noqa: RUF012
        "settlements": """
            id uuid PRIMARY KEY, work_order_id uuid NOT NULL, work_order_number text NOT NULL,
            store_id text NOT NULL, customer_id uuid NOT NULL, status text NOT NULL,
            number text, numbers text[] NOT NULL DEFAULT '{}', bills jsonb NOT NULL,
            revenue numeric NOT NULL DEFAULT 0, vat numeric NOT NULL DEFAULT 0,
            parts_cost numeric NOT NULL DEFAULT 0, confirmed_at timestamptz,
            settled_at timestamptz, updated_at timestamptz NOT NULL, version integer NOT NULL""",
        "settlement_bills": """
            settlement_id uuid NOT NULL, kind text NOT NULL, store_id text NOT NULL,
            payer_key text NOT NULL, payer jsonb NOT NULL, total numeric NOT NULL,
            paid numeric NOT NULL DEFAULT 0, status text NOT NULL, invoice_no text,
            allowances numeric NOT NULL DEFAULT 0, PRIMARY KEY (settlement_id, kind)""",
        "payments": """
            payment_id text PRIMARY KEY, settlement_id uuid NOT NULL, store_id text NOT NULL,
            work_order_number text NOT NULL, bill text NOT NULL, kind text NOT NULL,
            method text NOT NULL, amount numeric NOT NULL, tendered numeric,
            change numeric NOT NULL, provider_ref text, business_date date NOT NULL,
            cashier text NOT NULL, correction_of date, at timestamptz NOT NULL,
            refunded numeric NOT NULL DEFAULT 0, statement_id uuid, statement_line integer""",
        "refunds": """
            refund_id text PRIMARY KEY, settlement_id uuid NOT NULL, store_id text NOT NULL,
            payment_id text NOT NULL, amount numeric NOT NULL, status text NOT NULL,
            reason text NOT NULL, requested_by text NOT NULL, requested_at timestamptz NOT NULL,
            decided_by text, decided_at timestamptz, decision_reason text,
            business_date date, kind text NOT NULL DEFAULT 'payment_return',
            red_invoice_number text""",
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
            PRIMARY KEY (statement_id, line_no)""",
        "follow_ups": """
            id uuid PRIMARY KEY, work_order_id uuid NOT NULL, work_order_number text NOT NULL,
            store_id text NOT NULL, customer_id uuid NOT NULL, due_on date NOT NULL,
            status text NOT NULL, attempts integer NOT NULL DEFAULT 0, csi integer,
            comment text, complaint_id uuid, done_at timestamptz, done_by text""",
        "complaints": """
            id uuid PRIMARY KEY, work_order_id uuid NOT NULL, work_order_number text NOT NULL,
            store_id text NOT NULL, customer_id uuid NOT NULL, description text NOT NULL,
            source text NOT NULL, status text NOT NULL, assignee text, resolution text,
            opened_at timestamptz NOT NULL, resolved_at timestamptz""",
    }
    indexes = (
        Index("settlements", "settlements_store_idx", "(store_id, settled_at)"),
        Index("settlements", "settlements_wo_idx", "(work_order_id)"),
        Index("settlements", "settlements_numbers_idx", "USING gin (numbers)"),
        Index("settlement_bills", "bills_payer_idx", "(kind, payer_key)"),
        Index("payments", "payments_day_idx", "(store_id, business_date)"),
        Index("payments", "payments_ref_idx", "(provider_ref)"),
        Index("statement_lines", "statement_lines_ref_idx", "(store_id, reference)"),
        Index("journal", "journal_month_idx", "(store_id, month, account)"),
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
    )

    def __init__(self, timezone: str = "Asia/Shanghai") -> None:
        self.zone = ZoneInfo(timezone)

    def create(self, conn: psycopg.Connection[Any], suffix: str = "", *,
               indexes: bool = True) -> None:
        super().create(conn, suffix, indexes=indexes)
        # only a table that lacks the column is altered (an ALTER TABLE would wait for, and
        # then hold up, every reader of the table even where the column is there)
        found = set(conn.execute(
            """SELECT table_name, column_name FROM information_schema.columns
               WHERE table_schema = current_schema() AND table_name = ANY(%s)""",
            ([table + suffix for table, _ in self.added_columns],)).fetchall())
        for table, column in self.added_columns:
            if (table + suffix, column.split()[0]) not in found:
                conn.execute(f"ALTER TABLE {table}{suffix} ADD COLUMN IF NOT EXISTS {column}")

    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        for notification_id, event in events:
            if isinstance(event, Settlement.Event | CashierDay.Event | Statement.Event
                          | FollowUp.Event | Complaint.Event):
                ctx = _Ctx(conn, suffix, notification_id, self.zone)
                self.on(event, ctx)
                if isinstance(event, Settlement.Event) and not isinstance(event,
                                                                          Settlement.Opened):
                    # every event moves the version a client sends back as If-Match
                    ctx.run("UPDATE {settlements} SET version = %s, updated_at = %s WHERE id = %s",
                            (event.originator_version, event.audit.at, event.originator_id))

    @singledispatchmethod
    def on(self, event: Any, ctx: _Ctx) -> None:
        """Events with nothing to show (e.g. a cashier day opening) change no row."""

    # -- settlements ---------------------------------------------------------------------------

    @on.register
    def _opened(self, event: Settlement.Opened, ctx: _Ctx) -> None:
        ctx.run("""INSERT INTO {settlements} (id, work_order_id, work_order_number, store_id,
                   customer_id, status, bills, updated_at, version)
                   VALUES (%s, %s, %s, %s, %s, 'open', '{{}}', %s, %s)""",
                (event.originator_id, event.work_order_id, event.work_order_number,
                 event.audit.store_id, event.customer_id, event.audit.at,
                 event.originator_version))

    def _bills(self, ctx: _Ctx, event: Settlement.Event, bills: dict[str, Any],
               status: str) -> None:
        lines = [ln for b in bills.values() for ln in b["lines"]]
        ctx.run("""UPDATE {settlements} SET status = %s, bills = %s, revenue = %s, vat = %s,
                   parts_cost = %s, updated_at = %s, version = %s WHERE id = %s""",
                (status, Jsonb(bills, dumps=dumps),
                 sum((ln["net"] - ln["vat"] for ln in lines), ZERO),
                 sum((ln["vat"] for ln in lines), ZERO), sum((ln["cost"] for ln in lines), ZERO),
                 event.audit.at, event.originator_version, event.originator_id))
        ctx.run("DELETE FROM {settlement_bills} WHERE settlement_id = %s", (event.originator_id,))
        for kind, bill in bills.items():
            ctx.run("""INSERT INTO {settlement_bills} (settlement_id, kind, store_id, payer_key,
                       payer, total, status, invoice_no) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
                    (event.originator_id, kind, event.audit.store_id,
                     _payer_key(kind, bill["payer"]), Jsonb(bill["payer"]), bill["total"],
                     status, bill.get("invoice_no")))
        ctx.run("""UPDATE {settlement_bills} b SET paid = coalesce((
                       SELECT sum(p.amount - p.refunded) FROM {payments} p
                       WHERE p.settlement_id = b.settlement_id AND p.bill = b.kind), 0)
                   WHERE b.settlement_id = %s""", (event.originator_id,))

    def _doc(self, ctx: _Ctx, settlement_id: UUID) -> dict[str, Any]:
        row = ctx.one("SELECT bills FROM {settlements} WHERE id = %s", (settlement_id,))
        return {k: _decimals(v) for k, v in row[0].items()}

    @on.register
    def _drafted(self, event: Settlement.Drafted, ctx: _Ctx) -> None:
        self._bills(ctx, event, event.bills, "draft")

    @on.register
    def _discount(self, event: Settlement.DiscountGiven, ctx: _Ctx) -> None:
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
    def _confirmed(self, event: Settlement.Confirmed, ctx: _Ctx) -> None:
        ctx.run("""UPDATE {settlements} SET status = 'confirmed', number = %s,
                   numbers = array_append(numbers, %s), confirmed_at = %s, updated_at = %s,
                   version = %s WHERE id = %s""",
                (event.number, event.number, event.audit.at, event.audit.at,
                 event.originator_version, event.originator_id))
        ctx.run("UPDATE {settlement_bills} SET status = 'confirmed' WHERE settlement_id = %s",
                (event.originator_id,))

    @on.register
    def _invoice(self, event: Settlement.InvoiceRecorded, ctx: _Ctx) -> None:
        ctx.run("""UPDATE {settlement_bills} SET invoice_no = %s
                   WHERE settlement_id = %s AND kind = %s""",
                (event.invoice_no, event.originator_id, event.bill))
        ctx.run("""UPDATE {settlements} SET bills = jsonb_set(bills, %s, to_jsonb(%s::text)),
                   version = %s WHERE id = %s""",
                ([event.bill, "invoice_no"], event.invoice_no, event.originator_version,
                 event.originator_id))

    @on.register
    def _settled(self, event: Settlement.Settled, ctx: _Ctx) -> None:
        ctx.run("""UPDATE {settlements} SET status = 'settled', settled_at = %s, updated_at = %s,
                   version = %s WHERE id = %s""",
                (event.audit.at, event.audit.at, event.originator_version, event.originator_id))
        ctx.run("UPDATE {settlement_bills} SET status = 'settled' WHERE settlement_id = %s",
                (event.originator_id,))
        self._post(ctx, event, event.entries, ctx.day(event))

    @on.register
    def _reversed(self, event: Settlement.Reversed, ctx: _Ctx) -> None:
        ctx.run("""UPDATE {settlements} SET status = 'open', number = NULL, bills = '{{}}',
                   revenue = 0, vat = 0, parts_cost = 0, settled_at = NULL, confirmed_at = NULL,
                   updated_at = %s, version = %s WHERE id = %s""",
                (event.audit.at, event.originator_version, event.originator_id))
        ctx.run("DELETE FROM {settlement_bills} WHERE settlement_id = %s", (event.originator_id,))
        self._post(ctx, event, event.entries, ctx.day(event))

    def _post(self, ctx: _Ctx, event: Any, entries: list[dict[str, Any]], day: date) -> None:
        store_id = event.audit.store_id
        settlement_id = event.originator_id if isinstance(event, Settlement.Event) else None
        for entry_no, entry in enumerate(entries):
            for line_no, p in enumerate(entry["postings"]):
                ctx.run("""INSERT INTO {journal} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                           %s)""",
                        (ctx.notification_id, entry_no, line_no, store_id, day,
                         day.strftime("%Y-%m"), p["account"], p["debit"], p["credit"],
                         entry["memo"], settlement_id))

    # -- payments and refunds ----------------------------------------------------------------

    @on.register
    def _payment(self, event: Settlement.PaymentTaken, ctx: _Ctx) -> None:
        p = event.payment
        ctx.run("""INSERT INTO {payments} (payment_id, settlement_id, store_id, work_order_number,
                   bill, kind, method, amount, tendered, change, provider_ref, business_date,
                   cashier, correction_of, at)
                   SELECT %s, %s, store_id, work_order_number, %s, %s, %s, %s, %s, %s, %s, %s,
                          %s, %s, %s FROM {settlements} WHERE id = %s""",
                (p["payment_id"], event.originator_id, p["bill"], p["kind"], p["method"],
                 p["amount"], p["tendered"], p["change"], p["provider_ref"], p["business_date"],
                 p["cashier"], p.get("correction_of"), event.audit.at, event.originator_id))
        self._repaid(ctx, event.originator_id, p["bill"])
        self._post(ctx, event, [event.entry], date.fromisoformat(p["business_date"]))

    def _repaid(self, ctx: _Ctx, settlement_id: UUID, bill: str) -> None:
        ctx.run("""UPDATE {settlement_bills} b SET paid = coalesce((
                       SELECT sum(p.amount - p.refunded) FROM {payments} p
                       WHERE p.settlement_id = b.settlement_id AND p.bill = b.kind), 0)
                   WHERE b.settlement_id = %s AND b.kind = %s""", (settlement_id, bill))

    @on.register
    def _refund_requested(self, event: Settlement.RefundRequested, ctx: _Ctx) -> None:
        ctx.run("""INSERT INTO {refunds} (refund_id, settlement_id, store_id, payment_id, amount,
                   status, reason, requested_by, requested_at, kind, red_invoice_number)
                   VALUES (%s, %s, %s, %s, %s, 'requested', %s, %s, %s, %s, %s)""",
                (event.refund_id, event.originator_id, event.audit.store_id, event.payment_id,
                 event.amount, event.reason, event.audit.user_id, event.audit.at, event.kind,
                 event.red_invoice_number))

    def _decided(self, ctx: _Ctx, event: Any, status: str, reason: str | None,
                 business_date: str | None) -> None:
        ctx.run("""UPDATE {refunds} SET status = %s, decided_by = %s, decided_at = %s,
                   decision_reason = %s, business_date = %s WHERE refund_id = %s""",
                (status, event.audit.user_id, event.audit.at, reason, business_date,
                 event.refund_id))

    @on.register
    def _refund_approved(self, event: Settlement.RefundApproved, ctx: _Ctx) -> None:
        self._decided(ctx, event, "approved", None, event.business_date)
        row = ctx.one("""UPDATE {payments} p SET refunded = p.refunded + r.amount
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
    def _refund_rejected(self, event: Settlement.RefundRejected, ctx: _Ctx) -> None:
        self._decided(ctx, event, "rejected", event.reason, None)

    @on.register
    def _reconciled(self, event: Settlement.PaymentReconciled, ctx: _Ctx) -> None:
        ctx.run("""UPDATE {payments} SET statement_id = %s, statement_line = %s
                   WHERE payment_id = %s""", (event.statement_id, event.line_no, event.payment_id))

    # -- cashier days ----------------------------------------------------------------------------

    @on.register
    def _day_opened(self, event: CashierDay.Opened, ctx: _Ctx) -> None:
        ctx.run("""INSERT INTO {cashier_days} (id, store_id, cashier_id, business_date, status,
                   totals) VALUES (%s, %s, %s, %s, 'open', '{{}}')""",
                (event.originator_id, event.audit.store_id, event.cashier_id,
                 event.business_date))

    def _day_moved(self, ctx: _Ctx, event: Any, method: str, amount: Decimal) -> None:
        ctx.run("""UPDATE {cashier_days} SET totals = jsonb_set(totals, ARRAY[%(m)s],
                       to_jsonb(round(coalesce((totals->>%(m)s)::numeric, 0) + %(a)s, 2)::text)),
                   expected_cash = coalesce(expected_cash, 0) + CASE WHEN %(m)s = 'cash'
                       THEN %(a)s ELSE 0 END
                   WHERE id = %(id)s""", {"m": method, "a": amount, "id": event.originator_id})

    @on.register
    def _money_in(self, event: CashierDay.MoneyIn, ctx: _Ctx) -> None:
        self._day_moved(ctx, event, event.method, event.amount)

    @on.register
    def _money_out(self, event: CashierDay.MoneyOut, ctx: _Ctx) -> None:
        self._day_moved(ctx, event, event.method, -event.amount)

    @on.register
    def _day_closed(self, event: CashierDay.Closed, ctx: _Ctx) -> None:
        ctx.run("""UPDATE {cashier_days} SET status = 'closed', totals = %s, expected_cash = %s,
                   counted_cash = %s, variance = %s, reason = %s, closed_at = %s, closed_by = %s
                   WHERE id = %s""",
                (Jsonb(event.totals, dumps=dumps), event.expected_cash, event.counted_cash,
                 event.variance, event.reason, event.audit.at, event.audit.user_id,
                 event.originator_id))

    # -- statements ------------------------------------------------------------------------------

    @on.register
    def _imported(self, event: Statement.Imported, ctx: _Ctx) -> None:
        ctx.run("""INSERT INTO {statements} VALUES (%s, %s, %s, %s, %s, %s)""",
                (event.originator_id, event.audit.store_id, event.source, event.account,
                 event.audit.at, event.audit.user_id))
        for line in event.lines:
            ctx.run("""INSERT INTO {statement_lines} (statement_id, line_no, store_id, source,
                       date, amount, reference, counterparty) VALUES (%s, %s, %s, %s, %s, %s,
                       %s, %s)""",
                    (event.originator_id, line["line_no"], event.audit.store_id, event.source,
                     line["date"], line["amount"], line["reference"], line["counterparty"]))

    @on.register
    def _matched(self, event: Statement.LineMatched, ctx: _Ctx) -> None:
        ctx.run("""UPDATE {statement_lines} SET payment_id = %s, settlement_id = %s, manual = %s,
                   reason = %s WHERE statement_id = %s AND line_no = %s""",
                (event.payment_id, event.settlement_id, event.manual, event.reason,
                 event.originator_id, event.line_no))

    # -- follow-ups and complaints -------------------------------------------------------------

    @on.register
    def _scheduled(self, event: FollowUp.Scheduled, ctx: _Ctx) -> None:
        ctx.run("""INSERT INTO {follow_ups} (id, work_order_id, work_order_number, store_id,
                   customer_id, due_on, status) VALUES (%s, %s, %s, %s, %s, %s, 'open')""",
                (event.originator_id, event.work_order_id, event.work_order_number,
                 event.audit.store_id, event.customer_id, event.due_on))

    @on.register
    def _attempted(self, event: FollowUp.Attempted, ctx: _Ctx) -> None:
        ctx.run("UPDATE {follow_ups} SET attempts = attempts + 1 WHERE id = %s",
                (event.originator_id,))

    @on.register
    def _followed_up(self, event: FollowUp.Completed, ctx: _Ctx) -> None:
        ctx.run("""UPDATE {follow_ups} SET status = 'done', csi = %s, comment = %s,
                   complaint_id = %s, done_at = %s, done_by = %s WHERE id = %s""",
                (event.csi, event.comment, event.complaint_id, event.audit.at,
                 event.audit.user_id, event.originator_id))

    @on.register
    def _complaint(self, event: Complaint.Opened, ctx: _Ctx) -> None:
        ctx.run("""INSERT INTO {complaints} (id, work_order_id, work_order_number, store_id,
                   customer_id, description, source, status, opened_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, 'opened', %s)""",
                (event.originator_id, event.work_order_id, event.work_order_number,
                 event.audit.store_id, event.customer_id, event.description, event.source,
                 event.audit.at))

    @on.register
    def _assigned(self, event: Complaint.Assigned, ctx: _Ctx) -> None:
        ctx.run("UPDATE {complaints} SET status = 'assigned', assignee = %s WHERE id = %s",
                (event.assignee, event.originator_id))

    @on.register
    def _resolved(self, event: Complaint.Resolved, ctx: _Ctx) -> None:
        ctx.run("""UPDATE {complaints} SET status = 'resolved', resolution = %s,
                   resolved_at = %s WHERE id = %s""",
                (event.resolution, event.audit.at, event.originator_id))


# Every amount of money the finance view answers with: columns, sums, and the keys of the
# bills' JSON (quantities and VAT rates are not money: `qty`, `vat_rate`).
AMOUNTS = frozenset({
    "amount", "tendered", "change", "refunded", "paid", "outstanding", "billed", "revenue",
    "vat", "parts_cost", "gross_profit", "debit", "credit", "balance", "taken",
    "expected_cash", "counted_cash", "variance", "gross", "discount", "net", "cost", "labor",
    "parts", "unit_price", "total", "allowances", "expensed"})


def _cents(value: Any) -> Any:
    """An amount as every answer shows it, with two decimals ("0.00", "12.50")."""
    if isinstance(value, Decimal):
        return value.quantize(CENT)
    if isinstance(value, str):
        try:
            return Decimal(value).quantize(CENT)
        except InvalidOperation:
            return value
    return value  # None, or a count (a page's `total`)


def shown(doc: T) -> T:
    """`doc` with each amount in it (by `AMOUNTS`; a cashier day's `totals` by method) at two
    decimals. The tables keep what was written: numeric defaults and sums of no rows are "0",
    and rows written before amounts were checked at the edge may hold another scale."""
    return cast(T, _shown(doc))


def _shown(doc: Any) -> Any:
    if isinstance(doc, list):
        return [_shown(item) for item in doc]
    if not isinstance(doc, dict):
        return doc
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key in AMOUNTS and not isinstance(value, dict | list | bool):
            out[key] = _cents(value)
        elif key == "totals" and isinstance(value, dict):
            out[key] = {method: _cents(amount) for method, amount in value.items()}
        else:
            out[key] = _shown(value)
    return out


def _decimals(bill: dict[str, Any]) -> dict[str, Any]:
    """A bill read back from JSON with its amounts as Decimal again."""
    amounts = ("gross", "discount", "net", "vat", "cost", "qty", "unit_price", "vat_rate",
               "labor", "parts", "total", "allowances", "deductible")
    out = {k: (Decimal(v) if k in amounts and v is not None else v) for k, v in bill.items()}
    out["lines"] = [{k: (Decimal(v) if k in amounts and v is not None else v)
                     for k, v in line.items()} for line in bill.get("lines", [])]
    return out


# -- queries --------------------------------------------------------------------------------



def _scope(stores: Sequence[str], column: str = "store_id") -> tuple[list[str], list[Any]]:
    return ([], []) if "*" in stores else ([f"{column} = ANY(%s)"], [list(stores)])


def _where(stores: Sequence[str], filters: dict[str, tuple[str, Any]],
           column: str = "store_id") -> tuple[str, list[Any]]:
    clauses, params = _scope(stores, column)
    for clause, value in filters.values():
        if value is not None:
            clauses.append(clause)
            params.append(value)
    return " AND ".join(clauses) or "TRUE", params


def list_settlements(conn: psycopg.Connection[Any], stores: Sequence[str], *,
                     status: str | None = None, number: str | None = None, limit: int = 50,
                     offset: int = 0) -> dict[str, Any]:
    """Settlements, newest change first; `number` matches a current or a reversed number."""
    where, params = _where(stores, {"status": ("status = %s", status),
                                    "number": ("numbers @> ARRAY[%s]::text[]", number)})
    return shown(_page(conn, f"""SELECT id, work_order_id, work_order_number, store_id,
        customer_id, status, number, numbers, revenue, vat, parts_cost, confirmed_at,
        settled_at, version FROM settlements WHERE {where}""", params,
                       order_by="updated_at DESC, id", limit=limit, offset=offset))


EXPENSED = ("(CASE WHEN kind = 'internal' AND status = 'settled' THEN total - allowances "
            "ELSE 0 END)")


def get_settlement(conn: psycopg.Connection[Any], stores: Sequence[str],
                   settlement_id: UUID) -> dict[str, Any] | None:
    where, params = _where(stores, {})
    found = _rows(conn, f"SELECT * FROM settlements WHERE id = %s AND {where}",
                  [settlement_id, *params])
    if not found:
        return None
    doc = found[0]
    # The internal bill is never paid: the settling's expense booking settles it.
    doc["bill_status"] = _rows(conn, f"""SELECT kind, payer, total, allowances, paid,
        {EXPENSED} AS expensed, total - allowances - paid - {EXPENSED} AS outstanding,
        invoice_no FROM settlement_bills WHERE settlement_id = %s ORDER BY kind""",
                               [settlement_id])
    doc["payments"] = _rows(conn, """SELECT payment_id, bill, kind, method, amount, tendered,
        change, provider_ref, business_date, cashier, correction_of, refunded, statement_id
        FROM payments WHERE settlement_id = %s ORDER BY at""", [settlement_id])
    doc["refunds"] = _rows(conn, "SELECT * FROM refunds WHERE settlement_id = %s "
                                 "ORDER BY requested_at", [settlement_id])
    return shown(doc)


def settlement_of_refund(conn: psycopg.Connection[Any], refund_id: str) -> UUID | None:
    """The settlement a refund id was requested on (None: this view has not seen it)."""
    row = conn.execute("SELECT settlement_id FROM refunds WHERE refund_id = %s",
                       (refund_id,)).fetchone()
    return row[0] if row else None


def receivables(conn: psycopg.Connection[Any], stores: Sequence[str], *,
                kind: str | None = None, limit: int = 200,
                offset: int = 0) -> dict[str, Any]:
    """Open balances of settled bills by payer: customers, insurers, the OEM.

    A group holds many bills, each with its own VIN (the OEM's) or claim number (an
    insurer's): `payer` names the payer alone, and `open_bills` lists every bill with a balance
    — settlement and work-order number, VIN or claim number, tax invoice, billed, paid,
    outstanding — so each can be chased and matched to its remittance."""
    where, params = _where(stores, {"kind": ("kind = %s", kind)}, "b.store_id")
    return shown(_page(conn, f"""SELECT b.kind, b.payer_key,
        min(b.payer::text)::jsonb - 'vin' - 'claim_number' AS payer,
        count(*) AS bills, sum(b.total - b.allowances) AS billed,
        sum(b.allowances) AS allowances, sum(b.paid) AS paid,
        sum(b.total - b.allowances - b.paid) AS outstanding,
        coalesce(jsonb_agg(jsonb_build_object(
            'settlement_id', b.settlement_id, 'settlement_number', s.number,
            'work_order_number', s.work_order_number, 'vin', b.payer->>'vin',
            'claim_number', b.payer->>'claim_number', 'invoice_no', b.invoice_no,
            'billed', (b.total - b.allowances)::text, 'paid', b.paid::text,
            'outstanding', (b.total - b.allowances - b.paid)::text)
            ORDER BY s.number, b.settlement_id)
            FILTER (WHERE b.total - b.allowances - b.paid <> 0), '[]') AS open_bills
        FROM settlement_bills b JOIN settlements s ON s.id = b.settlement_id
        WHERE {where} AND b.status = 'settled' AND b.kind <> 'internal'
        GROUP BY b.kind, b.payer_key HAVING sum(b.total - b.allowances - b.paid) <> 0""",
                       params, order_by="kind, outstanding DESC, payer_key", limit=limit,
                       offset=offset))


def payments_journal(conn: psycopg.Connection[Any], stores: Sequence[str], *,
                     date_from: date | None = None, date_to: date | None = None,
                     method: str | None = None, cashier: str | None = None,
                     limit: int = 200, offset: int = 0) -> dict[str, Any]:
    where, params = _where(stores, {
        "from": ("business_date >= %s", date_from), "to": ("business_date <= %s", date_to),
        "method": ("method = %s", method), "cashier": ("cashier = %s", cashier)})
    return shown(_page(conn, f"SELECT * FROM payments WHERE {where}", params,
                       order_by="business_date DESC, at DESC, payment_id", limit=limit,
                       offset=offset))


def daily_cash(conn: psycopg.Connection[Any], stores: Sequence[str], day: date) -> dict[str, Any]:
    """Per cashier and method: taken, refunded, net; and the day-end state."""
    where, params = _where(stores, {}, "p.store_id")
    taken = _rows(conn, f"""SELECT p.store_id, p.cashier, p.method, sum(p.amount) AS taken,
        count(*) AS payments FROM payments p WHERE {where} AND p.business_date = %s
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""", [*params, day])
    where_r, params_r = _where(stores, {}, "r.store_id")
    refunded = _rows(conn, f"""SELECT r.store_id, r.requested_by AS cashier, p.method,
        sum(r.amount) AS refunded FROM refunds r JOIN payments p USING (payment_id)
        WHERE {where_r} AND r.status = 'approved' AND r.business_date = %s
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""", [*params_r, day])
    where_d, params_d = _where(stores, {})
    days = _rows(conn, f"""SELECT store_id, cashier_id, status, totals, expected_cash,
        counted_cash, variance, reason, closed_at, closed_by FROM cashier_days
        WHERE {where_d} AND business_date = %s ORDER BY store_id, cashier_id""",
                 [*params_d, day])
    return shown({"business_date": day.isoformat(), "taken": taken, "refunded": refunded,
                  "cashier_days": days})


def ledger(conn: psycopg.Connection[Any], stores: Sequence[str], *, month: str,
           account: str | None = None, limit: int = 500, offset: int = 0) -> dict[str, Any]:
    where, params = _where(stores, {"month": ("month = %s", month),
                                    "account": ("account = %s", account)})
    return shown(_page(conn, f"""SELECT posted_on, store_id, account, debit, credit, memo,
        settlement_id, notification_id, entry_no, line_no FROM journal WHERE {where}""",
                       params, order_by="notification_id, entry_no, line_no", limit=limit,
                       offset=offset))


def trial_balance(conn: psycopg.Connection[Any], stores: Sequence[str], *,
                  month: str) -> dict[str, Any]:
    from domain.ledger import ACCOUNTS

    where, params = _where(stores, {"month": ("month = %s", month)})
    rows = _rows(conn, f"""SELECT store_id, account, sum(debit) AS debit, sum(credit) AS credit,
        sum(debit) - sum(credit) AS balance FROM journal WHERE {where}
        GROUP BY store_id, account ORDER BY store_id, account""", params)
    for row in rows:
        row["name"] = ACCOUNTS.get(row["account"], row["account"])
    debit = sum((r["debit"] for r in rows), Decimal(0))
    credit = sum((r["credit"] for r in rows), Decimal(0))
    return shown({"month": month, "accounts": rows, "debit": debit, "credit": credit,
                  "balanced": debit == credit})


def gross_profit(conn: psycopg.Connection[Any], stores: Sequence[str], *,
                 by: str = "work_order", limit: int = 200, offset: int = 0) -> dict[str, Any]:
    """Revenue without VAT less the FIFO cost of the parts, per settled work order or vehicle.

    Labor cost (technicians' hourly cost × clocked hours) is not deducted here.
    """
    where, params = _where(stores, {}, "s.store_id")
    if by == "vehicle":
        return shown(_page(conn, f"""SELECT w.vin, min(w.plate) AS plate, count(*) AS visits,
            sum(s.revenue) AS revenue, sum(s.parts_cost) AS parts_cost,
            sum(s.revenue - s.parts_cost) AS gross_profit
            FROM settlements s JOIN wo_view w ON w.id = s.work_order_id
            WHERE {where} AND s.status = 'settled' GROUP BY w.vin""", params,
                           order_by="gross_profit DESC, vin", limit=limit, offset=offset))
    return shown(_page(conn, f"""SELECT s.work_order_id, s.work_order_number, s.number,
        s.store_id, s.revenue, s.parts_cost, s.revenue - s.parts_cost AS gross_profit,
        s.settled_at FROM settlements s WHERE {where} AND s.status = 'settled'""", params,
                       order_by="settled_at DESC, work_order_id", limit=limit, offset=offset))


def follow_ups(conn: psycopg.Connection[Any], stores: Sequence[str], *, today: date,
               overdue_only: bool = False, status: str | None = None,
               work_order_id: UUID | None = None, limit: int = 200,
               offset: int = 0) -> dict[str, Any]:
    where, params = _where(stores, {"status": ("status = %s", status),
                                    "work_order_id": ("work_order_id = %s", work_order_id)})
    if overdue_only:
        where += " AND status = 'open' AND due_on < %s"
        params.append(today)
    return _page(conn, f"""SELECT *, (status = 'open' AND due_on < %s) AS overdue
        FROM follow_ups WHERE {where}""", [today, *params], order_by="due_on, id",
                 limit=limit, offset=offset)


def complaints(conn: psycopg.Connection[Any], stores: Sequence[str], *,
               status: str | None = None, work_order_id: UUID | None = None,
               limit: int = 200, offset: int = 0) -> dict[str, Any]:
    where, params = _where(stores, {"status": ("status = %s", status),
                                    "work_order_id": ("work_order_id = %s", work_order_id)})
    return _page(conn, f"SELECT * FROM complaints WHERE {where}", params,
                 order_by="opened_at DESC, id", limit=limit, offset=offset)


def statement(conn: psycopg.Connection[Any], stores: Sequence[str],
              statement_id: UUID) -> dict[str, Any] | None:
    """Matched and unmatched on both sides: the statement's lines and the store's payments of
    the statement's methods over its dates that no statement matched yet."""
    where, params = _where(stores, {})
    found = _rows(conn, f"SELECT * FROM statements WHERE id = %s AND {where}",
                  [statement_id, *params])
    if not found:
        return None
    doc = found[0]
    lines = _rows(conn, """SELECT * FROM statement_lines WHERE statement_id = %s
        ORDER BY line_no""", [statement_id])
    earlier = imported_before(conn, statement_id)
    for line in lines:
        line["imported_before"] = earlier.get(line["line_no"])
    doc["matched"] = [ln for ln in lines if ln["payment_id"]]
    doc["unmatched_lines"] = [ln for ln in lines if not ln["payment_id"]]
    methods = list(METHODS_BY_SOURCE.get(doc["source"], ()))
    if lines:
        doc["unmatched_payments"] = _rows(conn, """SELECT payment_id, settlement_id, bill,
            method, amount, provider_ref, business_date, cashier FROM payments
            WHERE store_id = %s AND method = ANY(%s) AND statement_id IS NULL
            AND business_date BETWEEN %s::date - 7 AND %s::date + 7
            ORDER BY business_date, payment_id""",
                                          [doc["store_id"], methods,
                                           min(ln["date"] for ln in lines),
                                           max(ln["date"] for ln in lines)])
    else:
        doc["unmatched_payments"] = []
    return shown(doc)


def imported_before(conn: psycopg.Connection[Any], statement_id: UUID) -> dict[int, Any]:
    """The statement's lines that an earlier statement of the same account already holds (same
    date, amount and reference: the bank's transaction), by line number, with where: a file
    whose period overlaps one imported before. Such a line is kept, not refused (the file's
    other lines are new); a payment is reconciled once, so it never counts twice."""
    found = _rows(conn, """
        SELECT DISTINCT ON (l.line_no) l.line_no, o.statement_id, o.line_no AS other_line
        FROM statement_lines l
        JOIN statements s ON s.id = l.statement_id
        JOIN statement_lines o ON o.store_id = l.store_id AND o.reference = l.reference
          AND o.amount = l.amount AND o.date = l.date AND o.statement_id <> l.statement_id
        JOIN statements os ON os.id = o.statement_id AND os.source = s.source
          AND os.account = s.account AND os.imported_at < s.imported_at
        WHERE l.statement_id = %s AND l.reference <> ''
        ORDER BY l.line_no, os.imported_at, o.statement_id, o.line_no""", [statement_id])
    return {row["line_no"]: {"statement_id": row["statement_id"], "line_no": row["other_line"]}
            for row in found}


def match_proposals(conn: psycopg.Connection[Any], statement_id: UUID) -> list[dict[str, Any]]:
    """Unmatched lines and unreconciled payments with the same reference and amount, paired
    one to one (the n-th such line with the n-th such payment)."""
    return _rows(conn, """
        WITH l AS (
            SELECT line_no, store_id, reference, amount, row_number() OVER (
                PARTITION BY reference, amount ORDER BY line_no) AS n
            FROM statement_lines WHERE statement_id = %(s)s AND payment_id IS NULL),
        p AS (
            SELECT settlement_id, payment_id, store_id, provider_ref, amount, row_number() OVER (
                PARTITION BY provider_ref, amount ORDER BY at, payment_id) AS n
            FROM payments WHERE statement_id IS NULL AND provider_ref IS NOT NULL
              AND store_id = (SELECT store_id FROM statements WHERE id = %(s)s))
        SELECT l.line_no, p.settlement_id, p.payment_id FROM l JOIN p
          ON p.provider_ref = l.reference AND p.amount = l.amount AND p.n = l.n
        ORDER BY l.line_no""", {"s": statement_id})
