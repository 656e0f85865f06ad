"""`servicecore online-bookings retention`: the lapses and the retention of online booking
requests, for a cron (hourly or daily); prints what it did as JSON. The same run goes on a
timer where the projections run (`SERVICECORE_ONLINE_BOOKING_SWEEP_SECONDS`,
workers/booking_retention.py), so a cron is not needed.

First it records the lapse (`OnlineBooking.Expired`, and the release of its hold on the
workshop day) of every request the store left unanswered past its deadline: capacity checks
and reads already treat such a request as expired by the clock, this makes it a fact of the
log. Then it shreds the name, phone and note of every request never confirmed (declined,
cancelled, expired) whose retention period (`SERVICECORE_ONLINE_BOOKING_RETENTION_DAYS`) has
passed since it closed: `OnlineBooking.Shredded`, then its key is deleted. Both are recorded
as the system actor `online-booking-retention` (role `system`). The online bookings view
proposes the requests; each one is decided on its own stream, so a view that lags makes a run
do less, never wrong. A second run finds nothing to do: idempotent.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.common import IllegalTransition
from servicecore.logs import system_run
from servicecore.settings import Settings

if TYPE_CHECKING:
    from domain.online_bookings import OnlineBookings
    from workers.booking_retention import BookingRetentionTimer

log = logging.getLogger(__name__)
ACTOR = "online-booking-retention"
STALE = """SELECT id FROM online_bookings WHERE status = 'requested'
    AND (answer_by IS NULL OR answer_by <= %(now)s) ORDER BY requested_at, id"""
# a legacy request (no answer_by) is proposed by when it was made; its stream decides
CLOSED = """SELECT id FROM online_bookings WHERE shredded_at IS NULL AND (
    (status IN ('declined', 'cancelled') AND decided_at <= %(cutoff)s)
    OR (status IN ('requested', 'expired')
        AND coalesce(answer_by, requested_at) <= %(cutoff)s)) ORDER BY requested_at, id"""


def retention(bookings: Any, pool: Any, retention_days: int, *, at: datetime | None = None,
              user_id: str = ACTOR) -> dict[str, Any]:
    """Record the lapses, then shred what the retention period lets go (`bookings`: an
    OnlineBookings); the report: the requests expired and those shredded, and the run's
    correlation id (its events' and its log lines')."""
    from domain.common import Caller
    from domain.session import Request

    now = at or datetime.now(UTC)
    with system_run(user_id) as run:
        caller = Caller(user_id=user_id, role="system", stores=("*",), at=now,
                        correlation_id=run.correlation_id)
        request = Request(caller)
        with pool.connection() as conn:
            stale = [row[0] for row in conn.execute(STALE, {"now": now}).fetchall()]
        expired = [str(b) for b in stale if _done(partial(bookings.expire, request, b))]
        with pool.connection() as conn:
            closed = [row[0] for row in conn.execute(
                CLOSED, {"cutoff": now - timedelta(days=retention_days)}).fetchall()]
        ids = {UUID(b) for b in expired} | set(closed)
        shredded = [str(b) for b in sorted(ids, key=str) if _done(
            partial(bookings.shred_unconfirmed, request, b, retention_days))]
    return {"at": now.isoformat(), "retention_days": retention_days,
            "correlation_id": run.correlation_id, "expired": expired, "shredded": shredded}


def _done(act: Callable[[], Any]) -> bool:
    """Whether `act` did something; a request the desk answered in the meantime (it is no
    longer one to expire) is left as it is, and the run goes on."""
    try:
        return bool(act())
    except IllegalTransition as exc:
        log.info("online bookings retention: left as it is: %s", exc)
        return False


def booking_service(container: Any) -> OnlineBookings:
    """The online bookings service of a `Container`, as the API's."""
    from domain.online_bookings import OnlineBookings

    s = container.settings
    return OnlineBookings(container.app, container.appointments, container.customers,
                          s.secret(), s.online_booking_hours, s.online_booking_link_days,
                          s.online_booking_answer_hours)


def retention_timer(container: Any) -> BookingRetentionTimer | None:
    """The retention on a timer for a `Container` (None: the setting is 0, off)."""
    from workers.booking_retention import BookingRetentionTimer

    s = container.settings
    if not s.online_booking_sweep_seconds:
        return None
    bookings = booking_service(container)

    def step(at: datetime) -> dict[str, Any]:
        return retention(bookings, container.pool, s.online_booking_retention_days, at=at)

    return BookingRetentionTimer(container.database_url, step, s.online_booking_sweep_seconds,
                                 s.db_wait_deadline_seconds)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from servicecore.container import build

    container = build(settings)
    try:
        report = retention(booking_service(container), container.pool,
                           settings.online_booking_retention_days, user_id=args.user)
        print(json.dumps(report, ensure_ascii=False))
    finally:
        container.close()
    return 0


def add_commands(sub: Any) -> None:
    """Add the `online-bookings` group to the command line (argparse subparsers)."""
    group = sub.add_parser("online-bookings", help="online booking requests (线上预约)")
    actions = group.add_subparsers(dest="action", required=True)
    run = actions.add_parser("retention", help="record the lapse of requests left unanswered "
                             "past their deadline, and shred the personal data of requests "
                             "never confirmed once their retention period has passed "
                             "(idempotent, for a cron)")
    run.add_argument("--user", default=ACTOR, help="who runs it, as the events' actor")
    run.set_defaults(run=_run)
