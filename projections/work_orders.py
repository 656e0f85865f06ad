"""Work-order list and detail: indexed columns for the filters, the whole visit as a JSON doc.

`evolve(doc, event)` is a pure fold used both by the projection and by `as_of` reconstruction
from the event store, so the two always have the same shape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from functools import singledispatch
from typing import Any
from uuid import UUID

import orjson
import psycopg
from psycopg.rows import dict_row

from domain.customer import Customer
from domain.pii import ERASED, PersonalData
from domain.work_order import WorkOrder
from domain.work_order_lines import totals
from projections.base import Index, Reading, ReadModel, read

Opener = Callable[[UUID, "str | None"], "str | None"]


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value)}")


_ORJSON = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


def dumps_bytes(doc: Any) -> bytes:
    """JSON (UTF-8) of a doc: Decimals and UUIDs as strings, datetimes in ISO format."""
    return orjson.dumps(doc, default=_json_default, option=_ORJSON)


def dumps(doc: dict[str, Any]) -> str:
    return dumps_bytes(doc).decode()


def _plain(value: Any) -> Any:
    """`value` as it reads back from its JSON (Decimals and UUIDs become strings, ...)."""
    return orjson.loads(dumps_bytes(value))


def _stamp(event: Any) -> dict[str, Any]:
    audit = event.audit
    return {"by": audit.user_id, "role": audit.role, "at": audit.at.isoformat()}


def _job(complaint: str, job_no: int) -> dict[str, Any]:
    return {"job_no": job_no, "complaint": complaint, "status": "reported", "diagnosis": None,
            "technician_id": None, "clock": None, "clocked_seconds": 0, "qc_failures": 0,
            "qc": []}


def _refresh_totals(doc: dict[str, Any]) -> None:
    lines = [{**line, "gross": Decimal(line["gross"]), "vat": Decimal(line["vat"])}
             for line in doc["lines"]]
    doc["totals"] = {pay_type: {name: str(amount) for name, amount in figures.items()}
                     for pay_type, figures in totals(lines).items()}


@singledispatch
def evolve(event: Any, doc: dict[str, Any] | None, open_pii: Opener) -> dict[str, Any] | None:
    """Events of other streams leave the doc as it is."""
    return doc


@evolve.register
def _opened(event: WorkOrder.Opened, doc: Any, open_pii: Opener) -> dict[str, Any]:
    customer_id = event.customer_id
    return {
        "id": str(event.originator_id), "number": event.number, "store_id": event.audit.store_id,
        "status": "opened", "kind": event.kind, "appointment_id": event.appointment_id,
        "customer": {"id": str(customer_id), "name": open_pii(customer_id, event.customer.get("name")),
                     "phone": open_pii(customer_id, event.customer.get("phone")),
                     "wechat_id": open_pii(customer_id, event.customer.get("wechat_id"))},
        "vehicle": dict(event.vehicle), "mileage": event.mileage, "check_in": None,
        "jobs": [_job(c, n) for n, c in enumerate(event.complaints, start=1)],
        "lines": [], "totals": {}, "technicians": [], "opened": _stamp(event),
        "ready_at": None, "cancelled": None,
    }


def _job_of(doc: dict[str, Any], job_no: int) -> dict[str, Any]:
    return doc["jobs"][job_no - 1]  # type: ignore[no-any-return]


def _line_of(doc: dict[str, Any], line_id: str) -> dict[str, Any]:
    return next(line for line in doc["lines"] if line["line_id"] == line_id)


@evolve.register
def _checked_in(event: WorkOrder.CheckedIn, doc: Any, open_pii: Opener) -> Any:
    doc.update(status="checked_in", check_in={**event.details, **_stamp(event)},
               mileage=event.details["mileage_in"])
    return doc


@evolve.register
def _job_added(event: WorkOrder.JobAdded, doc: Any, open_pii: Opener) -> Any:
    doc["jobs"].append(_job(event.complaint, len(doc["jobs"]) + 1))
    return doc


@evolve.register
def _diagnosed(event: WorkOrder.Diagnosed, doc: Any, open_pii: Opener) -> Any:
    job = _job_of(doc, event.job_no)
    job["diagnosis"] = {"cause": event.cause, "correction": event.correction,
                        "fault_codes": list(event.fault_codes), **_stamp(event)}
    if job["status"] == "reported":
        job["status"] = "diagnosed"
    return doc


@evolve.register
def _line_added(event: WorkOrder.LineAdded, doc: Any, open_pii: Opener) -> Any:
    doc["lines"].append(_plain({**event.line, "authorization": None}))
    job = _job_of(doc, event.line["job_no"])
    if job["status"] == "awaiting_qc":
        job["status"] = "in_repair"
    return doc


@evolve.register
def _repriced(event: WorkOrder.LineRepriced, doc: Any, open_pii: Opener) -> Any:
    _line_of(doc, event.line_id).update(
        unit_price=str(event.unit_price), gross=str(event.gross), vat=str(event.vat))
    return doc


@evolve.register
def _authorized(event: WorkOrder.LineAuthorized, doc: Any, open_pii: Opener) -> Any:
    line = _line_of(doc, event.line_id)
    line["status"] = event.decision
    line["authorization"] = {"decision": event.decision, "channel": event.channel,
                             "note": event.note, **_stamp(event)}
    return doc


@evolve.register
def _dispatched(event: WorkOrder.JobDispatched, doc: Any, open_pii: Opener) -> Any:
    job = _job_of(doc, event.job_no)
    job["technician_id"] = event.technician_id
    if job["status"] in ("reported", "diagnosed"):
        job["status"] = "dispatched"
    doc["status"] = "in_progress"
    doc["technicians"] = sorted({j["technician_id"] for j in doc["jobs"] if j["technician_id"]})
    return doc


@evolve.register
def _clocked_on(event: WorkOrder.ClockedOn, doc: Any, open_pii: Opener) -> Any:
    job = _job_of(doc, event.job_no)
    job["clock"] = {"technician_id": event.technician_id, "since": event.audit.at.isoformat()}
    job["status"] = "in_repair"
    return doc


@evolve.register
def _clocked_off(event: WorkOrder.ClockedOff, doc: Any, open_pii: Opener) -> Any:
    job = _job_of(doc, event.job_no)
    job["clock"] = None
    job["clocked_seconds"] += event.seconds
    return doc


@evolve.register
def _completed(event: WorkOrder.JobCompleted, doc: Any, open_pii: Opener) -> Any:
    _job_of(doc, event.job_no)["status"] = "awaiting_qc"
    return doc


@evolve.register
def _quality_checked(event: WorkOrder.QualityChecked, doc: Any, open_pii: Opener) -> Any:
    job = _job_of(doc, event.job_no)
    job["qc"].append({"passed": event.passed, "reason": event.reason, **_stamp(event)})
    job["status"] = "passed" if event.passed else "in_repair"
    job["qc_failures"] += 0 if event.passed else 1
    return doc


@evolve.register
def _ready(event: WorkOrder.ReadyForSettlement, doc: Any, open_pii: Opener) -> Any:
    doc.update(status="ready_for_settlement", ready_at=event.audit.at.isoformat())
    return doc


@evolve.register
def _cancelled(event: WorkOrder.Cancelled, doc: Any, open_pii: Opener) -> Any:
    doc.update(status="cancelled", cancelled={"reason": event.reason, **_stamp(event)})
    return doc


@evolve.register
def _supply(event: WorkOrder.PartSupply, doc: Any, open_pii: Opener) -> Any:
    _line_of(doc, event.line_id).update(supply=event.supply, reserved_qty=str(event.reserved_qty))
    return doc


def _picks_out(picks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: str(v) for k, v in pick.items()} for pick in picks]


@evolve.register
def _issued(event: WorkOrder.PartsIssued, doc: Any, open_pii: Opener) -> Any:
    line = _line_of(doc, event.line_id)
    line["issued_qty"] = str(Decimal(line["issued_qty"]) + event.qty)
    line["reserved_qty"] = str(max(Decimal(0), Decimal(line.get("reserved_qty") or 0) - event.qty))
    line.setdefault("issues", []).append({"qty": str(event.qty), "cost": str(event.cost),
                                          "picks": _picks_out(event.picks), **_stamp(event)})
    return doc


@evolve.register
def _returned(event: WorkOrder.PartsReturned, doc: Any, open_pii: Opener) -> Any:
    line = _line_of(doc, event.line_id)
    line["issued_qty"] = str(Decimal(line["issued_qty"]) - event.qty)
    line.setdefault("issues", []).append({"qty": str(-event.qty), "cost": str(-event.cost),
                                          "picks": _picks_out(event.picks),
                                          "reason": event.reason, **_stamp(event)})
    return doc


@evolve.register
def _withdrawn(event: WorkOrder.LineWithdrawn, doc: Any, open_pii: Opener) -> Any:
    line = _line_of(doc, event.line_id)
    line.update(qty=str(event.qty), gross=str(event.gross), vat=str(event.vat), reserved_qty="0",
                withdrawn={"qty": str(event.withdrawn_qty), "reason": event.reason,
                           **_stamp(event)})
    if event.qty == 0:
        line["status"] = "declined"
    return doc


@evolve.register
def _moved(event: WorkOrder.LinesMoved, doc: Any, open_pii: Opener) -> Any:
    for line_id in event.line_ids:
        _line_of(doc, line_id).update(status="moved", moved_to=event.follow_on_number,
                                      reserved_qty="0")
    doc.setdefault("follow_ons", []).append({
        "id": str(event.follow_on_id), "number": event.follow_on_number,
        "lines": list(event.line_ids), "reason": event.reason, **_stamp(event)})
    return doc


@evolve.register
def _carried_over(event: WorkOrder.LinesCarriedOver, doc: Any, open_pii: Opener) -> Any:
    doc["follow_on_of"] = {"id": str(event.from_id), "number": event.from_number,
                           "reason": event.reason}
    doc["lines"].extend(_plain(line) for line in event.lines)
    return doc


@evolve.register
def _back_in_progress(event: WorkOrder.BackInProgress, doc: Any, open_pii: Opener) -> Any:
    doc.update(status="in_progress", ready_at=None)
    return doc


@evolve.register
def _settlement_confirmed(event: WorkOrder.SettlementConfirmed, doc: Any, open_pii: Opener) -> Any:
    doc["settlement"] = {"id": str(event.settlement_id), "number": event.number,
                         "confirmed": _stamp(event), "settled": None}
    return doc


@evolve.register
def _settled(event: WorkOrder.Settled, doc: Any, open_pii: Opener) -> Any:
    doc["status"] = "settled"
    doc["settlement"] = {**(doc.get("settlement") or {}), "settled": _stamp(event),
                         "customer_total": str(event.customer_total)}
    return doc


@evolve.register
def _settlement_reversed(event: WorkOrder.SettlementReversed, doc: Any, open_pii: Opener) -> Any:
    doc["status"] = "ready_for_settlement"
    doc.setdefault("reversed_settlements", []).append(
        {"number": event.number, "reason": event.reason, **_stamp(event)})
    doc["settlement"] = None
    return doc


@evolve.register
def _delivered(event: WorkOrder.Delivered, doc: Any, open_pii: Opener) -> Any:
    doc.update(status="delivered", mileage=event.mileage_out, delivery={
        "mileage_out": event.mileage_out, "handed_over_by": event.handed_over_by,
        "acknowledgement": dict(event.acknowledgement), **_stamp(event)},
        follow_up={"id": str(event.follow_up_id), "due_on": event.follow_up_due})
    return doc


@evolve.register
def _closed(event: WorkOrder.Closed, doc: Any, open_pii: Opener) -> Any:
    doc.update(status="closed", closed=_stamp(event))
    return doc


# events that change the lines, after which the totals are computed again
LINE_EVENTS = (WorkOrder.LineAdded, WorkOrder.LineRepriced, WorkOrder.LineAuthorized,
               WorkOrder.LineWithdrawn, WorkOrder.LinesMoved, WorkOrder.LinesCarriedOver)


def step(event: Any, doc: dict[str, Any] | None, open_pii: Opener, *,
         totals: bool = True) -> dict[str, Any] | None:
    """One event applied, with the version and time it leaves the work order at.

    `totals=False` leaves the totals behind the lines; the caller refreshes them once for
    several events (`refresh_totals`) before anyone reads the doc."""
    doc = evolve(event, doc, open_pii)
    if doc is not None:
        doc["version"] = event.originator_version
        doc["updated_at"] = event.audit.at.isoformat()
        if totals and isinstance(event, LINE_EVENTS):
            _refresh_totals(doc)
    return doc


def fold(events: Sequence[Any], open_pii: Opener) -> dict[str, Any] | None:
    doc: dict[str, Any] | None = None
    for event in events:
        doc = step(event, doc, open_pii)
    return doc


class WorkOrdersView(ReadModel):
    name = "work_orders"
    handles = (WorkOrder.Event, Customer.Erased)
    index_after_rebuild = True  # apply reads docs by id (an erasure updates by customer_id)
    pipelined = True  # the upsert goes out with the batch's position update
    tables = {  # noqa: RUF012
        "wo_view": """
            id uuid PRIMARY KEY, number text NOT NULL, store_id text NOT NULL,
            status text NOT NULL, kind text NOT NULL, customer_id uuid NOT NULL,
            customer_name text, customer_phone text, plate text, vin text NOT NULL,
            technicians text[] NOT NULL DEFAULT '{}', opened_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL, version integer NOT NULL,
            notification_id bigint NOT NULL, doc jsonb NOT NULL""",
    }
    indexes = (
        Index("wo_view", "wo_view_store_status_idx", "(store_id, status, opened_at DESC)"),
        Index("wo_view", "wo_view_store_opened_idx", "(store_id, opened_at DESC)"),
        Index("wo_view", "wo_view_number_idx", "(number)"),
        Index("wo_view", "wo_view_plate_idx", "(plate)"),
        Index("wo_view", "wo_view_vin_idx", "(vin)"),
        Index("wo_view", "wo_view_phone_idx", "(customer_phone)"),
        Index("wo_view", "wo_view_customer_idx", "(customer_id)"),
        Index("wo_view", "wo_view_technicians_idx", "USING gin (technicians)"),
    )

    def __init__(self, personal_data: PersonalData) -> None:
        self.personal_data = personal_data

    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        table = f"wo_view{suffix}"
        ids = list({e.originator_id for _, e in events if isinstance(e, WorkOrder.Event)})
        docs: dict[UUID, dict[str, Any]] = {}
        if ids:
            rows = conn.execute(f"SELECT id, doc::text FROM {table} WHERE id = ANY(%s)", (ids,))
            docs = {row[0]: orjson.loads(row[1]) for row in rows}
        opener, forget = self.personal_data.prefetched(
            e.customer_id for _, e in events if isinstance(e, WorkOrder.Opened))
        changed: dict[UUID, int] = {}
        stale: set[UUID] = set()  # docs whose lines changed: totals computed once, at the flush
        for notification_id, event in events:
            if isinstance(event, Customer.Erased):
                self._flush(conn, table, docs, changed, stale)
                self._erase(conn, table, event.originator_id, docs)
                forget(event.originator_id)
                continue
            if not isinstance(event, WorkOrder.Event):
                continue
            doc = step(event, docs.get(event.originator_id), opener, totals=False)
            assert doc is not None, f"{type(event).__qualname__} before WorkOrder.Opened"
            docs[event.originator_id] = doc
            changed[event.originator_id] = notification_id
            if isinstance(event, LINE_EVENTS):
                stale.add(event.originator_id)
        self._flush(conn, table, docs, changed, stale)

    def _flush(self, conn: psycopg.Connection[Any], table: str, docs: dict[UUID, dict[str, Any]],
               changed: dict[UUID, int], stale: set[UUID]) -> None:
        """Upsert the changed docs in ONE statement: a JSON array of [notification id, doc]
        that PostgreSQL takes apart (the indexed columns are read from the doc itself)."""
        for wo_id in stale:
            _refresh_totals(docs[wo_id])
        stale.clear()
        if not changed:
            return
        batch = dumps_bytes([[notification_id, docs[wo_id]]
                             for wo_id, notification_id in changed.items()])
        conn.execute(
            f"""INSERT INTO {table} (id, number, store_id, status, kind, customer_id,
                customer_name, customer_phone, plate, vin, technicians, opened_at, updated_at,
                version, notification_id, doc)
            SELECT (d->>'id')::uuid, d->>'number', d->>'store_id', d->>'status', d->>'kind',
                (d->'customer'->>'id')::uuid, d->'customer'->>'name', d->'customer'->>'phone',
                d->'vehicle'->>'plate', d->'vehicle'->>'vin',
                ARRAY(SELECT jsonb_array_elements_text(d->'technicians')),
                (d->'opened'->>'at')::timestamptz, (d->>'updated_at')::timestamptz,
                (d->>'version')::integer, (r->>0)::bigint, d
            FROM jsonb_array_elements(%s::text::jsonb) AS r, LATERAL (SELECT r->1 AS d) AS x
            ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status,
                customer_name = EXCLUDED.customer_name,
                customer_phone = EXCLUDED.customer_phone, technicians = EXCLUDED.technicians,
                updated_at = EXCLUDED.updated_at, version = EXCLUDED.version,
                notification_id = EXCLUDED.notification_id, doc = EXCLUDED.doc""",
            (batch.decode(),),
        )
        changed.clear()

    def _erase(self, conn: psycopg.Connection[Any], table: str, customer_id: UUID,
               docs: dict[UUID, dict[str, Any]]) -> None:
        """Personal fields read as erased in the view, as they do in the event history."""
        for doc in docs.values():
            if doc["customer"]["id"] == str(customer_id):
                doc["customer"].update(name=ERASED, phone=ERASED, wechat_id=ERASED)
        conn.execute(
            f"""UPDATE {table} SET customer_name = %(e)s, customer_phone = %(e)s,
                doc = jsonb_set(doc, '{{customer}}', (doc->'customer') || jsonb_build_object(
                    'name', %(e)s::text, 'phone', %(e)s::text, 'wechat_id', %(e)s::text))
            WHERE customer_id = %(c)s""",
            {"e": ERASED, "c": customer_id},
        )
        self.personal_data.keys.delete_key(customer_id)


# -- queries --------------------------------------------------------------------------------

FILTERS = {
    "number": "number = %s",
    "status": "status = %s",
    "plate": "plate = %s",
    "vin": "vin = %s",
    "customer_phone": "customer_phone = %s",
    "technician": "technicians @> ARRAY[%s]::text[]",
    "opened_from": "opened_at >= %s",
    "opened_to": "opened_at < %s",
}


def list_work_orders(conn: psycopg.Connection[Any], stores: Sequence[str], *, limit: int = 50,
                     offset: int = 0, **filters: Any) -> dict[str, Any]:
    where, params = [], []
    if "*" not in stores:
        where.append("store_id = ANY(%s)")
        params.append(list(stores))
    for name, value in filters.items():
        if value is not None:
            where.append(FILTERS[name])
            params.append(value)
    clause = " AND ".join(where) or "TRUE"
    with conn.cursor(row_factory=dict_row) as cur:
        total = cur.execute(f"SELECT count(*) AS n FROM wo_view WHERE {clause}", params).fetchone()
        rows = cur.execute(
            f"""SELECT id, number, store_id, status, kind, customer_id, customer_name,
                customer_phone, plate, vin, technicians, opened_at, updated_at, version,
                doc->'totals' AS totals
            FROM wo_view WHERE {clause} ORDER BY opened_at DESC, number DESC LIMIT %s OFFSET %s""",
            [*params, limit, offset],
        ).fetchall()
    return {"total": total["n"] if total else 0, "limit": limit, "offset": offset, "items": rows}


def get_work_order(conn: psycopg.Connection[Any], work_order_id: UUID,
                   stores: Sequence[str]) -> dict[str, Any] | None:
    return read(conn, work_order(work_order_id, stores))


def work_order(work_order_id: UUID, stores: Sequence[str]) -> Reading[dict[str, Any] | None]:
    """The work order's document, if it is in one of `stores` (see `get_work_order`)."""
    [found] = yield [("SELECT store_id, doc FROM wo_view WHERE id = %s", (work_order_id,))]
    if not found or ("*" not in stores and found[0]["store_id"] not in stores):
        return None
    return found[0]["doc"]  # type: ignore[no-any-return]
