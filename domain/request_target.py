"""A request target as it may be kept: in a log line, a trace span, or a recorded read of
personal data (`DataAccess.PersonalDataRead.endpoint`).

The path stays, but for the customer's progress link, whose token is its own credential. The
other values in a path are random ids (UUIDs), document and part numbers, store ids, days, or a
VIN; a VIN names a car, and the event store keeps it in clear with the car's owners (Vehicle,
WorkOrder) as a fact that outlives an erasure, so the path of a vehicle file adds nothing an
erasure takes. What an erasure takes — a customer's name, phones, WeChat id — is never part of
a path: a customer is named by their id.

A query string holds what the caller typed: search terms (a phone, a plate, a VIN or a name in
`q`, `customer_phone`, `plate`, `vin`), free text (`reason`), secrets (`token`). Only the values
of the parameters in `KEPT_QUERY_VALUES`, which carry none of these, are kept; every other
value reads `[redacted]` and its name stays, so a parameter added later is redacted until it
is listed here (tests/unit/test_request_targets.py checks that every parameter a route takes is
listed or meant to be redacted).
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

REDACTED = "[redacted]"
# The customer's progress and booking links are their own credentials: a token is never kept.
_PROGRESS_TOKEN = re.compile(
    r"^/(?P<page>progress|booking)/(?P<token>[^/]+?)(?P<rest>\.json|/.*)?$")

# Query parameters whose values name no person and hold no secret: paging, days and moments,
# states and kinds, formats, store ids and regions, ids (UUIDs, document and part numbers), staff user ids.
KEPT_QUERY_VALUES = frozenset({
    "account", "active", "after", "after_transfers", "aged_on", "as_of", "at_from", "at_to", "bills_limit",
    "bills_offset", "bom", "brand", "by", "candidates_limit", "category", "candidates_offset", "cashier",
    "charges_limit", "charges_offset",
    "conflicts_limit", "conflicts_offset", "correlation_id", "customer_id", "date", "date_from",
    "date_to", "day", "days", "event_type", "events", "format", "from", "from_day",
    "include_cleared", "include_handled", "kind", "lang", "limit", "lot_id", "low_only",
    "method", "model", "month", "movements_limit", "movements_offset", "notice", "number",
    "offset", "older_than_days", "op_code", "opened_from", "opened_to", "outstanding", "overdue",
    "part_number", "pay_type", "payer_key",
    "payments_limit", "payments_offset", "reference", "refunds_limit", "refunds_offset", "region",
    "source",
    "state", "status", "store_id", "statement_id", "streams", "supplier", "tag", "technician", "to",
    "to_day", "to_store", "type", "user_id",
    "visits_limit", "visits_offset", "wait_for", "work_order_id",
})


def redacted_target(path: str, query: str = "") -> str:
    """The target as it may be kept: the progress link's token and every query value but
    those of `KEPT_QUERY_VALUES` replaced by `[redacted]`, the parameters' names kept."""
    found = _PROGRESS_TOKEN.match(path) \
        if path.startswith(("/progress/", "/booking/")) else None
    if found:
        path = f"/{found['page']}/{REDACTED}{found['rest'] or ''}"
    if query:
        path += "?" + "&".join(_redacted_pair(pair) for pair in query.split("&"))
    return path


def _redacted_pair(pair: str) -> str:
    name, equals, value = pair.partition("=")
    if not equals or not value or unquote_plus(name) in KEPT_QUERY_VALUES:
        return pair
    return f"{name}={REDACTED}"


def redacted_endpoint(endpoint: str) -> str:
    """A recorded endpoint (`GET /work-orders?customer_phone=…`: method and target) with its
    target redacted as `redacted_target` does."""
    method, space, target = endpoint.partition(" ")
    if not space:
        return endpoint
    path, _, query = target.partition("?")
    return f"{method} {redacted_target(path, query)}"
