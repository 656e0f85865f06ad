"""/audit/chain: the integrity proof of the event log over the API, as `servicecore audit
verify | anchor` gives it on the command line (README, "Integrity of the event log").

A verification recomputes every link of a bounded range of notification ids (at most
MAX_RANGE: a few seconds at the measured ~170,000-240,000 events/s, bench/audit_chain.py) in
one read-only REPEATABLE READ transaction, which takes no lock a writer waits for. It runs in
the thread pool (a sync route), one at a time per process: the hashing holds the interpreter
for seconds and the range holds a pooled connection meanwhile.
"""

from __future__ import annotations

import base64
import threading
from typing import Annotated, Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from api.auth import Principal
from api.dates import ordered
from api.deps import Ctx, Offset, reader
from api.errors import unavailable_problem
from api.json_bodies import JsonBodyRoute
from api.numbers import Plain
from api.paging import PageOf
from api.pii_reads import PiiReader, payer_lines, pii_reader
from api.schemas_audit_trail import (
    AnchorIn,
    AnchorOut,
    ChainEvent,
    ChainVerification,
    SnapshotVerification,
)
from domain.common import IllegalTransition, NotFound
from domain.reconciliation import Statement
from projections.chain_export import StoredRow, export_lines, stored_rows
from projections.chain_restored import restored_behind
from projections.chain_witness import anchors_after, read_if_present, witness
from projections.evidence import one_snapshot
from projections.hash_chain import (
    LAST_ID,
    chain_head,
    recorded_anchors,
    require_in_log,
    stored_link,
    verify,
    verify_range,
)
from projections.snapshot_check import check_snapshots, snapshotted_streams

router = APIRouter(prefix="/audit/chain", tags=["audit"], route_class=JsonBodyRoute)
Verifier = Annotated[Principal, Depends(reader("audit.chain"))]
# one stored event's bytes: a statement's import holds its payers in the clear
EventReader = Annotated[PiiReader, Depends(pii_reader("audit.chain"))]
Anchorer = Annotated[Principal, Depends(reader("audit.anchor"))]
MAX_RANGE = 500_000  # notification ids per verification request
MAX_STREAMS = 1_000  # snapshotted streams per snapshot verification request
MAX_EXPORT = 10_000  # events per page of the raw export (some 5-30 MB of JSON lines)
NotificationId = Annotated[int | None, Query(ge=1, le=LAST_ID), Plain]

_verifying = threading.Lock()  # one verification at a time in this process
WAIT_SECONDS = 10.0  # for the one before; then 503, retry later


@router.get("/verify", response_model=ChainVerification, responses={
    503: {"description": "another verification kept this process busy too long; retry "
                         "after Retry-After seconds (or the database is unavailable)"}})
def verify_chain(ctx: Ctx, principal: Verifier,
                 start: Annotated[NotificationId, Query(alias="from", description=(
                     "the first notification id (its link is recomputed from the stored "
                     "link before it)"))] = None,
                 end: Annotated[NotificationId, Query(alias="to", description=(
                     f"the last notification id; at most {MAX_RANGE:,} ids from `from` "
                     "(default: a range of that size from `from`, or up to the head)"))] = None,
                 ) -> Any:
    """Recompute the hash chain over `from`..`to` and the anchors recorded inside it: the
    events checked, the range's head (`to`, `head_hash`) and the first break (notification id
    and reason), with `ok: false` (still a 200). At most 500,000 notification ids per request
    (more: 422), by default the last 500,000 up to the head; page with `from` and `to`
    (`next_from`), each page trusting the stored link before it as `audit verify --from`
    does; a `from` past the log's head is 422 (it names the head, `log_head`), a `to` past it
    ends the range at the head."""
    ordered(start, end, first_name="from", last_name="to")
    if start is not None and end is not None:
        verify_range(start, end, 0, MAX_RANGE)  # a range refused is told at once, not queued
    try:
        witness_file = read_if_present(ctx.witness_path)
    except (OSError, ValueError) as exc:
        return unavailable_problem(f"the witness file cannot be read: {exc}")
    if not _verifying.acquire(timeout=WAIT_SECONDS):
        return unavailable_problem("another verification of the hash chain is running in "
                                   "this process; retry shortly")
    try:
        with ctx.pool.connection() as conn, one_snapshot(conn):
            head = chain_head(conn)
            require_in_log(start, head)
            # ids past the head hold nothing yet: the range ends there (`to=9223372036854775807`
            # alone had been the 500,000 empty ids before it, ok with no event checked)
            first, last = verify_range(
                start, None if end is None else min(end, max(head, start or 1)), head, MAX_RANGE)
            witnessed = witness_file.anchors if witness_file else []
            # the last range goes on past the head: an anchor witnessed beyond it is a break
            result = verify(conn, first, None if last >= head else last, anchors=witnessed)
            behind = anchors_after(conn, witnessed)  # the file gone: every one of them
            restored = restored_behind(conn, result.broken, witnessed, head,
                                       result.witnessed_to)
    finally:
        _verifying.release()
    broken = witness_file.broken if witness_file else None
    return {**result.as_dict(), "ok": result.ok and broken is None, "witness_break": broken,
            "anchors_not_witnessed": None if behind is None else behind[0],
            "witness_anchors": len(witnessed), "restored": restored,
            "range_from": first, "range_to": last,
            "log_head": head, "next_from": last + 1 if last < head else None}


@router.get("/snapshots", response_model=SnapshotVerification, responses={
    503: {"description": "another verification kept this process busy too long; retry "
                         "after Retry-After seconds (or the database is unavailable)"}})
def verify_snapshots(ctx: Ctx, principal: Verifier,
                     after: Annotated[UUID | None, Query(description=(
                         "the stream to start after (`next_after` of the page before; "
                         "default: the first)"))] = None,
                     streams: Annotated[int, Query(ge=1, le=MAX_STREAMS, description=(
                         "how many snapshotted streams to replay")), Plain] = 100) -> Any:
    """Replay up to `streams` snapshotted streams (in stream id order, after `after`) and
    compare every snapshot of theirs with the state its events make, as `audit verify` does
    for all of them: `snapshots_checked` and the first `snapshot_break` (stream, version,
    reason), `ok: false` on one (still a 200); page on with `after=next_after` (null: the
    last stream was checked)."""
    if not _verifying.acquire(timeout=WAIT_SECONDS):
        return unavailable_problem("another verification is running in this process; retry "
                                   "shortly")
    try:
        with ctx.pool.connection() as conn, one_snapshot(conn):
            found = check_snapshots(conn, ctx.app.mapper, after, streams)
            more = found.last_stream is not None and bool(
                snapshotted_streams(conn, found.last_stream, 1))
    finally:
        _verifying.release()
    return {**found.as_dict(), "ok": found.ok, "streams_checked": found.streams,
            "next_after": found.last_stream if more and found.ok else None}


@router.get("/events/{notification_id}", response_model=ChainEvent)
def chain_event(ctx: Ctx, reading: EventReader,
                notification_id: Annotated[int, Path(ge=1, le=LAST_ID), Plain]) -> Any:
    """One event as stored, with its link and the link before it, so that a reviewer
    recomputes the link of each event a package cites (its `evidence`) without database
    access. An event of a store the token does not name, or none, is 404. A statement's
    import holds its lines' payers in the clear: an auditor's read of it is recorded."""
    with ctx.pool.connection() as conn, one_snapshot(conn):
        found = stored_link(conn, notification_id)
    if found is None:
        raise NotFound(f"no event {notification_id} in your stores")
    try:
        event: Any = ctx.app.mapper.to_domain_event(StoredEvent(
            originator_id=found["stream_id"], originator_version=found["stream_version"],
            topic=found["topic"], state=found["state"]))
    except Exception:  # noqa: BLE001 - a changed event may not decode; its bytes still answer
        event = None
    audit = getattr(event, "audit", None)
    if not ("*" in reading.stores or (audit is not None
                                      and audit.store_id in reading.stores)):
        raise NotFound(f"no event {notification_id} in your stores")
    if isinstance(event, Statement.Imported):
        reading.record((), "stored event", [(event.originator_id, event.audit.store_id,
                                             payer_lines(event.lines))])
    event_type = type(event).__qualname__ if event is not None else \
        str(found["topic"]).rpartition(":")[2]
    return {**found, "event_type": event_type,
            "state": base64.b64encode(found["state"]).decode()}


def _decoded(ctx: Ctx, row: StoredRow) -> Any:
    try:
        return ctx.app.mapper.to_domain_event(StoredEvent(
            originator_id=row.stream_id, originator_version=row.stream_version or 0,
            topic=row.topic or "", state=row.state or b""))
    except Exception:  # noqa: BLE001 - a changed event may not decode; its link still answers
        return None


@router.get("/export", response_class=Response, responses={
    200: {"content": {"application/jsonl": {"schema": {"type": "string"}}},
          "description": "One page of the range as JSON lines (README, \"Checking the chain "
                         "outside the system\"); `Link` rel=\"next\" asks for the next"}})
def export_chain(ctx: Ctx, reading: EventReader,
                 start: Annotated[NotificationId, Query(alias="from", description=(
                     "the first notification id (default 1)"))] = None,
                 end: Annotated[NotificationId, Query(alias="to", description=(
                     "the last notification id (default: the head of the log)"))] = None,
                 events: Annotated[int, Query(ge=1, le=MAX_EXPORT, description=(
                     "at most this many events (and links) in the page")), Plain] = 1_000,
                 ) -> Response:
    """The events from `from` to `to` exactly as stored (stream id, version, topic, the bytes
    in base64), each with its link and the link before it, and the anchors recorded in the
    page's range: JSON lines for projections/verify_chain.py, which checks them with the standard
    library alone (`servicecore audit export-chain` writes the same for millions of events).
    A page holds `events` events; the `Link` header (rel="next") and the end line's
    `next_from` name the next page, which joins this one's last link. An event of a store
    the token does not name keeps its line with its link, without its bytes (`withheld`). A
    statement's import holds its payers in the clear: an auditor's read is recorded."""
    ordered(start, end, first_name="from", last_name="to")
    shown: list[tuple[Any, str, list[int]]] = []

    def visible(row: StoredRow) -> bool:
        event = _decoded(ctx, row)
        audit = getattr(event, "audit", None)
        if not ("*" in reading.stores or (audit is not None
                                          and audit.store_id in reading.stores)):
            return False
        if isinstance(event, Statement.Imported):
            shown.append((event.originator_id, event.audit.store_id, payer_lines(event.lines)))
        return True

    with ctx.pool.connection() as conn, one_snapshot(conn):
        head = chain_head(conn)
        require_in_log(start, head)
        first = start or 1
        # ids past the head hold nothing yet: the page ends there (`to=9223372036854775807`
        # had walked every empty range of ids up to it, until the statement deadline)
        last = max(head, first) if end is None else min(end, max(head, first))
        rows = list(stored_rows(conn, first, last, events + 1))
        more = len(rows) > events
        covered = rows[events - 1].notification_id if more else last
        lines = list(export_lines(conn, rows[:events], first, covered, head, visible=visible,
                                  stores=list(reading.stores),
                                  next_from=covered + 1 if more else None))
    if shown:
        reading.record((), "chain export", shown)
    headers = {"Content-Disposition": f'attachment; filename="chain-{first}-{covered}.jsonl"'}
    if more:
        following = f"/audit/chain/export?from={covered + 1}" + (
            f"&to={end}" if end is not None else "") + f"&events={events}"
        headers["Link"] = f'<{following}>; rel="next"'
    return Response("".join(lines), media_type="application/jsonl", headers=headers)


class AnchorPage(PageOf[AnchorOut]):
    """One page of the recorded anchors, newest first."""


@router.get("/anchors", response_model=AnchorPage)
def list_anchors(ctx: Ctx, principal: Verifier,
                 limit: Annotated[int, Query(ge=1, le=1000), Plain] = 100,
                 offset: Offset = 0) -> Any:
    """The chain heads recorded so far (over the API or by `servicecore audit anchor`), newest
    first: notification id, link, `N:HEX`, when, by whom, why."""
    with ctx.pool.connection() as conn:
        total, items = recorded_anchors(conn, limit=limit, offset=offset)
    return {"total": total, "limit": limit, "offset": offset, "items": items}


@router.post("/anchors", status_code=201, response_model=AnchorOut, responses={
    409: {"description": "the event log is empty: there is no head to anchor"}})
def record_anchor(ctx: Ctx, principal: Anchorer, body: AnchorIn | None = None) -> Any:
    """Record the chain head now, with the token's user and the note, and answer it as
    `N:HEX`; it is also appended to the server's witness file outside the database. Keep it
    elsewhere too (a report, an e-mail, paper). A later
    verification over a range holding N compares the link there with it."""
    with ctx.pool.connection() as conn:
        recorded = witness(conn, ctx.witness_path, body.note if body else "",
                           by=principal.user_id)
    if "anchor_id" not in recorded:
        raise IllegalTransition("the event log is empty: there is no chain head to anchor")
    return recorded
