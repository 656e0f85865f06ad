"""Credits after settlement (退款与红冲) of the KPI catalogue (`analytics.kpis`): the money given
back on settlements, from the approved refunds (`fact_refunds`).

Two kinds, as the domain has them: a payment return (退款: the money goes back and the bill
still asks for it, so no revenue and no VAT change) and a credit (a price allowance on a settled
bill, with its red-letter invoice (红冲) once the bill was invoiced: revenue and output VAT are
that much less). A credit counts as a credit while the settlement it was given on stands: a
reversal posts it back to the receivable, so a credit approved before the settlement's current
settling (or on one reversed and not settled again) counts as a payment return, as the domain
and the gross profit (whose revenue is the current bills') read it. Receivable write-offs and
charge-backs (`fact_write_offs`) move no money and no revenue: beside the money given back,
not in it (written off in the period, net of those taken back in it).

Dated by the approval's business day (store time), the day the money went out; the gross
profit deducts a credit from its settlement's revenue, counted on the day that was settled, so
labor sales + parts sales − `credit_notes_ex_vat` = the gross profit's `revenue_ex_vat` for a
period in which the credits' settlements were settled too."""

from __future__ import annotations

from typing import Any

from analytics.kpi_where import MONEY, Filters, Where

FORMULA = (
    "approved refunds of settlements in the period (the approval's business day): count, "
    "amount with VAT, the output VAT taken back and the amount without it; split into payment "
    "returns (退款: the bill still asks for the money, no VAT taken back) and credits (price "
    "allowances on a settled bill, 红冲 with a red-letter invoice once the bill was invoiced: "
    "revenue and VAT that much less; a credit on a settling since reversed counts as a "
    "payment return); beside them the receivables written off (write-offs and charge-backs, "
    "net of those taken back in the period: no money moves); per pay type of the bill and a "
    "total row")

# a credit stands while the settling it was given on does (not reversed since)
KIND = ("CASE WHEN r.kind = 'credit' AND s.status = 'settled' AND r.decided_at >= s.settled_at "
        "THEN 'credit' ELSE 'payment_return' END")


def _money(expr: str, kind: str | None = None) -> str:
    """The sum of `expr` to the fen, over the refunds of one kind or of both (the money given
    back), or over the write-offs; 0 without any."""
    only = f"c.kind = '{kind}'" if kind else "c.kind <> 'write_off'"
    return f"CAST(coalesce(sum({expr}) FILTER (WHERE {only}), 0) AS {MONEY})"


def credits(f: Filters) -> tuple[str, list[Any]]:
    w = Where(f).period("r.business_date").vehicle()
    adjusted = Where(f).period("a.business_date").vehicle()
    payer = Where(f).eq("c.pay_type", "pay_type")
    given = "count(c.amount) FILTER (WHERE c.kind <> 'write_off')"
    return f"""
        WITH c AS (
            SELECT r.bill AS pay_type, {KIND} AS kind, r.red_letter, r.amount,
                   CASE WHEN {KIND} = 'credit' THEN r.vat ELSE 0 END AS vat
            FROM fact_refunds r JOIN fact_settlements s USING (settlement_id)
            JOIN fact_work_orders w ON w.work_order_id = s.work_order_id
            WHERE r.status = 'approved' AND {w.sql()}
            UNION ALL
            SELECT a.bill, 'write_off', FALSE, a.amount, 0
            FROM fact_write_offs a JOIN fact_settlements s USING (settlement_id)
            JOIN fact_work_orders w ON w.work_order_id = s.work_order_id
            WHERE {adjusted.sql()})
        SELECT CASE WHEN grouping(c.pay_type) = 1 THEN 'total' ELSE c.pay_type END AS pay_type,
               {given} AS credits,
               {_money("c.amount")} AS amount,
               {_money("c.vat")} AS vat_taken_back,
               {_money("c.amount - c.vat")} AS amount_ex_vat,
               count(c.amount) FILTER (WHERE c.kind = 'payment_return') AS payment_returns,
               {_money("c.amount", "payment_return")}
                   AS payment_returns_amount,
               count(c.amount) FILTER (WHERE c.kind = 'credit') AS credit_notes,
               count(c.amount) FILTER (WHERE c.kind = 'credit' AND c.red_letter)
                   AS red_letter_invoices,
               {_money("c.amount", "credit")} AS credit_notes_amount,
               {_money("c.amount - c.vat", "credit")}
                   AS credit_notes_ex_vat,
               count(c.amount) FILTER (WHERE c.kind = 'write_off' AND c.amount > 0)
                   AS write_offs,
               {_money("c.amount", "write_off")} AS write_offs_amount
        FROM c WHERE {payer.sql()}
        GROUP BY GROUPING SETS ((c.pay_type), ())
        ORDER BY grouping(c.pay_type), c.pay_type""", w.params + adjusted.params + payer.params
