"""When a stored event says it was recorded, checked against the anchors witnessed before it.

An anchor kept outside the database (a witness file's line, the Kafka topic) carries the time
it was recorded (`anchored_at`): the log up to its head stood then, so every later event was
stored after it. An event stored after a witnessed anchor whose recorded time (`timestamp`,
the audit trail's `recorded_at`) is earlier than that anchor's, by more than the clocks of the
application's hosts and of the database may differ and a save may wait (`CLOCK_SKEW`), says it
was recorded at a time the log did not hold it: back-dated (stored with a clock set back, or
written into the log by hand with the chain trigger linking it). Used by `hash_chain.verify`.

The time is read from the stored bytes as the application decodes them (the JSON object's
last `timestamp` key, escapes resolved); the common shape (`timestamp` first and alone, no
escapes) is read without decoding the whole event.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

CLOCK_SKEW = timedelta(minutes=10)
STAMP = b'{"timestamp":{"_type_":"datetime_iso","_data_":"'
DATED = "event recorded before an anchor witnessed before it"


def recorded_at(event_message: bytes) -> datetime | None:
    """The recorded time of an event serialized by `domain.integrity.message`; None where it
    has none that reads as an aware time."""
    start = 40 + int.from_bytes(event_message[32:36], "big")  # the stored bytes
    if (event_message.startswith(STAMP, start) and event_message.find(b"\\", start) < 0
            and event_message.count(b'"timestamp"', start) == 1):  # no escape, one key
        begin = start + len(STAMP)
        end = event_message.find(b'"', begin)
        if event_message[end:end + 2] == b'"}':  # the time object holds these two keys only
            return _aware(event_message[begin:end].decode("utf-8", "replace"))
    try:
        decoded = json.loads(event_message[start:])
    except (ValueError, RecursionError):
        return None
    stamp = decoded.get("timestamp") if isinstance(decoded, dict) else None
    if isinstance(stamp, dict) and stamp.get("_type_") == "datetime_iso":
        return _aware(stamp.get("_data_"))
    return None


def anchor_time(text: Any) -> datetime | None:
    """An anchor's `anchored_at` as a witness line carries it (ISO 8601); None if it is not
    one with a time zone (a line from before, or changed by hand: no time to check against)."""
    return _aware(text)


def _aware(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def dated_before(event_message: bytes, floor: datetime) -> datetime | None:
    """The event's recorded time where it is earlier than `floor` (the time of an anchor
    witnessed before it in the log) by more than `CLOCK_SKEW`; else None."""
    when = recorded_at(event_message)
    return when if when is not None and when < floor - CLOCK_SKEW else None
