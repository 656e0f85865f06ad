"""The size of the Kafka message an event becomes, checked before the event is stored.

A message over the relay's limit cannot be published (the producer refuses it, every time), and
the relay publishes in order: one such event would keep every later one from the broker. So
`ServiceCore` refuses a command whose events would not fit, before anything is stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from domain.common import InvalidInput
from domain.integration_events import INTERNAL_STREAMS, Message, encode
from domain.integration_payloads import PAYLOADS

# The largest message the relay sends (its key, value and headers) unless configured otherwise
# (SERVICECORE_KAFKA_MAX_MESSAGE_BYTES): the settlement draft of a work order at its limits
# (1,000 labor lines of 500 Chinese characters) is about 1.7 MB, a statement's lines at most
# statement_format.MAX_LINES_BYTES. The producer, the broker and every consumer take this much
# and a record's envelope more (workers/relay_broker.RECORD_ROOM).
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
WIDEST_ID = 2**63 - 1  # a notification id as wide as PostgreSQL's bigint
# What a message holds beside its payload and its actor: ids, type names, times, the schema
# version, JSON punctuation, the key and the headers (well under 1 KiB; room to spare).
ENVELOPE_ROOM = 4096


def message_bytes(message: Message) -> int:
    """What a message weighs against the limit: key, value and headers."""
    return len(message.key) + len(message.value) + sum(
        len(name.encode()) + len(value) for name, value in message.headers)


def published_bytes(event: Any) -> int:
    """The size of the message the relay will send for a domain event about to be stored (its
    notification id not known yet: counted as wide as any can be); 0 for an event of an internal
    stream, which is not published."""
    kind, _, name = type(event).__qualname__.rpartition(".")
    if kind in INTERNAL_STREAMS:
        return 0
    return message_bytes(encode(WIDEST_ID, kind, name, event, str(event.originator_id),
                                int(event.originator_version)))


def size_bound(event: Any) -> int | None:
    """A size the event's message cannot exceed, in a few microseconds where encoding it exactly
    takes about 100: the payload (the message carries those of the event's fields, or fewer) and
    the actor written compactly, plus the envelope's room. None: a value orjson cannot write."""
    kind, _, name = type(event).__qualname__.rpartition(".")
    spec = PAYLOADS.get(kind, {}).get(name)
    payload = spec(event) if spec is not None else {}
    try:
        carried = orjson.dumps([payload, getattr(event, "audit", None)], default=str,
                               option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return None
    return len(carried) + ENVELOPE_ROOM


def refuse_oversized(events: Iterable[Any], limit: int) -> None:
    """InvalidInput (422) naming the first event whose message would be over `limit` bytes."""
    for event in events:
        bound = size_bound(event)
        if bound is not None and bound <= limit:  # almost every event: far under the limit
            continue
        size = published_bytes(event)
        if size > limit:
            what = type(event).__qualname__
            raise InvalidInput(
                f"this change would be published as a message of {size} bytes ({what} of "
                f"{event.originator_id}), more than the {limit} bytes a message may take: "
                "nothing was stored", event=what, stream_id=str(event.originator_id),
                size=size, limit=limit)
