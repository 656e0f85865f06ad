"""Charge to account (挂账): a company's or fleet's visits invoiced monthly instead of paid at
the till.

A manager gives the customer credit terms (`Customer.CreditTermsSet`: a limit and the days a
charge is due in). The cashier may then charge a confirmed settlement's outstanding customer
bill to the account: the visit settles (the car may leave) and the bill stays open as a
receivable, due the terms' days after the charge. The settling posts as any settlement does
(Dr 1122 customer receivable / Cr revenue and output VAT, the parts' cost to 6401), so the
charged amount is simply what 1122 still holds for the visit; a later payment on the visit's
customer bill (`POST /payments`) credits 1122 as every payment does, never beyond what is
outstanding.

The account's open balance is what the customer's charged visits still have outstanding:
`Customer.account_charges` names those that may still be open, and the charge reads each one,
so that it decides on aggregates alone; charges of one customer conflict on the customer's
stream. The charge drops from the list the ones it reads paid off, and any command that makes
one owe again lists it again in its own save (domain/account_open.py): a charge reads the
charges still open, not the customer's whole history. A refund
approved on a charged visit (money of its deposit going back) adds to what the account owes: it
is refused past the limit as a charge is, and its save changes the customer's stream too, so a
charge and a refund of one customer's visits conflict there as two charges do.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from domain.account_open import open_on_account
from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.common import IllegalTransition, InvalidInput, NotPermitted, require, require_reason
from domain.customer import Customer
from domain.money import money
from domain.settlement import Settlement
from domain.settlement_desk import peek_settlement
from domain.settlement_state import ZERO, SettlementError
from domain.work_order import WorkOrder

MAX_DAYS = 365
MAX_LIMIT = Decimal("100000000.00")


class NoCreditTerms(IllegalTransition):
    """The customer has no credit terms: the bill is paid at the till."""

    kind = "no-credit-terms"


class CreditLimitExceeded(IllegalTransition):
    """The charge would take the account's open balance above the customer's limit."""

    kind = "credit-limit-exceeded"


def terms_of(customer: Customer | None) -> dict[str, Any] | None:
    """The customer's credit terms (None: none, or a customer stored before terms existed)."""
    if customer is None or customer.erased:
        return None
    return getattr(customer, "credit_terms", None)


def check_terms(limit: object, days: object) -> tuple[Decimal, int]:
    value = money(limit, "limit", field="limit")
    require(ZERO < value <= MAX_LIMIT, InvalidInput(
        f"a credit limit is above 0 and at most {MAX_LIMIT}", field="limit"))
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise InvalidInput(f"days is a whole number from 1 to {MAX_DAYS}", field="days")
    return value, days


def charge(settlement: Settlement, customer: Customer, session: Session, balance: Decimal,
           today: date) -> dict[str, Any]:
    """Charge the confirmed settlement's outstanding customer bill to the customer's account
    and settle it, when the account's open `balance` and the charge stay within the limit."""
    audit = session.audit(settlement.store_id)
    require(settlement.status == "confirmed", SettlementError(
        f"only a confirmed settlement is charged to account; it is {settlement.status}"))
    terms = terms_of(customer)
    require(terms is not None, NoCreditTerms(
        "the customer has no credit terms: the bill is paid at the till"))
    assert terms is not None and settlement.number is not None
    amount = settlement.outstanding("customer")
    require(amount > 0, SettlementError("the customer bill has nothing outstanding to charge"))
    limit = terms["limit"]
    if balance + amount > limit:
        raise CreditLimitExceeded(
            f"the account holds {balance} open; {amount} more would pass the limit of {limit}",
            balance=str(balance), limit=str(limit), amount=str(amount),
            available=str(max(limit - balance, ZERO)))
    due_on = (today + timedelta(days=terms["days"])).isoformat()
    settlement._charged_to_account(audit, amount, due_on, limit, balance)
    settlement._settled(audit, settlement.number, settlement.billed("customer"),
                        settlement.settlement_entries())
    customer._account_charged(session.audit(customer.store_id), settlement.id,
                              settlement.work_order_id, settlement.work_order_number, amount,
                              due_on)
    return {"amount": str(amount), "due_on": due_on, "limit": str(limit),
            "account_balance": str(balance + amount)}


def account_balance(session: Session, customer: Customer,
                    leaving_out: UUID | None = None) -> Decimal:
    """The account's open balance, read from the charged visits themselves."""
    return open_charges(session, customer, leaving_out)[0]


def open_charges(session: Session, customer: Customer,
                 leaving_out: UUID | None = None) -> tuple[Decimal, list[UUID]]:
    """The account's open balance, and the listed charges read paid off (the others'
    settlements, `leaving_out` aside): what a charge may drop from the list."""
    balance, paid_off = ZERO, []
    for sid in dict.fromkeys(getattr(customer, "account_charges", [])):
        if sid == leaving_out:
            continue
        still = open_on_account(session.get(Settlement, sid, "settlement"))
        balance += still
        if still == 0:
            paid_off.append(sid)
    return balance, paid_off


def check_refund_on_account(session: Session, settlement: Settlement, customer: Customer | None,
                            was_open: Decimal) -> None:
    """A refund approved on a visit charged to account (its state after the approval; it had
    `was_open` open before) puts the money back on the account: refused past the limit, as a
    charge is. The approval saves the customer's stream too (`Customer.refunded`), so it and a
    charge of another visit conflict on it and the retry reads the other's balance."""
    now_open = open_on_account(settlement)
    terms = terms_of(customer)
    if now_open <= was_open or terms is None:
        return
    assert customer is not None
    balance = account_balance(session, customer, leaving_out=settlement.id) + was_open
    added, limit = now_open - was_open, terms["limit"]
    if balance + added > limit:
        raise CreditLimitExceeded(
            f"the account holds {balance} open; the refund puts {added} back on it, past the "
            f"limit of {limit}", balance=str(balance), limit=str(limit), amount=str(added),
            available=str(max(limit - balance, ZERO)))


class OnAccount:
    """Credit terms and charges to account."""

    def __init__(self, app: ServiceCore, timezone: str = "Asia/Shanghai") -> None:
        self.app = app
        self.zone = ZoneInfo(timezone)

    def set_terms(self, request: Request, customer_id: UUID, *, limit: object, days: object,
                  reason: str | None) -> CommandResult:
        """A manager sets (or changes) the customer's credit terms, saying why."""
        value, whole = check_terms(limit, days)
        why = require_reason(reason, "setting credit terms")

        def decide(session: Session) -> Decision:
            require(session.caller.role == "manager",
                    NotPermitted("credit terms are set by a manager"))
            customer = session.target(Customer, customer_id, "customer")
            require(not customer.erased, InvalidInput("that customer has been erased"))
            customer._credit_terms_set(session.audit(customer.store_id), value, whole, why)
            return Decision(customer, {"credit_terms": {"limit": str(value), "days": whole}})

        return self.app.execute(request, decide, (customer_id,))

    def remove_terms(self, request: Request, customer_id: UUID, *,
                     reason: str | None) -> CommandResult:
        """A manager ends the terms: no new charge; what is open stays owed."""
        why = require_reason(reason, "removing credit terms")

        def decide(session: Session) -> Decision:
            require(session.caller.role == "manager",
                    NotPermitted("credit terms are removed by a manager"))
            customer = session.target(Customer, customer_id, "customer")
            require(terms_of(customer) is not None,
                    NoCreditTerms("the customer has no credit terms"))
            customer._credit_terms_removed(session.audit(customer.store_id), why)
            return Decision(customer, {"credit_terms": None})

        return self.app.execute(request, decide, (customer_id,))

    def balance(self, session: Session, customer: Customer,
                leaving_out: UUID | None = None) -> Decimal:
        """The account's open balance, read from the charged visits themselves."""
        return account_balance(session, customer, leaving_out)

    def charge(self, request: Request, settlement_id: UUID) -> CommandResult:
        """The cashier charges the confirmed visit's customer bill to the customer's account:
        the visit settles (it may be delivered) and the bill is owed by its due day."""

        def decide(session: Session) -> Decision:
            settlement = session.target(Settlement, settlement_id, "settlement")
            customer = session.find(Customer, settlement.customer_id)
            require(customer is not None and terms_of(customer) is not None, NoCreditTerms(
                "the customer has no credit terms: the bill is paid at the till"))
            assert customer is not None
            balance, paid_off = open_charges(session, customer, leaving_out=settlement.id)
            today = request.caller.at.astimezone(self.zone).date()
            answer = charge(settlement, customer, session, balance, today)
            if paid_off:  # read paid off in this save: a command making one owe conflicts
                customer._account_charges_closed(session.audit(customer.store_id), paid_off)
            assert settlement.number is not None
            wo = session.get(WorkOrder, settlement.work_order_id, "work order")
            wo.settle(session.audit(settlement.store_id), settlement.id, settlement.number,
                      settlement.billed("customer"))
            return Decision(settlement, {**settlement.summary(), "charged": answer,
                                         "settled": True})

        peek = peek_settlement(self.app, settlement_id)
        held = (peek.work_order_id, peek.customer_id) if peek else ()
        return self.app.execute(request, decide, (settlement_id, *held))
