"""A number the outside world issues once per store (a provider's transaction reference, a tax
invoice number): a reservation stream named by the store and the number, created in the same
save() as the record that uses it.

Two takers at once, in any processes, both try to create the stream: the event store lets one
of them store it, the other's save conflicts, and its retry finds the reservation and is
refused (`refuse_taken`), with the refusal naming the first use (or the use holding it now,
for a kind of number that can be let go and taken again: `domain/invoice_number.py`). Each kind of number is a
subclass with its own id, its own event and its own `refusal`.
"""

from __future__ import annotations

from collections.abc import Iterable

from eventsourcing.domain import Aggregate

from domain.common import IllegalTransition


class TakenOnce(Aggregate):
    """A reservation: that it exists says the number is taken."""

    def taken(self) -> bool:
        """Whether the number is held (a kind of number that can be let go says otherwise)."""
        return True

    def refusal(self) -> IllegalTransition:
        """The 409 a second taker gets, naming what took the number first."""
        raise NotImplementedError


def refuse_taken(found: Iterable[TakenOnce | None]) -> None:
    """Refuse the command when one of the reservations it would create already exists."""
    for earlier in found:
        if earlier is not None and earlier.taken():
            raise earlier.refusal()
