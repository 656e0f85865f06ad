"""Auditors' exports built from the event store: the warranty-claim package (one, or a period's),
the electronic repair records (汽车维修电子健康档案) and the 三包 monitor; and the list of part
serials recorded on two visits in conflict, from the part serials view."""

from __future__ import annotations

import json
import re
from datetime import datetime, time, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import HTMLResponse, Response

from api.as_of import AsOf, in_future, latest_day, requested_moment
from api.auth import Principal
from api.csv_answers import Bom, csv_file
from api.dates import ordered
from api.deps import (
    DAY_RANGE,
    Ctx,
    Day,
    IdFilter,
    WaitFor,
    reader,
    wait_for_projection,
    wait_for_views,
)
from api.json_bodies import JsonBodyRoute
from api.numbers import Plain
from api.pii_reads import PiiReader, pii_reader
from domain.common import InvalidInput
from projections.claim_digest import claim_as_of
from projections.evidence import one_snapshot
from projections.part_serials import serial_conflicts
from projections.repair_records import (
    as_csv,
    as_jsonl,
    repair_record,
    repair_records_page,
    stores_asked,
)
from projections.sanbao import sanbao
from projections.warranty_claim_html import render
from projections.warranty_claims import warranty_claims

router = APIRouter(tags=["audit"], route_class=JsonBodyRoute)
ClaimReader = Annotated[PiiReader, Depends(pii_reader("audit.warranty_claim"))]
RecordsReader = Annotated[Principal, Depends(reader("audit.repair_records"))]
SanbaoReader = Annotated[Principal, Depends(reader("audit.sanbao"))]
SerialsReader = Annotated[Principal, Depends(reader("audit.serial_conflicts"))]
MAX_CLAIM_DAYS = 92  # a quarter per request: each claim reads its visit's streams
MAX_CONFLICT_DAYS = 366  # a year per request: the list reads the part serials view only
CLAIMS_PER_ANSWER = 200  # each package is read from its visit's streams
CONFLICTS_PER_ANSWER = 500  # a serial's pairs grow with the square of its visits
RECORDS_PER_ANSWER = 200  # each record is read from its visit's streams


@router.get("/work-orders/{work_order_id}/warranty-claim", responses={200: {
    "content": {"text/html": {"schema": {"type": "string"}}},
    "description": "The claim package (JSON, or a printable page with `format=html`)"}})
def get_warranty_claim(
        work_order_id: UUID, ctx: Ctx, reading: ClaimReader,
        format: Annotated[Literal["json", "html"] | None, Query()] = None,
        accept: Annotated[str | None, Header()] = None, as_of: AsOf = None,
        wait_for: WaitFor = None) -> Any:
    """The OEM claim package from the events: JSON, or a printable page with `format=html`
    (or `Accept: text/html`). 409 when the work order has no approved warranty line. An
    auditor's read of the customer's name and phone is recorded before the answer leaves.
    `as_of`: the package as it stood then, every stream it reads replayed up to that moment
    (404 before the visit was opened; projections/claim_digest.py says what a past moment
    cannot know: other visits' serials corrected since). `wait_for`: the part serials view
    (which finds the other visits with the same serials) and the failed-parts view (which
    finds the visit's tags) have applied that event first."""
    moment = requested_moment(as_of, ctx)
    wait_for_views(ctx, wait_for, "part_serials", "failed_parts")
    opener = reading.opener()
    with ctx.pool.connection() as conn, one_snapshot(conn):
        claim = claim_as_of(ctx.app, conn, work_order_id, reading.stores, moment, opener,
                            terms=ctx.warranty_terms, zone=ZoneInfo(ctx.timezone))
    reading.record_opened(opener, claim["work_order"]["store_id"], "warranty claim")
    if format == "html" or (format is None and "text/html" in (accept or "")):
        return HTMLResponse(render(claim, ZoneInfo(ctx.timezone)))
    return claim


@router.get("/audit/warranty-claims", responses={200: {
    "content": {"application/jsonl": {"schema": {"type": "string"}}},
    "description": "The period's claim packages: JSON, or JSON lines (`format=jsonl`)"}})
def get_warranty_claims(
        ctx: Ctx, reading: ClaimReader,
        first: Annotated[Day, Query(alias="from", description=f"the first day, {DAY_RANGE}")],
        last: Annotated[Day, Query(alias="to", description=(
            f"the last day (at most {MAX_CLAIM_DAYS} days after `from`)"))],
        store_id: IdFilter = None,
        format: Annotated[Literal["json", "jsonl"], Query()] = "json",
        visits_limit: Annotated[int, Query(ge=1, le=1000, description=(
            "at most this many visits' claim packages")), Plain] = CLAIMS_PER_ANSWER,
        visits_offset: Annotated[int, Query(ge=0, le=1_000_000), Plain] = 0,
        wait_for: WaitFor = None) -> Any:
    """The claim package of every visit with a warranty bill settled from `from` to `to` (the
    store's calendar days), in settlement order; without `store_id` all the caller's stores;
    `visits_limit` of the visits from `visits_offset` (`visits` counts them all, `next` — in
    JSON lines the `Link` header, rel="next" — asks for the following ones). An auditor's
    reads of the customers' names and phones are recorded before the answer leaves."""
    ordered(first, last, first_name="from", last_name="to")
    if (last - first).days >= MAX_CLAIM_DAYS:
        raise InvalidInput(f"from .. to is one to {MAX_CLAIM_DAYS} days", field="to",
                           **{"from": first.isoformat(), "to": last.isoformat()})
    wait_for_views(ctx, wait_for, "finance", "part_serials", "failed_parts")
    zone, opener = ZoneInfo(ctx.timezone), reading.opener()
    with ctx.pool.connection() as conn, one_snapshot(conn):
        visits, claims = warranty_claims(ctx.app, conn, first, last, zone, reading.stores,
                                         store_id, opener, limit=visits_limit,
                                         offset=visits_offset, terms=ctx.warranty_terms)
    reading.record(((UUID(c["customer"]["id"]), c["work_order"]["store_id"]) for c in claims
                    if UUID(c["customer"]["id"]) in opener.opened), "warranty claims")
    after = visits_offset + visits_limit
    following = None if after >= visits else "/audit/warranty-claims?" + urlencode({
        "from": first.isoformat(), "to": last.isoformat(),
        **({"store_id": store_id} if store_id else {}), "format": format,
        "visits_limit": visits_limit, "visits_offset": after})
    if format == "jsonl":
        name = re.sub(r"[^A-Za-z0-9_.-]", "_",
                      f"warranty-claims-{store_id or 'all'}-{first.isoformat()}-{last.isoformat()}")
        link = {"Link": f'<{following}>; rel="next"'} if following else {}
        return Response("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in claims),
                        media_type="application/jsonl", headers={
                            "Content-Disposition": f'attachment; filename="{name}.jsonl"',
                            **link})
    return {"from": first.isoformat(), "to": last.isoformat(), "store_id": store_id,
            "timezone": ctx.timezone, "visits": visits, "visits_offset": visits_offset,
            "next": following, "count": len(claims), "claims": claims}


@router.get("/work-orders/{work_order_id}/repair-record",
            responses={409: {"description": "the visit is not settled yet"}})
def get_repair_record(work_order_id: UUID, ctx: Ctx, principal: RecordsReader) -> Any:
    """One settled visit's electronic repair record (409 before settlement)."""
    with ctx.pool.connection() as conn, one_snapshot(conn):
        return repair_record(ctx.app, conn, work_order_id, principal.stores,
                             ZoneInfo(ctx.timezone), ctx.shop_names)


@router.get("/audit/repair-records", responses={200: {
    "content": {"text/csv": {"schema": {"type": "string"}},
                "application/jsonl": {"schema": {"type": "string"}}},
    "description": "The day's records: JSON, JSON lines or CSV (`format=`)"}})
def get_repair_records(
        ctx: Ctx, principal: RecordsReader,
        day: Annotated[Day, Query(alias="date", description=f"the day, {DAY_RANGE}")],
        store_id: IdFilter = None,
        format: Annotated[Literal["json", "jsonl", "csv"], Query()] = "json", bom: Bom = False,
        visits_limit: Annotated[int, Query(ge=1, le=1000, description=(
            "at most this many visits' records")), Plain] = RECORDS_PER_ANSWER,
        visits_offset: Annotated[int, Query(ge=0, le=1_000_000), Plain] = 0,
        wait_for: WaitFor = None) -> Any:
    """The records of the visits settled on `date` (the store's calendar day): JSON, JSON
    lines or CSV (one row per visit); `visits_limit` of the visits from `visits_offset`
    (`visits` counts them all, `next` — in JSON lines and CSV the `Link` header,
    rel="next" — asks for the following ones): each record is rebuilt from its visit's
    events, and a group's day is as long as its stores make it."""
    wait_for_projection(ctx, "finance", wait_for)
    zone = ZoneInfo(ctx.timezone)
    with ctx.pool.connection() as conn, one_snapshot(conn):
        visits, records = repair_records_page(ctx.app, conn, day, zone, ctx.shop_names,
                                              principal.stores, store_id,
                                              limit=visits_limit, offset=visits_offset)
    after = visits_offset + visits_limit
    following = None if after >= visits else "/audit/repair-records?" + urlencode({
        "date": day.isoformat(), **({"store_id": store_id} if store_id else {}),
        "format": format, **({"bom": "true"} if bom and format == "csv" else {}),
        "visits_limit": visits_limit, "visits_offset": after})
    link = {"Link": f'<{following}>; rel="next"'} if following else {}
    # A header is Latin-1: a store id from the query could hold anything, so the file name
    # keeps only what is safe in it.
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"repair-records-{store_id or 'all'}-{day.isoformat()}")
    if format == "csv":
        return csv_file(as_csv(records), name, bom=bom, headers=link)
    if format == "jsonl":
        return Response(as_jsonl(records), media_type="application/jsonl", headers={
            "Content-Disposition": f'attachment; filename="{name}.jsonl"', **link})
    return {"date": day.isoformat(), "store_id": store_id, "timezone": ctx.timezone,
            "visits": visits, "visits_offset": visits_offset, "next": following,
            "count": len(records), "records": records}


SANBAO_VEHICLES = 500


@router.get("/audit/sanbao")
def get_sanbao(ctx: Ctx, principal: SanbaoReader, store_id: IdFilter = None,
               as_of: Annotated[Day | None, Query(description=(
                   f"the day the flags are as of, {DAY_RANGE}, not after today (default "
                   "today)"))] = None,
               candidates_limit: Annotated[int, Query(ge=1, le=1000, description=(
                   "at most this many vehicles with a warranty visit examined, by VIN")), Plain
               ] = SANBAO_VEHICLES,
               candidates_offset: Annotated[int, Query(ge=0, le=1_000_000), Plain] = 0,
               wait_for: WaitFor = None) -> Any:
    """Vehicles within the 三包 validity approaching or past its thresholds, each with its
    flags, its 三包 repairs and the events behind them, among `candidates_limit` of the
    vehicles with a warranty visit in the validity (by VIN, from `candidates_offset`;
    `candidates` counts them all,
    `examined` this answer's, `next` links the following ones). `as_of`: a day (default
    today; a day after today is 422 `as-of-in-the-future`, like every `as_of`)."""
    zone = ZoneInfo(ctx.timezone)
    now = datetime.now(zone)
    if as_of is not None and as_of > latest_day(now, zone, ctx.as_of_clock_skew_seconds):
        raise in_future(f"as_of {as_of} is a day in the future", now, zone)
    wait_for_views(ctx, wait_for, "work_orders", "customers")  # customers: imported visits
    day = min(as_of, now.date()) if as_of else now.date()
    with ctx.pool.connection() as conn, one_snapshot(conn):
        answer = sanbao(ctx.app, conn, principal.stores, zone, ctx.sanbao_rules, day,
                        store_id, candidates_limit, candidates_offset)
    after = candidates_offset + answer["examined"]
    query = {**({"store_id": store_id} if store_id else {}), "as_of": day.isoformat(),
             "candidates_limit": candidates_limit, "candidates_offset": after}
    answer["next"] = f"/audit/sanbao?{urlencode(query)}" if after < answer["candidates"] \
        else None
    return answer


@router.get("/audit/serial-conflicts")
def get_serial_conflicts(
        ctx: Ctx, principal: SerialsReader,
        first: Annotated[Day, Query(alias="from", description=f"the first day, {DAY_RANGE}")],
        last: Annotated[Day, Query(alias="to", description=(
            f"the last day (at most {MAX_CONFLICT_DAYS} days after `from`)"))],
        store_id: IdFilter = None,
        conflicts_limit: Annotated[int, Query(ge=1, le=1000, description=(
            "at most this many conflicts")), Plain] = CONFLICTS_PER_ANSWER,
        conflicts_offset: Annotated[int, Query(ge=0, le=1_000_000), Plain] = 0,
        wait_for: WaitFor = None) -> Any:
    """Part serials recorded on two visits as a failed part removed on both, or on two
    vehicles, where the later record was made from `from` to `to` (the store's calendar days):
    the earlier record `first`, the later `then`. Without `store_id` all the caller's stores;
    with it, the conflicts one of whose visits is that store's. `conflicts_limit` of them
    from `conflicts_offset` (`count` this answer's, `next` asks for the following ones, null
    on the last): a serial typed on many visits pairs each with each."""
    ordered(first, last, first_name="from", last_name="to")
    if (last - first).days >= MAX_CONFLICT_DAYS:
        raise InvalidInput(f"from .. to is one to {MAX_CONFLICT_DAYS} days", field="to",
                           **{"from": first.isoformat(), "to": last.isoformat()})
    stores_asked(principal.stores, store_id)  # another store is 403
    wait_for_projection(ctx, "part_serials", wait_for)
    zone = ZoneInfo(ctx.timezone)
    start = datetime.combine(first, time(0), zone)
    end = datetime.combine(last + timedelta(days=1), time(0), zone)
    with ctx.pool.connection() as conn:  # one more than asked tells whether more follow
        found = serial_conflicts(conn, principal.stores, store_id, start, end,
                                 limit=conflicts_limit + 1, offset=conflicts_offset)
    following = None if len(found) <= conflicts_limit else "/audit/serial-conflicts?" + \
        urlencode({"from": first.isoformat(), "to": last.isoformat(),
                   **({"store_id": store_id} if store_id else {}),
                   "conflicts_limit": conflicts_limit,
                   "conflicts_offset": conflicts_offset + conflicts_limit})
    found = found[:conflicts_limit]
    return {"from": first.isoformat(), "to": last.isoformat(), "store_id": store_id,
            "timezone": ctx.timezone, "conflicts_offset": conflicts_offset, "next": following,
            "count": len(found), "conflicts": found}
