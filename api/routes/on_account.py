"""Charge to account (挂账): a customer's credit terms, a settlement charged to the account,
and the account's open balance."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from api.deps import (
    Command,
    Ctx,
    Offset,
    WaitFor,
    command,
    reader,
    wait_for_views,
)
from api.json_bodies import JsonBodyRoute
from api.numbers import Plain
from api.paging import Limit, PageOf
from api.routes.finance import MONTH, require_month
from api.schemas import CommandAccepted, ReasonIn
from api.schemas_crm import CreditTermsIn
from api.schemas_money import SettlementAccepted
from domain.common import NotFound
from domain.on_account import OnAccount
from projections.account_queries import (
    OPEN_CHARGES_DEFAULT,
    account_statement,
    customer_account,
)

router = APIRouter(tags=["charge to account"], route_class=JsonBodyRoute)
MonthOrNow = Annotated[str | None, Query(max_length=7, pattern=MONTH, description=(
    "YYYY-MM; default: this month"))]
TermsCmd = Annotated[Command, Depends(command("customers.credit_terms"))]
ChargeCmd = Annotated[Command, Depends(command("payments.charge_to_account"))]


def _on_account(ctx: Ctx) -> OnAccount:
    return OnAccount(ctx.app, ctx.timezone)


@router.post("/customers/{customer_id}/credit-terms", response_model=CommandAccepted)
def set_credit_terms(customer_id: UUID, body: CreditTermsIn, cmd: TermsCmd, ctx: Ctx) -> Any:
    """A manager lets the customer charge visits to account (挂账): at most `limit` open at
    once, each charge due `days` after it; setting them again replaces them. Says why."""
    return cmd.accepted(_on_account(ctx).set_terms(cmd.envelope, customer_id,
                                                   **body.model_dump()))


@router.post("/customers/{customer_id}/credit-terms/removal", response_model=CommandAccepted)
def remove_credit_terms(customer_id: UUID, body: ReasonIn, cmd: TermsCmd, ctx: Ctx) -> Any:
    """No more charges to account; what is open stays owed."""
    return cmd.accepted(_on_account(ctx).remove_terms(cmd.envelope, customer_id,
                                                      reason=body.reason))


@router.post("/settlements/{settlement_id}/charge-to-account",
             response_model=SettlementAccepted)
def charge_to_account(settlement_id: UUID, cmd: ChargeCmd, ctx: Ctx) -> Any:
    """The confirmed settlement's outstanding customer bill charged to the customer's account:
    the visit settles (the car may be delivered) and the bill is owed by its due day. Only a
    customer with credit terms, and only while the account's open balance and this charge stay
    within the limit (else 409 with `balance`, `limit` and `amount`)."""
    return cmd.accepted(_on_account(ctx).charge(cmd.envelope, settlement_id))


ChargesLimit = Annotated[int, Query(ge=1, le=1000, description=(
    "at most this many open charges, the oldest due first (`open_charges_count` counts them "
    "all; `open_charges_next` links the next ones)")), Plain]


@router.get("/customers/{customer_id}/account")
def account(customer_id: UUID, ctx: Ctx,
            principal: Annotated[Any, Depends(reader("finance.read"))],
            charges_limit: ChargesLimit = OPEN_CHARGES_DEFAULT, charges_offset: Offset = 0,
            wait_for: WaitFor = None) -> Any:
    """The customer's account: credit terms, open balance, what is overdue (both over every
    open charge), and the open charges (settlement, amount charged, paid, outstanding, due
    day, days overdue) a page at a time."""
    wait_for_views(ctx, wait_for, "customers", "finance")
    with ctx.pool.connection() as conn:
        found = customer_account(conn, principal.stores, customer_id, ctx.today(),
                                 charges_limit, charges_offset)
    if found is None:
        raise NotFound(f"customer {customer_id} not found")
    after = charges_offset + len(found["open_charges"])
    found["open_charges_next"] = None if after >= found["open_charges_count"] else (
        f"/customers/{customer_id}/account?"
        f"{urlencode({'charges_limit': charges_limit, 'charges_offset': after})}")
    return found


class StatementLine(BaseModel):
    posted_on: str = Field(description="the ledger's day of the entry")
    settlement_number: str | None
    work_order_number: str
    memo: str
    debit: str = Field(description="a charge: what the visit added to the account")
    credit: str = Field(description="a payment (or a credit) on the visit")
    balance: str = Field(description="owed on the account after this line")


class AccountStatement(PageOf[StatementLine]):
    """The month's statement of a customer's account: its lines are the page's items."""

    customer_id: str
    month: str
    opening_balance: str = Field(description="owed at the month's start")
    charged: str = Field(description="charged in the month")
    paid: str = Field(description="paid (or credited) in the month")
    closing_balance: str = Field(description="owed at the month's end")


@router.get("/customers/{customer_id}/account/statement", response_model=AccountStatement)
def account_statement_of(customer_id: UUID, ctx: Ctx,
                         principal: Annotated[Any, Depends(reader("finance.read"))],
                         month: MonthOrNow = None, limit: Limit = 200, offset: Offset = 0,
                         wait_for: WaitFor = None) -> Any:
    """The account's statement for a month (对账单; default this month), to send the fleet customer: the balance
    owed at the month's start, each charge and payment on a charged visit that month with the
    balance after it (in pages, `total` counting every line), and the balance at its end. It
    is read off the ledger's customer receivable (1122), so it agrees with the trial balance."""
    if month is not None:
        require_month(month)
    wait_for_views(ctx, wait_for, "customers", "finance")
    with ctx.pool.connection() as conn:
        found = account_statement(conn, principal.stores, customer_id,
                                  month or ctx.today().strftime("%Y-%m"), limit, offset)
    if found is None:
        raise NotFound(f"customer {customer_id} not found")
    return found
