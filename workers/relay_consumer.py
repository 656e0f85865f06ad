"""What a consumer of the relay's topics does: apply each stream version once, in order.

The relay may send an event more than once (after a broker failure it re-sends everything after
its stored position), and a re-send can overtake nothing within its partition except events it
will send again. So a consumer keeps, per stream, the last version it applied:

- version == last + 1: apply it;
- version <= last: a repeat — skip it;
- version > last + 1: an early arrival whose predecessors are being re-sent — skip it too; it
  comes again after them.

Every event of a published stream is on its topic (unknown types with an empty payload), so
per-stream versions there are gap-free from 1. A consumer that starts on a topic whose early
records are gone (retention) seeds `applied` with the versions it already holds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from domain.integration_events import SCHEMA_VERSION
from domain.unreadable_events import UPGRADE

Verdict = Literal["apply", "repeat", "early"]


def decode(value: bytes) -> dict[str, Any]:
    """The integration event; one of a later `schema_version` than this code reads (a relay
    running newer code sent it) is refused (`NewerMessage`): its partition stops there."""
    event: dict[str, Any] = json.loads(value)
    version = event.get("schema_version", 1)
    if type(version) is not int or version > SCHEMA_VERSION:
        raise NewerMessage(f"integration event {event.get('event_id')} ({event.get('type')}) "
                           f"has schema_version {version!r}, this code reads up to "
                           f"{SCHEMA_VERSION}: {UPGRADE}")
    return event


class NewerMessage(Exception):
    """An integration event of a schema newer than this consumer's code."""


@dataclass
class StreamVersions:
    """Per stream id, the last version applied; `offer` says what to do with the next event."""

    applied: dict[str, int] = field(default_factory=dict)
    repeats: int = 0
    early: int = 0

    def offer(self, event: Mapping[str, Any]) -> Verdict:
        stream_id, version = str(event["stream_id"]), int(event["stream_version"])
        last = self.applied.get(stream_id, 0)
        if version <= last:
            self.repeats += 1
            return "repeat"
        if version > last + 1:
            self.early += 1
            return "early"
        self.applied[stream_id] = version
        return "apply"
