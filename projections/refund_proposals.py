"""What auto-match proposes for a statement: its lines of money in paired with payments
(`finance_queries.match_proposals`) and its lines of money out paired with approved refunds.

A line of money out pairs with the refund paid out with its reference (`payout_ref`) for the
same amount, the n-th such line with the n-th such refund. A line left then pairs with a refund
left, neither stating a reference the other contradicts, for the same amount within
REFUND_DAYS of the refund's approval, paid out by a method the statement's source carries (a
bank's statement no cash refund) — only when that line has no other such refund and that
refund no other such line: an ambiguous pair is left to be matched by hand. A refund matched
already, or not approved, is never proposed; a payment never for a line of money out, a refund
never for a line of money in. The command re-checks every pair on the aggregates
(`domain.reconciliation.refund_pairs`).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

from domain.reconciliation import METHODS_BY_SOURCE, REFUND_DAYS
from projections.base import rows as _rows
from projections.finance_queries import UNMATCHED_REFUND_ROWS, match_proposals


def proposals(conn: psycopg.Connection[Any], statement_id: UUID) -> list[dict[str, Any]]:
    """Payments and refunds proposed for the statement's lines, by line."""
    found = match_proposals(conn, statement_id) + refund_proposals(conn, statement_id)
    return sorted(found, key=lambda pair: pair["line_no"])


def refund_proposals(conn: psycopg.Connection[Any],
                     statement_id: UUID) -> list[dict[str, Any]]:
    source = conn.execute("SELECT source FROM statements WHERE id = %s",
                          (statement_id,)).fetchone()
    if source is None:
        return []
    return _rows(conn, f"""
        WITH l AS (
            SELECT line_no, reference, -amount AS amount, date FROM statement_lines
            WHERE statement_id = %(s)s AND amount < 0 AND payment_id IS NULL
              AND refund_id IS NULL AND explained_kind IS NULL),
        r AS (
            SELECT refund_id, settlement_id, amount, business_date,
                   coalesce(payout_ref, '') AS ref, method
            FROM ({UNMATCHED_REFUND_ROWS}) u
            WHERE store_id = (SELECT store_id FROM statements WHERE id = %(s)s)),
        by_ref AS (
            SELECT l.line_no, r.settlement_id, r.refund_id
            FROM (SELECT *, row_number() OVER (PARTITION BY reference, amount ORDER BY line_no)
                  AS n FROM l WHERE reference <> '') l
            JOIN (SELECT *, row_number() OVER (PARTITION BY ref, amount
                                               ORDER BY business_date, refund_id)
                  AS n FROM r WHERE ref <> '') r
              ON r.ref = l.reference AND r.amount = l.amount AND r.n = l.n),
        near AS (
            SELECT l.line_no, r.settlement_id, r.refund_id,
                   count(*) OVER (PARTITION BY l.line_no) AS per_line,
                   count(*) OVER (PARTITION BY r.refund_id) AS per_refund
            FROM l JOIN r ON r.amount = l.amount
              AND abs(l.date - r.business_date) <= %(days)s
              AND (r.ref = '' OR l.reference = '') AND r.method = ANY(%(methods)s)
            WHERE l.line_no NOT IN (SELECT line_no FROM by_ref)
              AND r.refund_id NOT IN (SELECT refund_id FROM by_ref))
        SELECT line_no, settlement_id, refund_id FROM by_ref
        UNION ALL
        SELECT line_no, settlement_id, refund_id FROM near WHERE per_line = 1 AND per_refund = 1
        ORDER BY line_no""", {"s": statement_id, "days": REFUND_DAYS,
                              "methods": list(METHODS_BY_SOURCE.get(source[0], ()))})
