"""A remembered command answer, saved in the same save() as the command's events."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, stable_id


def request_hash(path: str, body: object) -> str:
    canonical = json.dumps({"path": path, "body": body}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


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
