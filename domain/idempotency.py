"""A remembered command answer, saved in the same save() as the command's events."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, stable_id


def request_hash(path: str, body: object) -> str:
    """A command request's fingerprint: the SHA-256 of `{"path": …, "body": …}` as
    `json.dumps(…, sort_keys=True)` writes it, a number of the body written as below.

    A JSON body's numbers with a fraction or an exponent are read exactly, as Decimals
    (api/json_bodies.py); they were read as floats, and a retry with the same Idempotency-Key
    must still match the first request when that was remembered before. So such a number is
    written as Python writes the float nearest to it whenever that float's text is the number
    itself (`0.1`; `1.50` and `1.5` as 1.5; `1e2` as 100.0): the text, and so the fingerprint,
    it had as a float. Only a number no float holds (`0.1000000000000000001`, which was read
    as 0.1) is written with its own digits, so it no longer shares the fingerprint of the
    number it was rounded to. Its digits are no float's text (that float would hold it), so
    two bodies whose numbers differ never share a fingerprint either way."""
    whole = {"path": path, "body": body}
    try:
        canonical = json.dumps(whole, sort_keys=True, default=_float_if_exact)
    except _NoFloat:
        canonical = _exact_text(whole)
    return hashlib.sha256(canonical.encode()).hexdigest()


class _NoFloat(Exception):
    """A number that no float holds exactly."""


def _float_if_exact(value: object) -> object:
    """A Decimal as the float that is exactly it (its text read back is the same number);
    anything else as its text."""
    if not isinstance(value, Decimal):
        return str(value)
    nearest = float(value)
    if Decimal(repr(nearest)) != value:
        raise _NoFloat
    return nearest


def _exact_text(value: object) -> str:
    """`json.dumps(value, sort_keys=True)`, a Decimal no float holds written with its digits."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(name))}: {_exact_text(item)}"
                               for name, item in sorted(value.items())) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_exact_text(item) for item in value) + "]"
    if isinstance(value, Decimal):
        try:
            return json.dumps(_float_if_exact(value))
        except _NoFloat:
            return str(value)
    return json.dumps(value, default=str)


class IdempotencyRecord(Aggregate):
    @staticmethod
    def create_id(user_id: str, key: str) -> UUID:
        return stable_id("idempotency", user_id, key)

    @event("Remembered")
    def __init__(self, user_id: str, key: str, request_hash: str, response: dict[str, Any],
                 audit: Audit) -> None:
        self.user_id = user_id
        self.key = key
        self.request_hash = request_hash
        self.response = response
