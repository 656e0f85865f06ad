"""When a stored event says it was recorded, checked against the anchors witnessed around it.

An anchor kept outside the database (a witness file's line, the Kafka topic) carries the time
it was recorded (`anchored_at`): the log up to its head stood then, so every event up to it was
stored before that time and every later one after it. An event whose recorded time
(`timestamp`, the audit trail's `recorded_at`) is earlier than an anchor witnessed before it,
or later than one witnessed after it, by more than the clocks of the application's hosts and
of the database may differ and a save may wait (`CLOCK_SKEW`), says it was recorded at a time
the log shows it was not: back-dated or post-dated (stored with a clock set wrong, or written
into the log by hand with the chain trigger linking it). Used by `hash_chain.verify`.

The time is read from the stored bytes as the application decodes them (the JSON object's
last `timestamp` key, escapes resolved); the common shape (`timestamp` first and alone, no
escapes) is read without decoding the whole event.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from domain.integrity import ChainBreak

CLOCK_SKEW = timedelta(minutes=10)
STAMP = b'{"timestamp":{"_type_":"datetime_iso","_data_":"'
DATED = "event recorded before an anchor witnessed before it"
DATED_AFTER = "event recorded after an anchor witnessed after it"


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
    one with a time zone (changed by hand: no time to check against)."""
    return _aware(text)


def _aware(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


class RecordedTimes:
    """The events' recorded times met in notification order, held to the witnessed anchors
    around them. `floor`: the time of the last anchor witnessed before the first event (a
    range trusts it as it trusts the stored link before it); `timed`: whether any anchor
    given carries a time (else no event's time is read)."""

    def __init__(self, floor: datetime | None, timed: bool) -> None:
        self.floor, self.timed = floor, timed
        self.latest: tuple[int, datetime] | None = None  # since the last witnessed anchor

    def event(self, number: int, event_message: bytes) -> ChainBreak | None:
        """The event `number` met: a break if it says it was recorded before the floor."""
        if not self.timed:
            return None
        when = recorded_at(event_message)
        if when is None:
            return None
        if self.floor is not None and when < self.floor - CLOCK_SKEW:
            return ChainBreak(number, DATED, when.isoformat(), self.floor.isoformat())
        if self.latest is None or when > self.latest[1]:
            self.latest = (number, when)
        return None

    def witnessed(self, anchored_at: datetime | None) -> ChainBreak | None:
        """An anchor witnessed at the event just met: a break at the latest-dated event since
        the anchor witnessed before, if it says it was recorded after this one."""
        if anchored_at is None:
            return None
        if self.latest is not None and self.latest[1] > anchored_at + CLOCK_SKEW:
            return ChainBreak(self.latest[0], DATED_AFTER, self.latest[1].isoformat(),
                              anchored_at.isoformat())
        self.floor = max(self.floor, anchored_at) if self.floor else anchored_at
        self.latest = None
        return None
