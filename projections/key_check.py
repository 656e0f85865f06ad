"""The customers' keys against the erasures the event log records.

Personal data is sealed with a per-customer key in `customer_keys`, a table the application
deletes from (erasure shreds the key) and so outside the hash chain. Someone with rights on
that table can erase a customer behind the log's back (delete the key: every name and phone
then reads `[erased]`, with no `Customer.Erased` event, no reason, no who) or undo an erasure
(put back a key from a backup: the data reads in the clear again although the log says the
customer was erased). Neither changes a stored event, so the chain cannot show it; this check
compares the table with the customers' streams. `audit verify` runs it after the chain.

- A customer whose stream holds sealed fields (a `pii1:` token) and no `Customer.Erased`
  needs a key: none is `key missing without an erasure`.
- An erased customer has no key once the erasure took effect: the command deletes it right
  after storing the event, and the work-orders view deletes it again when it applies the event
  (so a command stopped in between is mended). A key still there once that view's position
  (any of its position rows) is past the `Customer.Erased` event is `key kept after its
  erasure`; before, the deletion may still be on its way (`erasures_pending`).
- A key that is there must be the customer's own: one written over it (another customer's
  key copied in, fresh random bytes, an edited byte) shreds the data as surely as a deletion,
  and with ciphertexts swapped too it opens someone else's. AES-GCM authenticates, so the key
  must open one sealed field of the customer's latest event that sealed some (`Registered` or
  `DetailsChanged`): if not, `key does not open its data (replaced?)`. One decryption per
  customer, the events read by notification id in the same query (`keys_opened` counts them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.utils import get_topic

from domain.customer import Customer
from domain.pii import TOKEN_PREFIX, is_sealed, key_opens

EVENTS_TABLE = "servicecore_events"
KEYS_TABLE = "customer_keys"
APPLIED_BY = "work_orders"  # the view that deletes an erased customer's key when it applies it

CHECK = f"""
WITH customers AS MATERIALIZED (
    SELECT originator_id AS id,
           max(notification_id) FILTER (WHERE topic = %(erased)s) AS erased_at,
           bool_or(position(%(sealed)s::bytea IN state) > 0) AS sealed,
           max(notification_id) FILTER (WHERE topic = ANY(%(sealing)s)
                                        AND position(%(sealed)s::bytea IN state) > 0) AS sealed_at
    FROM {EVENTS_TABLE} WHERE topic LIKE %(streams)s GROUP BY originator_id),
applied AS (
    SELECT coalesce(max(position), 0) AS position FROM projection_positions
    WHERE name = %(view)s OR name LIKE %(view_rows)s)
SELECT c.id, c.erased_at, k.key, a.position, e.state
FROM customers c LEFT JOIN {KEYS_TABLE} k ON k.customer_id = c.id CROSS JOIN applied a
LEFT JOIN {EVENTS_TABLE} e ON c.erased_at IS NULL AND k.key IS NOT NULL
                           AND e.notification_id = c.sealed_at
WHERE (c.erased_at IS NULL AND c.sealed) OR c.erased_at IS NOT NULL
ORDER BY c.id"""


@dataclass(frozen=True)
class KeyBreak:
    customer_id: UUID
    reason: str  # "key missing without an erasure" | "key kept after its erasure" |
    #              "key does not open its data (replaced?)"
    erased_at: int | None  # the notification id of the customer's `Customer.Erased`


@dataclass(frozen=True)
class KeyCheck:
    customers_checked: int
    erasures_pending: int
    broken: KeyBreak | None
    keys_opened: int = 0  # keys that opened a sealed field of their customer's events

    @property
    def ok(self) -> bool:
        return self.broken is None

    def as_dict(self) -> dict[str, Any]:
        return {"keys_checked": self.customers_checked,
                "key_erasures_pending": self.erasures_pending, "keys_opened": self.keys_opened,
                "key_break": None if self.broken is None else {
                    "customer_id": str(self.broken.customer_id), "reason": self.broken.reason,
                    "erased_at": self.broken.erased_at}}


def check_keys(conn: psycopg.Connection[Any]) -> KeyCheck:
    """Every customer stream with sealed fields or an erasure against its key (one pass over
    the customers' events and the key table, the rows streamed); the first break in customer
    id order."""
    params = {
        "erased": get_topic(Customer.Erased), "streams": get_topic(Customer) + ".%",
        "sealing": [get_topic(Customer.Registered), get_topic(Customer.DetailsChanged)],
        "sealed": f'"{TOKEN_PREFIX}'.encode(), "view": APPLIED_BY,
        "view_rows": APPLIED_BY.replace("_", r"\_") + "%"}
    checked = pending = opened = 0
    broken: KeyBreak | None = None
    # in chunks of rows where libpq can (17+, as psycopg-binary bundles), else row by row
    chunk = 500 if psycopg.pq.version() >= 170000 else 1
    with conn.cursor() as cur:
        for customer_id, erased_at, key, applied, state in cur.stream(CHECK, params,
                                                                      size=chunk):
            checked += 1
            if erased_at is None:
                if key is None and broken is None:
                    broken = KeyBreak(customer_id, "key missing without an erasure", None)
                token = None if key is None or state is None else _sealed_field(bytes(state))
                if token is not None:
                    if key_opens(bytes(key), customer_id, token):
                        opened += 1
                    elif broken is None:
                        broken = KeyBreak(customer_id,
                                          "key does not open its data (replaced?)", None)
            elif key is not None:
                if int(erased_at) > int(applied):
                    pending += 1
                elif broken is None:
                    broken = KeyBreak(customer_id, "key kept after its erasure",
                                      int(erased_at))
    return KeyCheck(checked, pending, broken, opened)


def _sealed_field(state: bytes) -> str | None:
    """The first sealed field of a `Registered` or `DetailsChanged` event's stored state."""
    sealed = json.loads(state).get("sealed")
    if not isinstance(sealed, dict):
        return None
    return next((value for value in sealed.values() if is_sealed(value)), None)
