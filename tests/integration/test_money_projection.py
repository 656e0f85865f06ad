"""The money read model agrees with the aggregates after a varied history, and a full rebuild of
the finance view yields exactly the live rows.

History (one store, two cashiers, a manager, finance): deposits (one dated yesterday), cashier
and manager discounts, confirmations, settling payments by several methods, a partial payment,
insurer and OEM bills left open, refunds approved and rejected, a reversal and re-confirmation,
an invoice, yesterday's day-end close and a correction into it, today's close, and two imported
statements matched automatically and by hand; goodwill credits (one on an invoiced bill with
its red-letter invoice, one taken back by a reversal).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient

from domain.cashier_day import CashierDay
from domain.ledger import BILL_ACCOUNTS, balances
from domain.payer_name import payer_name_key
from domain.reconciliation import Statement
from domain.settlement import Settlement
from projections.finance_queries import match_proposals
from projections.receivables import receivables
from projections.trial_balance import trial_balance
from servicecore.container import Container
from servicecore.schema import EVENTS_TABLE
from tests.integration.support import Auth, load, post
from tests.integration.test_money_support import (
    ZONE,
    all_finance_rows,
    draft,
    events_of,
    ready_visit,
    req,
    stocked_part,
    today,
    wait_for_projection,
)
from workers.projection_rebuild import rebuild

ZERO = Decimal(0)


def _history(container: Container, store_id: str) -> dict[str, Any]:
    """Drive the varied history; returns the ids the assertions need."""
    st = container.settlements
    c1, c2, manager = f"cash1-{store_id}", f"cash2-{store_id}", f"mgr-{store_id}"
    yesterday = (datetime.now(ZONE).date() - timedelta(days=1)).isoformat()
    opened_yesterday = datetime.now(UTC) - timedelta(days=1)
    part = stocked_part(container, store_id)

    # V1: labor 450 + part 450 (cost 200), opened yesterday. Deposit dated yesterday (a day
    # still open, so it says why), two discounts, settled by WeChat; then a refund of the
    # deposit approved and one of the WeChat payment rejected.
    wo1 = ready_visit(container, store_id, part=part, opened_at=opened_yesterday)
    deposit = st.pay(req(store_id, user=c1), work_order_id=wo1, method="cash", amount="100.00",
                     business_date=yesterday, reason="deposit taken at yesterday's drop-off").body
    s1 = draft(container, store_id, wo1)
    st.discount(req(store_id, user=c1), s1, bill="customer", amount="20.00",
                reason="member's discount")
    st.discount(req(store_id, "manager", manager), s1, bill="customer", line_id="L1",
                amount="100.00", reason="loyal customer")
    assert st.confirm(req(store_id, user=c1), s1).body["bills"]["customer"]["outstanding"] \
        == "680.00"
    wx_ref = f"WX-{store_id}"
    wx = st.pay(req(store_id, user=c1), work_order_id=wo1, method="wechat_pay",
                amount="680.00", provider_ref=wx_ref).body
    assert wx["settled"] is True
    refund = st.request_refund(req(store_id, user=c1), s1, payment_id=deposit["payment_id"],
                               amount="50.00", reason="goodwill",
                               kind="payment_return").body["refund_id"]
    st.decide_refund(req(store_id, "manager", manager), s1, refund, approve=True)
    rejected = st.request_refund(req(store_id, user=c1), s1, payment_id=wx["payment_id"],
                                 amount="30.00", reason="asked twice",
                                 kind="payment_return").body["refund_id"]
    st.decide_refund(req(store_id, "manager", manager), s1, rejected, approve=False,
                     reason="no grounds")

    # V2: customer labor 450 + warranty labor 150; paid by card, settled, reversed by the
    # manager, drafted and confirmed again (settles at once), then invoiced.
    wo2 = ready_visit(container, store_id, warranty=True)
    s2 = draft(container, store_id, wo2)
    first_number = st.confirm(req(store_id, user=c2), s2).body["number"]
    assert st.pay(req(store_id, user=c2), work_order_id=wo2, method="bank_card",
                  amount="450.00", provider_ref=f"POS-{store_id}").body["settled"] is True
    st.reverse(req(store_id, "manager", manager), s2, reason="warranty line mis-typed")
    draft(container, store_id, wo2)
    again = st.confirm(req(store_id, user=c2), s2).body
    assert again["settled"] is True and again["number"] != first_number
    st.record_invoice(req(store_id, user=c2), s2, bill="customer", invoice_no=f"INV-{store_id}")

    # V3: labor 450, opened yesterday, confirmed, 200 by Alipay; stays confirmed with 250
    # outstanding (a 50 correction of yesterday's closed day comes later).
    wo3 = ready_visit(container, store_id, opened_at=opened_yesterday)
    s3 = draft(container, store_id, wo3)
    st.confirm(req(store_id, user=c2), s3)
    ali_ref = f"ALI-{store_id}"
    st.pay(req(store_id, user=c2), work_order_id=wo3, method="alipay", amount="200.00",
           provider_ref=ali_ref)

    # V4: customer labor 450 + insurance labor 150, opened yesterday; the customer pays cash
    # dated yesterday (saying why), the insurer transfers 100 of its 150.
    wo4 = ready_visit(container, store_id, insurance=True, opened_at=opened_yesterday)
    s4 = draft(container, store_id, wo4, insurance={"insurer": "PICC", "claim_number": "CLM-7"})
    st.confirm(req(store_id, user=c1), s4)
    assert st.pay(req(store_id, user=c1), work_order_id=wo4, method="cash", amount="450.00",
                  business_date=yesterday,
                  reason="paid at yesterday's collection, keyed in late").body["settled"] is True
    st.pay(req(store_id, user=c1), work_order_id=wo4, bill="insurance", method="bank_transfer",
           amount="100.00", provider_ref=f"BT-{store_id}")

    # V5: labor 450 paid in cash today, settled and invoiced; a goodwill credit of 50 with its
    # red-letter invoice: the bill asks 400, nothing is owed.
    wo5 = ready_visit(container, store_id)
    s5 = draft(container, store_id, wo5)
    st.confirm(req(store_id, user=c1), s5)
    cash5 = st.pay(req(store_id, user=c1), work_order_id=wo5, method="cash",
                   amount="450.00").body
    st.record_invoice(req(store_id, user=c1), s5, bill="customer", invoice_no=f"INV5-{store_id}")
    credit = st.request_refund(req(store_id, user=c1), s5, payment_id=cash5["payment_id"],
                               amount="50.00", reason="goodwill: waiting time", kind="credit",
                               red_invoice_number=f"RED5-{store_id}").body["refund_id"]
    st.decide_refund(req(store_id, "manager", manager), s5, credit, approve=True)

    # V6: labor 450 by card, settled, a credit of 30 approved; then the manager reverses and
    # settles again: the credit is a payment return from then on, the customer pays 30 more.
    wo6 = ready_visit(container, store_id)
    s6 = draft(container, store_id, wo6)
    st.confirm(req(store_id, user=c1), s6)
    card6 = st.pay(req(store_id, user=c1), work_order_id=wo6, method="bank_card",
                   amount="450.00", provider_ref=f"POS6-{store_id}").body
    credit6 = st.request_refund(req(store_id, user=c1), s6, payment_id=card6["payment_id"],
                                amount="30.00", reason="goodwill: loaner car late",
                                kind="credit").body["refund_id"]
    st.decide_refund(req(store_id, "manager", manager), s6, credit6, approve=True)
    st.reverse(req(store_id, "manager", manager), s6, reason="wrong labor operation")
    draft(container, store_id, wo6)
    assert st.confirm(req(store_id, user=c1), s6).body["bills"]["customer"]["outstanding"] \
        == "30.00"
    assert st.pay(req(store_id, user=c1), work_order_id=wo6, method="bank_card",
                  amount="30.00", provider_ref=f"POS6b-{store_id}").body["settled"] is True

    # Day-end: cashier 1 closes yesterday (100 + 450 cash), then a 50 correction into it is
    # taken today on V3; cashier 2 closes today (no cash).
    closed = st.close_day(req(store_id, user=c1), store_id=store_id, business_date=yesterday,
                          counted_cash="550.00").body
    assert closed["variance"] == "0.00"
    st.pay(req(store_id, user=c1), work_order_id=wo3, method="cash", amount="50.00",
           correction_of=yesterday, reason="paid at closing, keyed in the next morning")
    st.close_day(req(store_id, user=c2), store_id=store_id, counted_cash="0.00")

    # Reconciliation: an Alipay statement auto-matched by reference and amount (one line left
    # over), and a WeChat statement with a typo in the reference matched by hand.
    finance = req(store_id, "finance")
    alipay = UUID(st.import_statement(
        finance, store_id=store_id, source="alipay", account="alipay-main",
        csv_text=f"date,amount,reference,counterparty\n{today()},200.00,{ali_ref},王伟\n"
                 f"{today()},88.00,UNKNOWN,someone\n").body["id"])
    wechat = UUID(st.import_statement(
        finance, store_id=store_id, source="wechat_pay", account="wx-main",
        csv_text=f"date,amount,reference,counterparty\n{today()},680.00,WX-TYPO,王伟\n"
                 ).body["id"])
    wait_for_projection(container)
    with container.pool.connection() as conn:
        proposals = match_proposals(conn, alipay)
    assert len(proposals) == 1 and proposals[0]["line_no"] == 1
    assert st.match(req(store_id, "finance"), alipay, proposals).body["matched"] == 1
    st.match(req(store_id, "finance"), wechat, [{"line_no": 1, "settlement_id": s1,
                                                 "payment_id": wx["payment_id"]}],
             manual=True, reason="provider reference typo")
    days = [CashierDay.create_id(store_id, c1, yesterday),
            CashierDay.create_id(store_id, c1, today()),
            CashierDay.create_id(store_id, c2, today())]
    return {"settlements": [s1, s2, s3, s4, s5, s6], "statements": [alipay, wechat], "days": days}


def _entries(container: Container, settlement_id: UUID) -> list[dict[str, Any]]:
    """Every journal entry the settlement's stream carries, in order."""
    out: list[dict[str, Any]] = []
    for event in events_of(container, settlement_id):
        if isinstance(event, Settlement.PaymentTaken | Settlement.RefundApproved):
            out.append(event.entry)
        elif isinstance(event, Settlement.Settled | Settlement.Reversed):
            out.extend(event.entries)
    return out


def _nonzero(figures: dict[str, Decimal]) -> dict[str, Decimal]:
    return {k: v for k, v in figures.items() if v != 0}


def _payer_key(kind: str, payer: dict[str, Any]) -> str:
    if payer.get("customer_id"):
        return str(payer["customer_id"])
    # an insurer's, the OEM's (the brand's) or a department's typed forms are one payer
    name = payer.get("insurer") or payer.get("oem") or payer.get("department")
    return payer_name_key(name) if name else kind


def _assert_agrees(container: Container, store_id: str, ids: dict[str, Any]) -> None:
    app = container.app
    wait_for_projection(container)
    expected_receivables: dict[tuple[str, str], list[Decimal]] = {}
    with container.pool.connection() as conn:
        for sid in ids["settlements"]:
            s = load(app, Settlement, sid)
            row = conn.execute("SELECT status, number, numbers FROM settlements WHERE id = %s",
                               (sid,)).fetchone()
            assert row == (s.status, s.number, s.numbers)
            # settlement_bills.paid == Settlement.paid(bill), per bill; the totals too.
            bills = {k: (total, allowances, paid, status)
                     for k, total, allowances, paid, status in conn.execute(
                         """SELECT kind, total, allowances, paid, status FROM settlement_bills
                            WHERE settlement_id = %s""", (sid,)).fetchall()}
            assert bills == {k: (b["total"], s.allowances(k), s.paid(k), s.status)
                             for k, b in s.bills.items()}
            lines = [ln for b in s.bills.values() for ln in b["lines"]]
            # revenue and VAT less the sales allowances of the credits on the current bills
            allowed = [p for r in s.refunds.values() if r.get("allowed_on") == s.number
                       and s.number is not None for p in r["allowance"]]
            figures = conn.execute("SELECT revenue, vat, parts_cost FROM settlements "
                                   "WHERE id = %s", (sid,)).fetchone()
            assert figures == (sum((ln["net"] - ln["vat"] for ln in lines), ZERO)
                               - sum((p["debit"] for p in allowed if p["account"] == "6003"),
                                     ZERO),
                               sum((ln["vat"] for ln in lines), ZERO)
                               - sum((p["debit"] for p in allowed if p["account"] == "2221"),
                                     ZERO),
                               sum((ln["cost"] for ln in lines), ZERO))
            # Payments and refunds as the aggregate holds them.
            payments = {r[0]: r[1:] for r in conn.execute(
                """SELECT payment_id, bill, kind, method, amount, refunded, business_date::text,
                          correction_of::text, statement_id, statement_line
                   FROM payments WHERE settlement_id = %s""", (sid,)).fetchall()}
            assert payments == {pid: (
                p["bill"], p["kind"], p["method"], p["amount"],
                sum((r["amount"] for r in s.refunds.values()
                     if r["payment_id"] == pid and r["status"] == "approved"), ZERO),
                p["business_date"], p["correction_of"],
                UUID(p["reconciled"]["statement_id"]) if p["reconciled"] else None,
                p["reconciled"]["line_no"] if p["reconciled"] else None)
                for pid, p in s.payments.items()}
            refunds = {r[0]: r[1:] for r in conn.execute(
                "SELECT refund_id, payment_id, amount, status, kind, red_invoice_number "
                "FROM refunds WHERE settlement_id = %s", (sid,)).fetchall()}
            assert refunds == {rid: (r["payment_id"], r["amount"], r["status"], r["kind"],
                                     r["red_invoice_number"])
                               for rid, r in s.refunds.items()}
            # The journal of the settlement is exactly the entries its events carry: balanced,
            # nothing doubled, each receivable = billed (when settled) - paid.
            entries = _entries(container, sid)
            journal: dict[str, Decimal] = dict(conn.execute(
                """SELECT account, sum(debit - credit) FROM journal WHERE settlement_id = %s
                   GROUP BY account""", (sid,)).fetchall())
            totals = conn.execute("SELECT count(*), sum(debit), sum(credit) FROM journal "
                                  "WHERE settlement_id = %s", (sid,)).fetchone()
            assert totals is not None and totals[1] == totals[2]
            assert totals[0] == sum(len(e["postings"]) for e in entries)
            assert _nonzero(journal) == _nonzero(balances(entries))
            for kind in ("customer", "warranty", "insurance"):
                billed = s.billed(kind) if s.status == "settled" else ZERO
                assert journal.get(BILL_ACCOUNTS[kind], ZERO) == billed - s.paid(kind), kind
            if s.status == "settled":
                for kind, bill in s.bills.items():
                    if kind != "internal":
                        owed = expected_receivables.setdefault(
                            (kind, _payer_key(kind, bill["payer"])), [ZERO, ZERO])
                        owed[0] += s.billed(kind)
                        owed[1] += s.paid(kind)
        # Receivables (settled bills by payer) = billed - paid.
        listed = {(r["kind"], r["payer_key"]): (r["billed"], r["paid"], r["outstanding"])
                  for r in receivables(conn, [store_id])["items"]}
        assert listed == {key: (billed, paid, billed - paid)
                          for key, (billed, paid) in expected_receivables.items()
                          if billed != paid}
        # Cashier days: status everywhere; totals and cash figures of the closed ones.
        for day_id in ids["days"]:
            day = load(app, CashierDay, day_id)
            row = conn.execute("""SELECT status, totals, expected_cash FROM cashier_days
                                  WHERE id = %s""", (day_id,)).fetchone()
            assert row is not None and row[0] == ("closed" if day.closed else "open")
            if day.closed:
                assert {k: Decimal(v) for k, v in row[1].items()} == day.totals
                assert row[2] == day.expected_cash
        # Statement lines carry the matches the statements hold.
        for statement_id in ids["statements"]:
            statement = load(app, Statement, statement_id)
            matched = {r[0]: r[1:] for r in conn.execute(
                """SELECT line_no, amount, payment_id, settlement_id::text FROM statement_lines
                   WHERE statement_id = %s""", (statement_id,)).fetchall()}
            assert matched == {
                no: (ln["amount"], *((ln["match"]["payment_id"], ln["match"]["settlement_id"])
                                     if ln["match"] else (None, None)))
                for no, ln in statement.lines.items()}
        # The trial balance balances in every month the store posted to.
        months = [m for (m,) in conn.execute(
            "SELECT DISTINCT month FROM journal WHERE store_id = %s", (store_id,)).fetchall()]
        for month in months:
            assert trial_balance(conn, [store_id], month=month)["balanced"] is True


def test_money_read_models_agree_with_the_aggregates_and_a_rebuild_reproduces_them(
        container: Container, store_id: str) -> None:
    ids = _history(container, store_id)

    # The receivables the history should leave: V1's customer owes the refunded 50 again
    # (a payment return re-opens the bill), the OEM 150, the insurer 50; V5's credit and V6's
    # credit (paid again after the reversal) leave nothing owed.
    wait_for_projection(container)
    with container.pool.connection() as conn:
        owed = sorted((r["kind"], r["outstanding"]) for r in receivables(conn, [store_id])["items"])
    assert owed == [("customer", Decimal("50.00")), ("insurance", Decimal("50.00")),
                    ("warranty", Decimal("150.00"))]
    _assert_agrees(container, store_id, ids)

    # A full rebuild of the finance view from event 0 yields the live rows, all stores.
    live = all_finance_rows(container)
    view = next(v for v in container.views if v.name == "finance")
    outcome = rebuild(container.app, container.pool, view, batch_size=200)
    # (notification ids have gaps where saves rolled back, so count the stored events)
    with container.pool.connection() as conn:
        stored = conn.execute(f"SELECT count(*) FROM {EVENTS_TABLE}").fetchone()
    assert stored is not None and outcome["events"] == stored[0]
    assert all_finance_rows(container) == live
    assert sum(len(rows) for rows in live.values()) > 0
    _assert_agrees(container, store_id, ids)


def test_the_settlement_row_version_follows_the_stream_so_if_match_works(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    cashier = auth("cashier", f"cash-{store_id}", [store_id])
    work_order_id = ready_visit(container, store_id)
    sid = post(client, "/settlements", cashier, {"work_order_id": str(work_order_id)}, 201)["id"]
    deposit = post(client, "/payments", cashier, {"work_order_id": str(work_order_id),
                                                  "method": "cash", "amount": "100.00"}, 201)
    # The desk reads the settlement (caught up with the deposit) and confirms with If-Match.
    shown = client.get(f"/settlements/{sid}", headers=cashier,
                       params={"wait_for": deposit["notification_id"]}).json()
    confirmed = client.post(f"/settlements/{sid}/confirmation", json={},
                            headers={**cashier, "If-Match": f'"{shown["version"]}"'})
    assert confirmed.status_code == 200, (shown["version"], confirmed.text)
    assert shown["version"] == load(container.app, Settlement, UUID(sid)).version - 1


def test_finance_tables_made_before_refund_kinds_get_their_columns(
        container: Container) -> None:
    view = next(v for v in container.views if v.name == "finance")
    suffix = "_before_kinds"
    with container.pool.connection() as conn:
        for statement in view.drop(suffix):
            conn.execute(statement)
        # the tables as they were made before credits: without the added columns
        for table, columns in view.tables.items():
            old = columns.replace(", kind text NOT NULL DEFAULT 'payment_return',\n"
                                  "            red_invoice_number text", "")
            old = old.replace("allowances numeric NOT NULL DEFAULT 0, ", "")
            conn.execute(f"CREATE TABLE {table}{suffix} ({old})")
        conn.execute(f"""INSERT INTO refunds{suffix} (refund_id, settlement_id, store_id,
                         payment_id, amount, status, reason, requested_by, requested_at)
                         VALUES ('RF-OLD', gen_random_uuid(), 'S01', 'P1', 10, 'approved',
                         'duplicate charge', 'cash-1', now())""")
        try:
            def added() -> set[tuple[str, str]]:
                return set(conn.execute(
                    """SELECT table_name, column_name FROM information_schema.columns
                       WHERE table_schema = current_schema() AND column_name = ANY(%s)""",
                    (["allowances", "kind", "red_invoice_number"],)).fetchall()) & {
                    (f"settlement_bills{suffix}", "allowances"), (f"refunds{suffix}", "kind"),
                    (f"refunds{suffix}", "red_invoice_number")}
            assert added() == set()
            view.create(conn, suffix)
            view.create(conn, suffix)  # and again on the next start
            assert added() == {(f"settlement_bills{suffix}", "allowances"),
                               (f"refunds{suffix}", "kind"),
                               (f"refunds{suffix}", "red_invoice_number")}
            # a refund stored before credits returned a payment
            assert conn.execute(f"SELECT kind, red_invoice_number FROM refunds{suffix}"
                                ).fetchall() == [("payment_return", None)]
        finally:
            for statement in view.drop(suffix):
                conn.execute(statement)
