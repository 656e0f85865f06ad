"""What a visit charged to account (挂账) still has open, and the customer's list of the charges
that may still be open (`Customer.account_charges`), kept short without losing one.

A charge's open amount is its settlement's outstanding customer bill while the charged settling
stands. A charge command reads the customer's listed charges to know the account's balance, and
drops from the list those it reads fully paid off (`Customer.AccountChargesClosed`, in the
charge's save): so it reads the charges still open, not the customer's whole history. Paid off
is not for good: a refund paid out, a payment returned, a write-off taken back... raises the
bill's outstanding again without the charge command knowing. Whatever command does that — any
command, found by what it does and not by its name — writes `Customer.AccountChargeReopened` in
the same save (`note_reopened_charges`, run by `ServiceCore` before every save): the charge is
listed again, and a charge that read it paid off meanwhile conflicts with it on the customer's
stream and, retried, reads it open. So the list always names every open charge.

A reversal ends the charge: the customer's entry of the visit (`Customer.account_open`, what a
later payment on the visit pays off first, and the listed charge) goes in the reversal's save
(`Customer.AccountChargeEnded`, `end_stale_charge`). Left there, a payment on the visit settled
again at the till after money of it went back was taken for a payment on the account
(`Customer.AccountPaid`, the spend not given back) instead of money paid again. An entry a
reversal stored before this rule left behind is ended by that payment, in its own save.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate

from domain.customer import Customer
from domain.settlement import Settlement
from domain.settlement_state import ZERO

if TYPE_CHECKING:
    from domain.session import Session


def charge_stands(settlement: Settlement) -> bool:
    """Whether the visit is charged to account: the settling that was charged stands (a
    reversal ends the charge; the visit settled again is settled under another number)."""
    charged: dict[str, Any] | None = getattr(settlement, "charged", None)
    return charged is not None and settlement.status == "settled" and \
        charged["number"] == settlement.number


def open_on_account(settlement: Settlement) -> Decimal:
    """What a visit charged to account still has open: its customer bill's outstanding while
    the settling that was charged stands."""
    if not charge_stands(settlement):
        return ZERO
    return max(settlement.outstanding("customer"), ZERO)


def end_stale_charge(session: Session, settlement: Settlement) -> None:
    """(In a command that reverses the settlement, or pays its settled customer bill.) The
    customer's entry of a visit once charged whose charge no longer stands is ended, in the
    command's save; a visit never charged loads no customer."""
    if getattr(settlement, "charged", None) is None or charge_stands(settlement):
        return
    customer = session.find(Customer, settlement.customer_id)
    if customer is None or (
            str(settlement.work_order_id) not in getattr(customer, "account_open", {})
            and settlement.id not in getattr(customer, "account_charges", [])):
        return
    customer._account_charge_ended(session.audit(customer.store_id), settlement.id,
                                   settlement.work_order_id)


def load_mark(aggregate: Aggregate) -> Decimal | None:
    """What a loaded settlement had open on account when a command loaded it (None: not a
    settlement), for `note_reopened_charges`."""
    return open_on_account(aggregate) if isinstance(aggregate, Settlement) else None


def note_reopened_charges(session: Session) -> None:
    """Before the command's save: each charged visit that the command took from nothing open to
    something open is listed again on its customer, in the same save."""
    for aggregate in list(session.aggregates.values()):
        if not isinstance(aggregate, Settlement) or not aggregate.pending_events:
            continue
        if any(isinstance(e, Settlement.ChargedToAccount) for e in aggregate.pending_events):
            continue  # the charge itself: `Customer.AccountCharged` lists it
        if session.marks.get(aggregate.id, ZERO) > 0 or open_on_account(aggregate) <= 0:
            continue
        customer = session.find(Customer, aggregate.customer_id)
        if customer is None:
            continue
        customer._account_charge_reopened(session.audit(customer.store_id), aggregate.id,
                                          aggregate.work_order_id)
