"""A tax invoice (发票) number, recorded on one bill of the issuing store.

The number comes from the tax system and names one invoice: the same number on a second bill
(another visit's, or the other bill of the same visit) is a keying mistake or a reused paper,
and an auditor matching invoices to settlements would find two bills for one invoice. The
reservation (domain/taken_once.py) is a stream named by (store, number), created in the save
that records the invoice on the bill; a second use in the store is refused with 409 naming the
bill that has it. A reversed settlement keeps its reservation: its invoice is written off by a
red-letter invoice, whose number the reversal records, and the visit, settled again, is
invoiced with a new number.

A red-letter invoice (红字发票), which writes a credit off against an invoiced bill, is an
invoice of its own: the tax system gives it its own number and it names the blue invoice it
cancels. Its number comes from the same series of the store's invoices, so blue and red share
one reservation per (store, number) (`RedInvoiceNumber`, created in the save that requests the
credit): a red number used twice, or equal to a blue one, is refused the same way. A credit
rejected afterwards never writes anything off, so the tax system's red-letter invoice of that
number is the one issued for a corrected credit: the rejection lets the reservation go
(`Released`, in the save that rejects) and the next use, blue or red, takes it again
(`Retaken`, naming the new holder). Both write the reservation's stream, so a release and a
claim, or two claims, racing are ordered by the event store: a claim that read the number
still held is refused, one that read it released takes it, and of two claims one saves.
A number held by a pending or approved credit or by a blue invoice is never let go.
A reversed settlement's invoiced bill is written off whole by a red-letter invoice too: the
reversal names its number (`RedInvoiceNumber` with no credit, created in the reversing save),
and it is held for good.

A number is kept as the tax system prints it, whatever the keyboard sent (`invoice_number`):
full-width digits and letters (what a Chinese input method types) as ASCII, letters upper
case, without spaces. Otherwise "４４０１２３４５" or "4401 2345" would be another number than
"44012345", and the one invoice could be recorded on two bills.
"""

from __future__ import annotations

import unicodedata
from uuid import UUID

from eventsourcing.domain import event

from domain.common import Audit, IllegalTransition, require, stable_id
from domain.taken_once import TakenOnce


class InvoiceNumberTaken(IllegalTransition):
    """The invoice number is recorded on an earlier bill of the store (HTTP 409, naming it)."""


def invoice_number(value: str) -> str:
    """A tax invoice number in the form kept: NFKC (full-width as ASCII), upper case, no
    whitespace anywhere ("" when nothing is left)."""
    return "".join(unicodedata.normalize("NFKC", value).split()).upper()


class InvoiceNumber(TakenOnce):
    # the holder's credit and the blue invoice it writes off (None: a blue invoice holds it)
    refund_id: str | None = None
    cancels: str | None = None
    released = False  # let go by the rejected credit that held it

    @staticmethod
    def create_id(store_id: str, invoice_no: str) -> UUID:
        return stable_id("tax-invoice", store_id, invoice_number(invoice_no))

    @event("Reserved")
    def __init__(self, audit: Audit, invoice_no: str, bill: str, settlement_id: UUID,
                 settlement_number: str, work_order_number: str, id: UUID | None = None) -> None:
        self.store_id = audit.store_id
        self.invoice_no = invoice_no
        self._hold(bill, settlement_id, settlement_number, work_order_number, None, None)

    def _hold(self, bill: str, settlement_id: UUID, settlement_number: str,
              work_order_number: str, refund_id: str | None, cancels: str | None) -> None:
        """The holder: its bill, settlement and work order, and for a credit's red-letter
        invoice the credit and the blue invoice it cancels (what a refusal names)."""
        self.bill = bill
        self.settlement_id = settlement_id
        self.settlement_number = settlement_number
        self.work_order_number = work_order_number
        self.refund_id = refund_id
        self.cancels = cancels

    def taken(self) -> bool:
        return not self.released

    def release(self, audit: Audit, refund_id: str) -> None:
        """The credit holding the number was rejected: it writes nothing off, and the number
        is free for the next use. A number another use holds stays held."""
        if self.refund_id == refund_id and not self.released:
            self._released(audit, refund_id)

    @event("Released")
    def _released(self, audit: Audit, refund_id: str) -> None:
        self.released = True

    def take_again(self, audit: Audit, bill: str, settlement_id: UUID, settlement_number: str,
                   work_order_number: str, refund_id: str | None = None,
                   cancels: str | None = None) -> None:
        """A released number used again: a blue invoice, or a credit's red-letter invoice."""
        require(self.released, self.refusal())
        self._retaken(audit, bill, settlement_id, settlement_number, work_order_number,
                      refund_id, cancels)

    @event("Retaken")
    def _retaken(self, audit: Audit, bill: str, settlement_id: UUID, settlement_number: str,
                 work_order_number: str, refund_id: str | None, cancels: str | None) -> None:
        self.released = False
        self._hold(bill, settlement_id, settlement_number, work_order_number, refund_id, cancels)

    def refusal(self) -> InvoiceNumberTaken:
        if self.refund_id is not None:
            return self._red_refusal()
        if self.cancels is not None:
            return self._reversal_refusal()
        return InvoiceNumberTaken(
            f"invoice {self.invoice_no} is already recorded on the {self.bill} bill of "
            f"settlement {self.settlement_number} (work order {self.work_order_number}); an "
            "invoice number is used once in a store",
            invoice_no=self.invoice_no, bill=self.bill, settlement_id=str(self.settlement_id),
            settlement_number=self.settlement_number,
            work_order_number=self.work_order_number)

    def _red_refusal(self) -> InvoiceNumberTaken:
        return InvoiceNumberTaken(
            f"invoice {self.invoice_no} is already the red-letter invoice of credit "
            f"{self.refund_id} on the {self.bill} bill of settlement {self.settlement_number} "
            f"(work order {self.work_order_number}), cancelling invoice {self.cancels}; an "
            "invoice number, blue or red, is used once in a store",
            invoice_no=self.invoice_no, bill=self.bill, settlement_id=str(self.settlement_id),
            settlement_number=self.settlement_number,
            work_order_number=self.work_order_number, refund_id=self.refund_id,
            cancels=self.cancels)


    def _reversal_refusal(self) -> InvoiceNumberTaken:
        return InvoiceNumberTaken(
            f"invoice {self.invoice_no} is already the red-letter invoice of the reversal of "
            f"settlement {self.settlement_number} (work order {self.work_order_number}), "
            f"cancelling invoice {self.cancels} of its {self.bill} bill; an invoice number, "
            "blue or red, is used once in a store",
            invoice_no=self.invoice_no, bill=self.bill, settlement_id=str(self.settlement_id),
            settlement_number=self.settlement_number,
            work_order_number=self.work_order_number, refund_id=None, cancels=self.cancels)


class RedInvoiceNumber(InvoiceNumber):
    """The number of a red-letter invoice: on the credit that writes off part of a bill
    (`refund_id`), or on the reversal of a settlement that writes off the whole bill (`refund_id`
    None, `settlement_number` the reversed one); `cancels` names the blue invoice."""

    @event("Reserved")
    def __init__(self, audit: Audit, invoice_no: str, bill: str, settlement_id: UUID,
                 settlement_number: str, work_order_number: str, refund_id: str | None,
                 cancels: str, id: UUID | None = None) -> None:
        self.store_id = audit.store_id
        self.invoice_no = invoice_no
        self._hold(bill, settlement_id, settlement_number, work_order_number, refund_id, cancels)
