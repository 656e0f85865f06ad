"""What a read of customer complaint cases (投诉建议) shows of the customer.

A case's row keeps two texts sealed with the customer's key: the customer's `words` and the
staff's `resolution` (one stored before it was sealed is in clear). Every read of cases — one
case, the store's lists, the overdue list, the customer 360 and the customer's cases — opens
them here: for the roles that may read customers' personal data, opened (`[erased]` once the
customer is); for any other role null, in the same shape. The customers whose text came out
are answered, for the read's record (an auditor's read is saved before the answer leaves).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from api.pii_reads import PiiReader, shows_personal_data
from domain.pii import is_sealed

SEALED = ("words", "resolution")


def opened(reading: PiiReader, cases: Iterable[dict[str, Any]]) -> list[tuple[UUID, str]]:
    """Open the sealed texts of `cases` in place as this caller may see them; the customers
    (and the stores of their cases) whose text was shown."""
    cases = list(cases)
    if not reading.sees_personal_data:
        reading.masked(cases, [("*", field) for field in SEALED])
        return []
    open_token, _ = reading.ctx.app.personal_data.prefetched(
        {UUID(str(case["customer_id"])) for case in cases})
    shown = []
    for case in cases:
        customer = UUID(str(case["customer_id"]))
        for field in SEALED:
            if is_sealed(case.get(field)):
                case[field] = open_token(customer, case[field])
        if shows_personal_data(*(case.get(field) for field in SEALED)):
            shown.append((customer, str(case["store_id"])))
    return shown


def show(reading: PiiReader, cases: Iterable[dict[str, Any]], purpose: str) -> None:
    """Open the cases' texts and record the read (the auditor's) under `purpose`."""
    reading.record(opened(reading, cases), purpose)
