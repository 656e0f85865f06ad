"""/reconciliation, /ledger, /payments (journal), /receivables, /gross-profit."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from pydantic import Field

from api.as_of import AsOf, found_then, requested_moment
from api.auth import Principal
from api.csv_answers import CSV_RESPONSE, Bom, Format, csv_answer
from api.dates import PlainDay, ordered
from api.deps import (
    TEXT_MAX,
    Command,
    Ctx,
    IdFilter,
    Offset,
    WaitFor,
    command,
    reader,
    wait_for_projection,
    wait_for_views,
)
from api.histories import stream_history
from api.json_bodies import JsonBodyRoute
from api.numbers import Plain
from api.paging import HistoryPage, Limit, Page
from api.pii_reads import (
    PAYER_DATA,
    STATEMENT_FIELDS,
    STATEMENT_IMPORTED,
    PiiReader,
    payer_lines,
    pii_reader,
)
from api.schemas import CommandAccepted, PayType
from api.schemas_money import (
    ExplanationIn,
    LedgerPage,
    MatchIn,
    Method,
    PaymentsPage,
    StatementIn,
    WithdrawalIn,
)
from api.statement_files import XLSX, statement_rows
from domain.common import InvalidInput, NotFound
from projections import finance_queries, payments_journal, refund_proposals
from projections import receivables as receivables_view
from projections.statement_as_of import statement_as_of

router = APIRouter(tags=["finance"], route_class=JsonBodyRoute)
VIEW = "finance"
FinanceReader = Annotated[Principal, Depends(reader("finance.read"))]
# names and phones of customers who owe: an auditor's read of them is recorded
ReceivablesReader = Annotated[PiiReader, Depends(pii_reader("finance.read"))]
# a statement line's payer: for the roles that may read personal data and those who reconcile
StatementReader = Annotated[PiiReader, Depends(pii_reader("finance.read", PAYER_DATA))]
StatementAuditor = Annotated[PiiReader, Depends(pii_reader("reconciliation.history",
                                                           PAYER_DATA))]
LedgerReader = Annotated[Principal, Depends(reader("ledger.read"))]
ReconcileCmd = Annotated[Command, Depends(command("reconciliation.manage"))]
WithdrawCmd = Annotated[Command, Depends(command("reconciliation.withdraw"))]
# In ASCII digits, the month with its zero: "2026-5" and "２０２６-05" passed strptime and
# matched no stored month, an empty ledger rather than a 422.
LineNo = Annotated[int, Path(ge=1, le=1_000_000, description="the statement's line"), Plain]
MONTH = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
Month = Annotated[str, Query(max_length=7, pattern=MONTH, description="YYYY-MM")]


@router.get("/payments", response_model=PaymentsPage)
def payments(ctx: Ctx, principal: FinanceReader, date_from: PlainDay | None = None,
             date_to: PlainDay | None = None, method: Method | None = None,
             cashier: IdFilter = None, store_id: IdFilter = None, limit: Limit = 200,
             offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """The payments journal (`store_id`: one of the caller's stores; another's: none): the
    payments taken from `date_from` to `date_to`, with what they took in all and by method,
    and what the refunds approved over those days paid out, each dated by its own business
    day as the day report dates it (a refund of an earlier day's payment is its own day's);
    `cashier`: who took a payment, or paid a refund out; `date_to` before `date_from`: 422."""
    ordered(date_from, date_to)
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        return payments_journal.payments_journal(conn, principal.stores, date_from=date_from,
                                                date_to=date_to, method=method,
                                                cashier=cashier, store_id=store_id,
                                                limit=limit, offset=offset)


class ReceivablesPage(Page):
    """Open balances by payer, aged on `aged_on`; `outstanding` and `aging` sum every group
    the filters list, not only this page's."""

    aged_on: date
    outstanding: Decimal = Field(description="every listed group's outstanding, CNY")
    aging: dict[str, Decimal] = Field(description=(
        "outstanding by age in days since settlement: days_0_30, days_31_60, days_61_90, "
        "days_over_90"))
    overdue: Decimal = Field(default=Decimal("0.00"), description=(
        "of it, what is owed past its due day on `aged_on`: bills charged to a customer's "
        "account (挂账) are due the terms' days after the charge"))


OPEN_BILLS_MAX = 1000
BillsLimit = Annotated[int, Query(ge=1, le=OPEN_BILLS_MAX, description=(
    "at most this many open bills per group, oldest first (`open_bills_count` counts them "
    "all; `open_bills_next` links the group's next ones)")), Plain]


@router.get("/receivables", response_model=ReceivablesPage)
def receivables(ctx: Ctx, reading: ReceivablesReader, kind: PayType | None = None,
                payer_key: Annotated[str | None, Query(max_length=TEXT_MAX, description=(
                    "one payer's group (an item's `payer_key`; an insurer's or the OEM's name as "
                    "typed finds its group too): to page through its bills"))
                ] = None,
                store_id: IdFilter = None,
                aged_on: Annotated[PlainDay | None, Query(
                    description="the day debts are aged to: today in the store's time zone "
                                "(the default) or a later day; the balances are today's")] = None,
                limit: Limit = 200, offset: Offset = 0,
                bills_limit: BillsLimit = receivables_view.OPEN_BILLS_DEFAULT,
                bills_offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """Open balances of settled bills by customer, insurer and OEM, each bill aged in days
    since its settlement, with totals by age (0-30, 31-60, 61-90, over 90 days); an OEM bill
    with its claim's number at the OEM and the claim's status (`not_submitted` before it is
    sent: GET /warranty-claims/unsubmitted); a bill charged
    to a customer's account says its `due_on` and `days_overdue`, a group and the page what is
    `overdue` on `aged_on`; `store_id` the bills of one store (one of the caller's;
    another's: none). For the roles
    that may read customers' personal data, a customer's name and phone to call about it
    (their read recorded as every such read is)."""
    today = ctx.today()
    if aged_on is not None and aged_on < today:
        raise InvalidInput(f"aged_on is today ({today}) or later: the balances are today's",
                           aged_on=aged_on.isoformat(), today=today.isoformat())
    contacts = reading.sees_personal_data
    wait_for_views(ctx, wait_for, VIEW, "work_orders", "oem_claims",
                   *(("customers",) if contacts else ()))
    with ctx.pool.connection() as conn:
        page = receivables_view.receivables(
            conn, reading.stores, aged_on=aged_on or today, zone=ctx.timezone, kind=kind,
            payer_key=payer_key, store_id=store_id, limit=limit, offset=offset,
            bills_limit=bills_limit, bills_offset=bills_offset)
        shown = receivables_view.with_contacts(conn, page["items"]) if contacts else []
    reading.record(shown, "receivables")
    for group in page["items"]:
        group["open_bills_next"] = _next_bills(group, aged_on, bills_limit, bills_offset,
                                               store_id)
    return page


def _next_bills(group: dict[str, Any], aged_on: date | None, bills_limit: int,
                bills_offset: int, store_id: str | None = None) -> str | None:
    """The link to the group's next open bills, None when this page holds its last."""
    after = bills_offset + len(group["open_bills"])
    if after >= group["open_bills_count"]:
        return None
    query = {"kind": group["kind"], "payer_key": group["payer_key"],
             **({"store_id": store_id} if store_id is not None else {}),
             **({"aged_on": aged_on.isoformat()} if aged_on is not None else {}),
             "bills_limit": bills_limit, "bills_offset": after}
    return f"/receivables?{urlencode(query)}"


LEDGER_COLUMNS = ["posted_on", "store_id", "account", "debit", "credit", "memo",
                  "settlement_id", "notification_id", "entry_no", "line_no"]


@router.get("/ledger", response_model=LedgerPage, responses=CSV_RESPONSE)
def ledger(ctx: Ctx, principal: LedgerReader, month: Month, account: IdFilter = None,
           store_id: IdFilter = None,
           limit: Annotated[int, Query(ge=1, le=5000), Plain] = 500,
           offset: Offset = 0, format: Format = "json", bom: Bom = False,
           wait_for: WaitFor = None) -> Any:
    """Journal lines of a month (YYYY-MM), optionally one account, one store (`store_id`:
    one of the caller's; another's: none), with their debits and credits summed; `format=csv`
    writes the page as a CSV file."""
    require_month(month)
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        found = finance_queries.ledger(conn, principal.stores, month=month, account=account,
                                       store_id=store_id, limit=limit, offset=offset)
    if format == "csv":
        return csv_answer(LEDGER_COLUMNS, found["items"],
                          f"ledger-{store_id or 'all'}-{month}", bom=bom)
    return found


@router.get("/ledger/gross-profit", response_model=Page)
def gross_profit(ctx: Ctx, principal: LedgerReader, by: Literal["work_order", "vehicle"] = "work_order",
                 limit: Limit = 200, offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """Per settled work order (`by=work_order`) or vehicle (`by=vehicle`): revenue without VAT
    less the FIFO cost of parts."""
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        return finance_queries.gross_profit(conn, principal.stores, by=by, limit=limit,
                                            offset=offset)


def require_month(month: str) -> None:
    """A month of the calendar (the pattern lets year 0000 through)."""
    try:
        datetime.strptime(month, "%Y-%m")
    except ValueError:
        raise InvalidInput("month is YYYY-MM", field="month") from None


@router.post("/reconciliation/statements", response_model=CommandAccepted, status_code=201)
def import_statement(body: StatementIn, cmd: ReconcileCmd, ctx: Ctx) -> Any:
    """A bank or payment-provider statement as CSV text (date, amount, reference, counterparty;
    or the Chinese names banks use); a file as exported: POST /reconciliation/statements/file."""
    return cmd.accepted(ctx.settlements.import_statement(
        cmd.envelope, store_id=body.store_id, source=body.source, account=body.account,
        csv_text=body.csv))


async def _file(request: Request) -> bytes:
    return await request.body()


StatementFile = Annotated[bytes, Depends(_file)]
# the file itself; the request-body limit (SERVICECORE_MAX_BODY_BYTES, 256 KiB by default) holds
BINARY = {"schema": {"type": "string", "format": "binary", "maxLength": 256 * 1024}}
CSV_FILE = {**BINARY, "example": "交易日期,交易金额,交易流水号,对方户名\n"
            "2026-05-01,1010.00,4200001234202605010001,陈静\n"}


@router.post("/reconciliation/statements/file", response_model=CommandAccepted, status_code=201,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "text/csv": CSV_FILE, XLSX: BINARY}}})
def import_statement_file(
        data: StatementFile, cmd: ReconcileCmd, ctx: Ctx,
        store_id: Annotated[str, Query(min_length=1, max_length=20)],
        source: Literal["bank", "wechat_pay", "alipay", "card_acquirer"],
        account: Annotated[str, Query(max_length=60)] = "",
        content_type: Annotated[str | None, Header()] = None) -> Any:
    """A statement file as the bank exports it, as the request body: CSV (UTF-8 with or without
    BOM, or GBK; Chinese or English headers) or XLSX. 422 names the missing columns or the
    line that cannot be read."""
    rows = statement_rows(data, content_type)
    return cmd.accepted(ctx.settlements.import_statement(
        cmd.envelope, store_id=store_id, source=source, account=account, rows=rows))


@router.get("/reconciliation/statements/{statement_id}")
def statement(statement_id: UUID, ctx: Ctx, reading: StatementReader,
              payments_limit: Annotated[int, Query(ge=1, le=1000, description=(
                  "at most this many unmatched payments")), Plain] = finance_queries.UNMATCHED_PAYMENTS,
              payments_offset: Offset = 0,
              refunds_limit: Annotated[int, Query(ge=1, le=1000, description=(
                  "at most this many unmatched refunds")), Plain] = finance_queries.UNMATCHED_REFUNDS,
              refunds_offset: Offset = 0, as_of: AsOf = None,
              wait_for: WaitFor = None) -> Any:
    """Matched and unmatched on both sides; the store's unmatched payments over the
    statement's dates a page at a time (`payments_limit`, `payments_offset`;
    `unmatched_payments_count` counts them all), and its approved refunds no line matched
    yet, paid out by the statement's methods (`unmatched_refunds`, `refunds_limit`,
    `refunds_offset`, `unmatched_refunds_count`). Each line's payer (`counterparty`) for the
    roles that may read personal data or reconcile, null for the others; an auditor's read
    of it is recorded (purpose `bank statement`). With `as_of` (a moment, or a day: its end
    in the store's time zone) the statement as it stood then, replayed from its events: its
    lines matched, explained and open then, with `as_of`; the store's unmatched payments and
    refunds are not replayed (null); before its import 404."""
    moment = requested_moment(as_of, ctx)
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        found: dict[str, Any] | None
        if moment is not None:
            found = found_then(statement_as_of(ctx.app, conn, statement_id, moment),
                               reading.principal, f"statement {statement_id}", moment)
        else:
            found = finance_queries.statement(conn, reading.stores, statement_id,
                                              payments_limit=payments_limit,
                                              payments_offset=payments_offset,
                                              refunds_limit=refunds_limit,
                                              refunds_offset=refunds_offset)
    if found is None:
        raise NotFound(f"statement {statement_id} not found")
    reading.masked(found, STATEMENT_FIELDS)
    lines = payer_lines([*found["matched"], *found["explained"], *found["unmatched_lines"]])
    reading.record((), "bank statement", [(statement_id, found["store_id"], lines)])
    return found


@router.get("/reconciliation/statements/{statement_id}/history", response_model=HistoryPage)
def statement_history(statement_id: UUID, ctx: Ctx, reading: StatementAuditor,
                      limit: Limit = 500, offset: Offset = 0) -> Any:
    """The statement's events, oldest first, paged like every history: imported (its lines),
    each line matched (by auto-match or by hand, with the reason), explained, and each match
    or explanation withdrawn, with who, when and why. The lines' payers as on the statement
    (null for a role that may see them nowhere; an auditor's read recorded, purpose `bank
    statement history`). Another store's statement, or none: 404."""
    found = stream_history(ctx, statement_id, "Statement", reading.stores,
                           f"statement {statement_id} not found", limit=limit, offset=offset)
    items = reading.audit_entries(found.page["items"])
    lines = [line for item in items if item["event"] == STATEMENT_IMPORTED
             for line in item["changes"]["lines"]]
    reading.record((), "bank statement history",
                   [(statement_id, str(found.store_id), payer_lines(lines))])
    return {**found.page, "items": items}


@router.post("/reconciliation/statements/{statement_id}/auto-match",
             response_model=CommandAccepted)
def auto_match(statement_id: UUID, cmd: ReconcileCmd, ctx: Ctx,
               wait_for: WaitFor = None) -> Any:
    """The read model proposes same-reference, same-amount pairs: a line of money in with a
    payment, a line of money out with an approved refund (by its `payout_ref`, else the one
    refund of the amount approved within 7 days, when no other line or refund pairs as well);
    the command re-checks each and matches at most 500 of them (`matched`); `remaining` says
    how many proposals are left: call again (with `?wait_for=` the answer's `notification_id`)
    until it is 0. A view that proposes nothing first catches up with the log (a statement
    imported a moment ago); still nothing is 200 with 0 matched, an unknown statement 404."""
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        proposals = refund_proposals.proposals(conn, statement_id)
    if not proposals:
        head = ctx.app.recorder.max_notification_id()
        if head and wait_for_projection(ctx, VIEW, head):
            with ctx.pool.connection() as conn:
                proposals = refund_proposals.proposals(conn, statement_id)
    return cmd.accepted(ctx.settlements.auto_match(cmd.envelope, statement_id, proposals))


@router.post("/reconciliation/statements/{statement_id}/matches",
             response_model=CommandAccepted)
def manual_match(statement_id: UUID, body: MatchIn, cmd: ReconcileCmd, ctx: Ctx) -> Any:
    """Match a line to a payment (`payment_id`), or a line of money out to the refund it paid
    (`refund_id`), by hand, with a reason."""
    return cmd.accepted(ctx.settlements.match(
        cmd.envelope, statement_id, [body.model_dump(exclude={"reason"})], manual=True,
        reason=body.reason))


@router.post("/reconciliation/statements/{statement_id}/lines/{line_no}/explanation",
             response_model=CommandAccepted)
def explain_line(statement_id: UUID, line_no: LineNo, body: ExplanationIn, cmd: ReconcileCmd,
                 ctx: Ctx) -> Any:
    """A line that needs no match in the books, with its kind and a reason: a `duplicate` of
    another line (`duplicate_of`: same date, amount and reference), a `bank_fee`, `interest`,
    an `own_transfer` between the store's accounts, or `other`. It leaves the unmatched lines
    for `explained`; a matched or already explained line is 409."""
    return cmd.accepted(ctx.settlements.explain_line(
        cmd.envelope, statement_id, line_no, kind=body.kind, reason=body.reason,
        duplicate_of=body.duplicate_of))


@router.post("/reconciliation/statements/{statement_id}/lines/{line_no}/explanation/withdrawal",
             response_model=CommandAccepted)
def withdraw_explanation(statement_id: UUID, line_no: LineNo, body: WithdrawalIn,
                         cmd: WithdrawCmd, ctx: Ctx) -> Any:
    """A manager takes a line's explanation back, with a reason: the line is unmatched again."""
    return cmd.accepted(ctx.settlements.withdraw_explanation(
        cmd.envelope, statement_id, line_no, reason=body.reason))


@router.post("/reconciliation/statements/{statement_id}/lines/{line_no}/refund-match/withdrawal",
             response_model=CommandAccepted)
def withdraw_refund_match(statement_id: UUID, line_no: LineNo, body: WithdrawalIn,
                          cmd: WithdrawCmd, ctx: Ctx) -> Any:
    """A manager takes a line's match to a refund back, with a reason: the line and the
    refund are both unmatched again (one save; the settlement records the withdrawal)."""
    return cmd.accepted(ctx.settlements.withdraw_refund_match(
        cmd.envelope, statement_id, line_no, reason=body.reason))


@router.post("/reconciliation/statements/{statement_id}/lines/{line_no}/payment-match/withdrawal",
             response_model=CommandAccepted)
def withdraw_payment_match(statement_id: UUID, line_no: LineNo, body: WithdrawalIn,
                           cmd: WithdrawCmd, ctx: Ctx) -> Any:
    """A manager takes a line's match to a payment back (by hand or auto-matched), with a
    reason: the line and the payment are both unmatched again (one save; the settlement
    records the withdrawal)."""
    return cmd.accepted(ctx.settlements.withdraw_payment_match(
        cmd.envelope, statement_id, line_no, reason=body.reason))
