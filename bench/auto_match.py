"""Auto-match of a large statement: in commands of at most MAX_AUTO_MATCH pairs (what
`POST /reconciliation/statements/{id}/auto-match` does now) against every pair in one command
(what it did before).

A database of its own holds 2 x `--lines` visits, each with one WeChat Pay deposit of its own
reference (a visit per line: the worst case, one settlement loaded and changed per pair), and
two statements of `--lines` lines, one per half. The pairs are the ones the read model proposes
(line, settlement, payment); what is timed is the command: load the statement and each
settlement, re-check, match, save, each way in a fresh process state (nothing cached).

Then refunds: `--refunds` more visits (default `--lines`), each deposit 10.00 of it refunded
(asked by the cashier, approved by a manager, paid out by WeChat Pay with a reference of its
own), and a statement of `--refunds` lines of money out, one per refund; auto-matched the same
way, 500 a command, in a fresh process state. Each pair passes the refund-match path
(`Statement.match_refund` with the reference re-checked, `Settlement.reconcile_refund`).

    python -m bench.auto_match [--lines 2000] [--refunds N]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from bench.common import (
    Measurement,
    Report,
    Server,
    bench_parser,
    ensure_yardstick,
    main_wrapper,
    system,
    temporary_database,
)
from domain.application import Request
from domain.common import Caller
from domain.reconciling import MAX_AUTO_MATCH

NAME = "auto_match"
STORE = "S01"


def finance() -> Request:
    return Request(Caller("fin-01", "finance", (STORE,), datetime.now(UTC), str(uuid4())))


def paid_visits(container: Any, count: int, prefix: str) -> list[tuple[UUID, str, str]]:
    """`count` work orders, each with a 100.00 deposit: (settlement, payment, reference)."""
    made = []
    for n in range(count):
        cashier = Request(Caller("cash-01", "cashier", (STORE,), datetime.now(UTC),
                                 str(uuid4())))
        opened = container.work_orders.open(
            Request(Caller("adv-01", "advisor", (STORE,), datetime.now(UTC), str(uuid4()))),
            store_id=STORE, customer={"name": "陈静", "phone": "13912345678"},
            vehicle={"vin": "LSVAU218XN2183294", "plate": "沪A12345"}, mileage=42_000,
            complaints=["service"])
        reference = f"{prefix}-{n:06d}"
        paid = container.settlements.pay(cashier, work_order_id=UUID(opened.body["id"]),
                                         method="wechat_pay", amount="100.00",
                                         provider_ref=reference)
        made.append((UUID(paid.body["id"]), paid.body["payment_id"], reference))
    return made


def refunded_visits(container: Any, count: int) -> list[tuple[UUID, str, str]]:
    """`count` visits, each with 10.00 of its deposit refunded by WeChat Pay: (settlement,
    refund, payout reference)."""
    manager = Request(Caller("mgr-01", "manager", (STORE,), datetime.now(UTC), str(uuid4())))
    made = []
    for sid, payment_id, reference in paid_visits(container, count, "WXR"):
        cashier = Request(Caller("cash-01", "cashier", (STORE,), datetime.now(UTC),
                                 str(uuid4())))
        asked = container.settlements.request_refund(cashier, sid, payment_id=payment_id,
                                                     amount="10.00", reason="goodwill")
        refund_id = asked.body["refund_id"]
        container.settlements.decide_refund(manager, sid, refund_id, approve=True,
                                            payout_method="wechat_pay",
                                            payout_ref="OUT-" + reference)
        made.append((sid, refund_id, "OUT-" + reference))
    return made


def chunked_match(container: Any, statement_id: UUID, pairs: list[Any]) -> Measurement:
    """Auto-match `pairs` 500 a command until none is left."""
    latencies: list[float] = []
    left = pairs
    began = time.perf_counter()
    while left:
        at = time.perf_counter()
        answer = container.settlements.auto_match(finance(), statement_id, left).body
        latencies.append(time.perf_counter() - at)
        assert answer["matched"] > 0, answer
        left = left[answer["matched"] + answer["skipped"]:]
    return Measurement(len(latencies), len(pairs), time.perf_counter() - began, latencies)


def statement(container: Any, visits: list[tuple[UUID, str, str]], amount: str = "100.00",
              paired: str = "payment_id") -> tuple[UUID, list[Any]]:
    """A statement with a line of `amount` per visit under its reference, and the pairs of
    each line with the visit's `paired` (its payment, or with `refund_id` its refund)."""
    day = datetime.now(UTC).date().isoformat()
    csv = "date,amount,reference,counterparty\n" + "".join(
        f"{day},{amount},{ref},陈静\n" for _, _, ref in visits)
    imported = container.settlements.import_statement(
        finance(), store_id=STORE, source="wechat_pay", account=f"WX {uuid4().hex[:6]}",
        csv_text=csv)
    pairs = [{"line_no": n + 1, "settlement_id": str(sid), paired: id_}
             for n, (sid, id_, _) in enumerate(visits)]
    return UUID(imported.body["id"]), pairs


def run(args: argparse.Namespace, server: Server, yardstick: dict[str, Any] | None) -> Report:
    yardstick = ensure_yardstick(server, args, yardstick)
    report = Report(NAME, server, args, yardstick, rate_unit="pairs")
    refunds = args.lines if args.refunds is None else args.refunds
    with temporary_database(server, NAME) as url:
        with system(url) as container:
            started = time.perf_counter()
            chunked_visits = paid_visits(container, args.lines, "WXA")
            whole_visits = paid_visits(container, args.lines, "WXB")
            refund_visits = refunded_visits(container, refunds)
            report.notes["setup_seconds"] = round(time.perf_counter() - started, 1)
            chunked, chunked_pairs = statement(container, chunked_visits)
            whole, whole_pairs = statement(container, whole_visits)
            refunds_out, refund_pairs = statement(container, refund_visits, "-10.00",
                                                    "refund_id")

        # each measured in a process state of its own (no aggregate in memory yet), as an API
        # process that has not seen these visits: neither inherits the other's cache
        with system(url) as container:
            report.add(f"{args.lines} lines, {MAX_AUTO_MATCH} a command",
                       chunked_match(container, chunked, chunked_pairs))

        with system(url) as container:
            report.add(f"{refunds} lines of refunds, {MAX_AUTO_MATCH} a command",
                       chunked_match(container, refunds_out, refund_pairs))

        with system(url) as container:
            at = time.perf_counter()
            container.settlements.match(finance(), whole, whole_pairs)
            seconds = time.perf_counter() - at
            report.add(f"{args.lines} lines in one command (before)",
                       Measurement(1, len(whole_pairs), seconds, [seconds]))
    report.save()
    return report


def parser() -> argparse.ArgumentParser:
    p = bench_parser(NAME, __doc__)
    p.add_argument("--lines", type=int, default=2000)
    p.add_argument("--refunds", type=int, default=None,
                   help="lines of money out, one refund each (default: --lines)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return main_wrapper(run, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
