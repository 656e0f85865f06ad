"""What the Kafka relay counts, and how it shows on /metrics and /health."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workers.health import RateMeter, Sample

if TYPE_CHECKING:
    from workers.relay_sends import Oversized


@dataclass
class RelayStats:
    sent: int = 0  # messages handed to the producer (re-sends included)
    acked: int = 0  # messages the broker acknowledged
    retries: int = 0  # restarts from the stored position after a failure
    failures: int = 0  # failed sends / connection attempts
    skipped: int = 0  # internal events, not published
    unknown: int = 0  # events published with an empty payload (no mapping)
    rewinds: int = 0  # times the broker had lost acknowledged records and the position went back
    producer_deaths: int = 0  # producers whose network thread ended under the relay


def samples(s: RelayStats, meter: RateMeter, *, stored: int, head: int, idempotent: bool,
            active: bool) -> Iterable[Sample]:
    w = (("worker", "relay"),)
    return [
        Sample("servicecore_worker_events_behind", float(max(0, head - stored)), w,
               help="head notification id minus the worker's stored position"),
        Sample("servicecore_worker_position", float(stored), w),
        Sample("servicecore_worker_events_per_second", meter.rate(), w,
               help="events the position moved over, per second (10 s window)"),
        Sample("servicecore_worker_events_processed_total", float(meter.total), w,
               kind="counter"),
        Sample("servicecore_relay_sent_total", float(s.sent), kind="counter",
               help="messages handed to the producer, re-sends included"),
        Sample("servicecore_relay_acked_total", float(s.acked), kind="counter",
               help="messages acknowledged by the broker"),
        Sample("servicecore_relay_retries_total", float(s.retries), kind="counter",
               help="restarts from the stored position after a failure"),
        Sample("servicecore_relay_failures_total", float(s.failures), kind="counter",
               help="failed sends or broker connections"),
        Sample("servicecore_relay_skipped_total", float(s.skipped), kind="counter",
               help="internal events not published"),
        Sample("servicecore_relay_unmapped_total", float(s.unknown), kind="counter",
               help="events without a mapping, published with an empty payload"),
        Sample("servicecore_relay_rewinds_total", float(s.rewinds), kind="counter",
               help="times the broker no longer held acknowledged records and the relay "
                    "went back to send them again"),
        Sample("servicecore_relay_producer_deaths_total", float(s.producer_deaths),
               kind="counter",
               help="producers whose network thread ended while the relay used them: dropped, "
                    "and everything after the stored position sent again"),
        Sample("servicecore_relay_idempotent", 1.0 if idempotent else 0.0),
        Sample("servicecore_relay_active", 1.0 if active else 0.0),
    ]


def details(s: RelayStats, *, stored: int, head: int, idempotent: bool,
            active: bool) -> dict[str, Any]:
    return {"active": active, "position": stored, "head": head,
            "behind": max(0, head - stored), "idempotent": idempotent,
            "sent": s.sent, "acked": s.acked, "retries": s.retries, "failures": s.failures,
            "rewinds": s.rewinds, "producer_deaths": s.producer_deaths}


def size_samples(limit: int, oversized: Oversized | None) -> Iterable[Sample]:
    """The limit, and the stored event over it the relay stopped at (while it is stopped)."""
    out = [Sample("servicecore_relay_max_message_bytes", float(limit),
                  help="the largest message the relay sends (key, value and headers)")]
    if oversized is not None:
        out.append(Sample(
            "servicecore_relay_message_too_large_bytes", float(oversized.size),
            (("notification_id", str(oversized.notification_id)),
             ("stream_id", oversized.stream_id), ("type", oversized.type),
             ("limit", str(oversized.limit))),
            help="a stored event whose message is over the limit: the relay publishes nothing "
                 "after it until the limit is raised"))
    return out
