"""What the finance view's handlers share: one event's place (`Ctx`) and the rows they rewrite."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg
from psycopg.types.json import Jsonb

from domain.ledger import settlement_account
from domain.payer_name import payer_name_key
from domain.settlement import Settlement
from projections.work_orders import dumps

ZERO = Decimal("0.00")


def _payer_key(kind: str, payer: dict[str, Any]) -> str:
    """The payer a bill is owed by: one group in the receivables. A customer is its id; a
    payer named by typing — an insurer, the OEM (the vehicle's brand), a department — its
    name's `payer_name_key`, so "Ping An", "ping an " and "ＰＩＮＧ ＡＮ" are one payer, as are
    "Volkswagen", "VOLKSWAGEN" and "ＶＯＬＫＳＷＡＧＥＮ"."""
    if payer.get("customer_id"):
        return str(payer["customer_id"])
    name = payer.get("insurer") or payer.get("oem") or payer.get("department")
    return payer_name_key(str(name)) if name else kind


class Ctx:
    """One event's place: the connection, the table suffix, its notification id, the zone."""

    def __init__(self, conn: psycopg.Connection[Any], suffix: str, notification_id: int,
                 zone: ZoneInfo, tables: Iterable[str]) -> None:
        self.conn = conn
        self.suffix = suffix
        self.notification_id = notification_id
        self.zone = zone
        self.tables = tuple(tables)

    def _sql(self, sql: str) -> str:
        return sql.format(**{t: t + self.suffix for t in self.tables})

    def run(self, sql: str, params: Sequence[Any] | dict[str, Any]) -> None:
        self.conn.execute(self._sql(sql), params)

    def one(self, sql: str, params: Sequence[Any]) -> Any:
        row = self.conn.execute(self._sql(sql), params).fetchone()
        assert row is not None, sql
        return row

    def day(self, event: Any) -> date:
        return event.audit.at.astimezone(self.zone).date()  # type: ignore[no-any-return]


def _decimals(bill: dict[str, Any]) -> dict[str, Any]:
    """A bill read back from JSON with its amounts as Decimal again."""
    amounts = ("gross", "discount", "net", "vat", "cost", "qty", "unit_price", "vat_rate",
               "labor", "parts", "total", "allowances", "deductible", "excess",
               "insurance_deductible", "insurance_excess")
    out = {k: (Decimal(v) if k in amounts and v is not None else v) for k, v in bill.items()}
    out["lines"] = [{k: (Decimal(v) if k in amounts and v is not None else v)
                     for k, v in line.items()} for line in bill.get("lines", [])]
    return out


class FinanceChanges:
    """The row changes several of `FinanceView`'s handlers make."""

    def _bills(self, ctx: Ctx, event: Settlement.Event, bills: dict[str, Any],
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

    def _doc(self, ctx: Ctx, settlement_id: UUID) -> dict[str, Any]:
        row = ctx.one("SELECT bills FROM {settlements} WHERE id = %s", (settlement_id,))
        return {k: _decimals(v) for k, v in row[0].items()}

    def _post(self, ctx: Ctx, event: Any, entries: list[dict[str, Any]], day: date) -> None:
        store_id = event.audit.store_id
        settlement_id = event.originator_id if isinstance(event, Settlement.Event) else None
        for entry_no, entry in enumerate(entries):
            for line_no, p in enumerate(entry["postings"]):
                account = settlement_account(p["account"]) if settlement_id else p["account"]
                ctx.run("""INSERT INTO {journal} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                           %s)""",
                        (ctx.notification_id, entry_no, line_no, store_id, day,
                         day.strftime("%Y-%m"), account, p["debit"], p["credit"],
                         entry["memo"], settlement_id))

    def _repaid(self, ctx: Ctx, settlement_id: UUID, bill: str) -> None:
        ctx.run("""UPDATE {settlement_bills} b SET paid = coalesce((
                       SELECT sum(p.amount - p.refunded) FROM {payments} p
                       WHERE p.settlement_id = b.settlement_id AND p.bill = b.kind), 0)
                   WHERE b.settlement_id = %s AND b.kind = %s""", (settlement_id, bill))

    def _decided(self, ctx: Ctx, event: Any, status: str, reason: str | None,
                 business_date: str | None) -> None:
        ctx.run("""UPDATE {refunds} SET status = %s, decided_by = %s, decided_at = %s,
                   decision_reason = %s, business_date = %s WHERE refund_id = %s""",
                (status, event.audit.user_id, event.audit.at, reason, business_date,
                 event.refund_id))

    def _day_moved(self, ctx: Ctx, event: Any, method: str, amount: Decimal) -> None:
        ctx.run("""UPDATE {cashier_days} SET totals = jsonb_set(totals, ARRAY[%(m)s],
                       to_jsonb(round(coalesce((totals->>%(m)s)::numeric, 0) + %(a)s, 2)::text)),
                   expected_cash = coalesce(expected_cash, 0) + CASE WHEN %(m)s = 'cash'
                       THEN %(a)s ELSE 0 END
                   WHERE id = %(id)s""", {"m": method, "a": amount, "id": event.originator_id})
