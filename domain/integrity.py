"""The hash chain over the event log: how one stored event is linked to the one before it.

Every stored event's link is SHA-256 over the previous link and the event exactly as stored:
notification id, stream id, stream version, topic and the stored bytes (personal data inside
them is sealed, so shredding a customer's key changes no byte and never breaks the chain).
The database computes the same function in the transaction that stores the event
(`servicecore_chain_link` in servicecore/schema.py); `audit verify` recomputes it here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from uuid import UUID

GENESIS = bytes(32)


def message(notification_id: int, stream_id: UUID, version: int, topic: str,
            state: bytes) -> bytes:
    """One stored event as the chain hashes it (fields length-prefixed, integers big-endian)."""
    topic_bytes = topic.encode()
    return b"".join((notification_id.to_bytes(8, "big", signed=True), stream_id.bytes,
                     version.to_bytes(8, "big", signed=True),
                     len(topic_bytes).to_bytes(4, "big"), topic_bytes,
                     len(state).to_bytes(4, "big"), state))


def link(previous: bytes, notification_id: int, stream_id: UUID, version: int, topic: str,
         state: bytes) -> bytes:
    """The chain link of one stored event."""
    return next_link(previous, message(notification_id, stream_id, version, topic, state))


def next_link(previous: bytes, event_message: bytes) -> bytes:
    """The link after `previous` for an event already serialized by `message`."""
    return hashlib.sha256(previous + event_message).digest()


@dataclass(frozen=True)
class ChainBreak:
    """Where recomputing the chain first disagreed with what is stored, and how."""

    notification_id: int
    reason: str  # "event changed", "link missing", "link without event", "anchor differs",
    #              "anchor beyond the log", "anchor without its event", "event deleted",
    #              "event no save recorded", "event replaced",
    #              "event recorded before an anchor witnessed before it",
    #              "event recorded after an anchor witnessed after it"
    stored: str | None = None  # hex of the stored link (or anchor; the event's recorded time;
    #                            when the id was first recorded)
    computed: str | None = None  # hex of the recomputed link (the witnessed anchor's time;
    #                              when the id was recorded again)
