"""Writing off what a warranty or insurance bill's payer will not pay, and a paid warranty claim
the OEM charges back: the rules and the journal entry of one adjustment.

The settlement's OEM receivable (1123) and insurance receivable (1124) are booked when the visit
is settled and cleared by the payer's payments. What the payer refuses for good never arrives,
so the receivable is written off as the dealership's loss; no money moves, so no bank or
clearing account is touched:

    kind                 bill       when                                     entry
    oem_rejected         warranty   the OEM claim is rejected (for good)     Dr 6601 / Cr 1123
    oem_short_paid       warranty   the OEM approved less than was claimed   Dr 6601 / Cr 1123
    oem_underpaid        warranty   the OEM paid less than it approved,      Dr 6601 / Cr 1123
                                    and says that is final
    insurer_short_paid   insurance  the insurer's bill is open               Dr 6601 / Cr 1124
    oem_charged_back     warranty   the OEM paid the claim, then took it     Dr 6601 / Cr 2241
                                    back (a missing record: the work order
                                    charged back)

All but the charge-back are at most what the bill still has outstanding (so the receivable
never goes below zero), a short-pay at most the shortfall (claimed less approved, less what was
already written off of it), and an underpayment at most the approved amount less what the OEM
paid on the bill, less what was already written off as underpaid (the OEM must have paid
something: a claim approved and not paid at all is no remittance deduction). A charge-back
concerns a bill already paid: its receivable is closed and stays so; the amount becomes owed
back to the OEM (2241, other payables: the OEM keeps it back from its next remittance), at most
what the OEM paid on the bill less what it already charged back. Amounts are VAT-inclusive, as the bills: the loss is booked gross (a
red-letter invoice for the VAT is the credit route, `kind: credit` refunds).

A write-off is taken back (the OEM paid after all, or offset its charge-back) by the mirror of
its entry, Dr 1123 / 1124 (or 2241) / Cr 6601: the receivable is outstanding again, so a later
payment clears it as usual, and the claim losses hold only what stays written off.

A settlement with an adjustment is not reversed (the reversal would book the whole receivable
back): the write-off stays the last word on that bill.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.common import InvalidInput, require, require_reason
from domain.ledger import entry, posting, reversal
from domain.money import money
from domain.settlement_state import ZERO, SettlementError, SettlementState

OEM_KINDS = ("oem_rejected", "oem_short_paid", "oem_underpaid", "oem_charged_back")
KINDS = (*OEM_KINDS, "insurer_short_paid")
BILL_OF = {"oem_rejected": "warranty", "oem_short_paid": "warranty",
           "oem_underpaid": "warranty", "oem_charged_back": "warranty",
           "insurer_short_paid": "insurance"}
CREDITED = {"warranty": "1123", "insurance": "1124"}
LOSS = "6601"
OWED_TO_OEM = "2241"
MAX_REFERENCE = 60


def adjustment_kind(kind: str | None) -> str:
    require(kind in KINDS, InvalidInput(f"kind must be one of {', '.join(KINDS)}",
                                        field="kind"))
    assert kind is not None
    return kind


def written_off(settlement: SettlementState, bill: str) -> Decimal:
    """What write-offs took off the bill's receivable (charge-backs not included)."""
    return settlement.bills.get(bill, {}).get("written_off", ZERO)  # type: ignore[no-any-return]


def charged_back(settlement: SettlementState, bill: str) -> Decimal:
    """What the OEM took back of its payments on the bill."""
    return settlement.bills.get(bill, {}).get("charged_back", ZERO)  # type: ignore[no-any-return]


def limit(settlement: SettlementState, kind: str) -> Decimal:
    """The most this kind may adjust on the settlement's bill now."""
    bill = BILL_OF[kind]
    if kind == "oem_charged_back":
        return settlement.paid(bill) - charged_back(settlement, bill)
    return settlement.outstanding(bill)


def adjustment_entry(settlement: SettlementState, kind: str, amount: Decimal,
                     reference: str | None) -> dict[str, Any]:
    bill = BILL_OF[kind]
    credited = OWED_TO_OEM if kind == "oem_charged_back" else CREDITED[bill]
    what = "charged back by the OEM" if kind == "oem_charged_back" else "written off"
    ref = f", {reference}" if reference else ""
    return entry(f"{bill} bill of {settlement.number} ({settlement.work_order_number}) {what}"
                 f" ({kind}{ref})", [posting(LOSS, debit=amount),
                                     posting(credited, credit=amount)])


def check(settlement: SettlementState, kind: str, amount: object | None, reason: str | None,
          reference: str | None, cap: Decimal | None = None) -> tuple[Decimal, str, str | None]:
    """(amount, reason, reference) as kept, or the refusal: 422 for bad input, 409 for a
    settlement whose bill cannot take it. No amount: all the kind allows (`cap`: at most
    that, a short-paid claim's shortfall or an underpaid one's remainder left)."""
    why = require_reason(reason, "writing off a receivable")
    ref = (reference or "").strip() or None
    require(ref is None or len(ref) <= MAX_REFERENCE, InvalidInput(
        f"the reference is at most {MAX_REFERENCE} characters", field="reference"))
    bill = BILL_OF[kind]
    require(settlement.status == "settled" and bill in settlement.bills, SettlementError(
        f"only a settled {bill} bill has a receivable to adjust; the settlement is "
        f"{settlement.status}" + ("" if bill in settlement.bills else f" and has no {bill} bill"),
        settlement_status=settlement.status))
    most = limit(settlement, kind) if cap is None else min(limit(settlement, kind), cap)
    value = most if amount is None else money(amount, "amount", field="amount")
    if amount is not None:
        require(value > 0, InvalidInput("the amount must be positive", field="amount"))
        if value > most:
            what = ("paid and not yet charged back" if kind == "oem_charged_back"
                    else "outstanding" if cap is None
                    else "outstanding of the shortfall" if kind == "oem_short_paid"
                    else "outstanding of the approved amount less paid")
            raise SettlementError(f"the {bill} bill has only {most} {what}", field="amount",
                                  limit=str(most))
    require(value > 0, SettlementError(
        f"the {bill} bill has nothing to adjust ({kind})", limit=str(most)))
    return value, why, ref


def reversal_entry(settlement: SettlementState, write_off: dict[str, Any],
                   write_off_id: str) -> dict[str, Any]:
    """The mirror of a write-off's entry (every debit a credit and back)."""
    return reversal(write_off["entry"], f"{write_off['bill']} bill of {settlement.number} "
                    f"({settlement.work_order_number}): write-off {write_off_id} "
                    f"({write_off['kind']}) taken back")
