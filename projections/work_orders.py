"""Work-order list and detail: indexed columns for the filters, the whole visit as a JSON doc
(folded by `projections.work_order_doc`, as `as_of` reconstructions are)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
import psycopg
from psycopg.rows import dict_row

from domain.customer import Customer
from domain.customers import phone_as_kept, phone_search
from domain.pii import ERASED, PersonalData
from domain.settlement import Settlement
from domain.work_order import WorkOrder
from projections.base import Index, PersonalColumns, Reading, ReadModel, read
from projections.campaigns import open_campaigns_json
from projections.insurers import name_assessment_insurer
from projections.visit_money import owing, with_money
from projections.work_order_doc import LINE_EVENTS, step
from projections.work_order_doc_settlement import SETTLEMENT_EVENTS, refresh_totals, settled
from projections.work_order_doc_values import Doc, decoded


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


_OTHER, _ERASED, _SETTLEMENT, _EVENT, _OPENED = range(5)  # _EVENT, _OPENED: a work order's own
_KINDS: dict[type, int] = {}


def _kind(cls: type) -> int:
    """What the view does with an event of `cls` (other streams' events are skipped)."""
    found = _KINDS.get(cls)
    if found is None:
        found = _KINDS[cls] = (
            _OPENED if issubclass(cls, WorkOrder.Opened) else
            _EVENT if issubclass(cls, WorkOrder.Event) else
            _SETTLEMENT if issubclass(cls, SETTLEMENT_EVENTS) else
            _ERASED if issubclass(cls, Customer.Erased) else _OTHER)
    return found


class WorkOrdersView(ReadModel):
    name = "work_orders"
    # 2: the totals split a warranty line's deductible to the customer (`deductible` on the
    # OEM's), as the bills do; 3: the insurer's assessment of the visit (the settlement's
    # `InsuranceAssessed`, found by the `settlement_id` column) in `insurance_assessment`;
    # 4: the settlement's drafted bills, discounts and approved credits (`bills`, gone again
    # on a reversal) and the totals from them once drafted (`allowances`, `due`), else from
    # the estimate under the assessment (`projections.visit_totals`, `totals_basis`); a part line's `serials` and the visit's
    # `evidence` (events an older version's runner may have passed over, were it still running
    # when the first of them was stored); 5: the name the delivery was signed with is opened
    # with the customer's key (sealed since `WorkOrder.Delivered` v2) and scrubbed by an erasure;
    # 6: a walk-in's phone in its kept form (`phone_as_kept`), one taken as typed before too;
    # 7: `pending_totals`, the lines still waiting for the customer's approval, per payer;
    # 8: a part line declined after its approval, and every part line of a cancelled visit,
    # holds no reservation (`reserved_qty` "0"; a declined one's `supply` null), as the stock
    # 9: a part line's quantities (ordered, held, issued, withdrawn, each issue's and pick's)
    # in the one written form of every quantity read ("8", "2.5": projections/quantities.py)
    # 10: a job's `set_aside` (what the override of its last dispatch set aside) and `closure`
    # (the outcome, reason, who and when of a job closed without repair work)
    revision = 10
    handles = (WorkOrder.Event, Customer.Erased, *SETTLEMENT_EVENTS)
    stored_events = True  # the fold reads the stored JSON: no domain events are built
    # apply reads docs by id or by settlement_id (both unique in the table itself; an erasure
    # updates by customer_id)
    index_after_rebuild = True
    pipelined = True  # the upsert goes out with the batch's position update
    # a row is one work order's stream; an erasure and its settlement's events (another
    # stream) are broadcast, each partition applying them to its own rows
    partitioned_rebuild = True
    broadcast = (Customer.Erased, *SETTLEMENT_EVENTS)
    tables = {  # noqa: RUF012
        "wo_view": """
            id uuid PRIMARY KEY, number text NOT NULL, store_id text NOT NULL,
            status text NOT NULL, kind text NOT NULL, customer_id uuid NOT NULL,
            customer_name text, customer_phone text, plate text, vin text NOT NULL,
            technicians text[] NOT NULL DEFAULT '{}', opened_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL, version integer NOT NULL,
            notification_id bigint NOT NULL, settlement_id uuid NOT NULL UNIQUE,
            doc jsonb NOT NULL""",
    }
    lz4_columns = {"wo_view": ("doc",)}  # noqa: RUF012
    personal_columns = {  # noqa: RUF012
        "wo_view": PersonalColumns("customer_id", {
            "customer_name": "NULL", "customer_phone": "NULL",
            "doc": "{c} #- '{customer,name}' #- '{customer,phone}' #- '{customer,wechat_id}' "
                   "#- '{delivery,acknowledgement,acknowledged_by}'"})}
    indexes = (
        Index("wo_view", "wo_view_store_status_idx", "(store_id, status, opened_at DESC)"),
        Index("wo_view", "wo_view_store_opened_idx", "(store_id, opened_at DESC)"),
        Index("wo_view", "wo_view_number_idx", "(number)"),
        Index("wo_view", "wo_view_plate_idx", "(plate)"),
        Index("wo_view", "wo_view_vin_idx", "(vin)"),
        Index("wo_view", "wo_view_phone_idx", "(customer_phone)"),
        Index("wo_view", "wo_view_phone_tail_idx", "(reverse(customer_phone) text_pattern_ops)"),
        Index("wo_view", "wo_view_customer_idx", "(customer_id)"),
        Index("wo_view", "wo_view_technicians_idx", "USING gin (technicians)"),
        # the finished visits not settled yet (the warranty work still to claim:
        # projections/oem_claims.py), of any store
        Index("wo_view", "wo_view_ready_idx",
              "(store_id) WHERE status = 'ready_for_settlement'"),
    )

    def __init__(self, personal_data: PersonalData) -> None:
        self.personal_data = personal_data

    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        """Fold the batch's events into the docs of their work orders (read once, in one
        query), then write every changed doc once (`_flush`); an erasure writes what came
        before it, then updates the docs of its customer."""
        table = f"wo_view{suffix}"
        # work orders by the int of their id: a UUID's hash and == are Python code
        ids: dict[int, UUID] = {}
        settlements: list[UUID] = []
        customers: list[UUID] = []
        for _, event in events:
            kind = _kind(event.cls)
            if kind >= _EVENT:
                ids[event.originator_id.int] = event.originator_id
            elif kind == _SETTLEMENT:
                settlements.append(event.originator_id)
            if kind == _OPENED:
                customers.append(decoded(event.state()["customer_id"]))
        docs: dict[int, Doc] = {}
        if ids or settlements:
            scope = f" AND {self.partition.sql('id')}" if self.partition is not None else ""
            rows = conn.execute(
                f"""SELECT id, doc::text FROM {table}
                WHERE id = ANY(%s) OR (settlement_id = ANY(%s){scope})""",
                (list(ids.values()), settlements))
            for row in rows:
                docs[row[0].int] = orjson.loads(row[1])
                ids.setdefault(row[0].int, row[0])
        # a settlement's work order: of the docs read, or opened in this batch
        work_order_of = {Settlement.create_id(wo_id).int: key for key, wo_id in ids.items()} \
            if settlements else {}
        opener, forget = self.personal_data.prefetched(customers)
        changed: dict[int, int] = {}  # work order -> notification id of its last event
        stale: set[int] = set()  # docs whose lines changed: totals computed once, at the flush
        for notification_id, event in events:
            kind = _kind(event.cls)
            if kind == _ERASED:
                self._flush(conn, table, docs, changed, stale)
                self._erase(conn, table, event.originator_id, docs)
                forget(event.originator_id)
                continue
            if kind == _SETTLEMENT:
                found = work_order_of.get(event.originator_id.int)
                if found is not None and found in docs:  # else another partition's row
                    if found in stale:  # lines changed earlier in the batch
                        stale.discard(found)
                    settled(event, docs[found])
                    changed[found] = notification_id
                continue
            if kind < _EVENT:
                continue
            key = event.originator_id.int
            doc = step(event, docs.get(key), opener)
            assert doc is not None, f"{event.cls.__qualname__} before WorkOrder.Opened"
            docs[key] = doc
            changed[key] = notification_id
            if event.cls in LINE_EVENTS:
                stale.add(key)
        self._flush(conn, table, docs, changed, stale)

    def _flush(self, conn: psycopg.Connection[Any], table: str, docs: dict[int, Doc],
               changed: dict[int, int], stale: set[int]) -> None:
        """Upsert the changed docs in ONE statement: a JSON array of [notification id, doc]
        that PostgreSQL takes apart (the indexed columns are read from the doc itself)."""
        for wo_id in stale:
            refresh_totals(docs[wo_id])
        stale.clear()
        if not changed:
            return
        batch = dumps_bytes([[notification_id, docs[wo_id], Settlement.create_id(UUID(int=wo_id))]
                             for wo_id, notification_id in changed.items()])
        conn.execute(
            f"""INSERT INTO {table} (id, number, store_id, status, kind, customer_id,
                customer_name, customer_phone, plate, vin, technicians, opened_at, updated_at,
                version, notification_id, settlement_id, doc)
            SELECT (d->>'id')::uuid, d->>'number', d->>'store_id', d->>'status', d->>'kind',
                (d->'customer'->>'id')::uuid, d->'customer'->>'name', d->'customer'->>'phone',
                d->'vehicle'->>'plate', d->'vehicle'->>'vin',
                ARRAY(SELECT jsonb_array_elements_text(d->'technicians')),
                (d->'opened'->>'at')::timestamptz, (d->>'updated_at')::timestamptz,
                (d->>'version')::integer, (r->>0)::bigint, (r->>2)::uuid, d
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
               docs: dict[int, Doc]) -> None:
        """Personal fields read as erased in the view, as they do in the event history. In a
        partition of a rebuild, only in that partition's rows: the other partitions' processes
        erase theirs (their rows are never locked from here)."""
        for doc in docs.values():
            if doc["customer"]["id"] == str(customer_id):
                doc["customer"].update(name=ERASED, phone=ERASED, wechat_id=ERASED)
                signed = (doc.get("delivery") or {}).get("acknowledgement")
                if isinstance(signed, dict) and "acknowledged_by" in signed:
                    signed["acknowledged_by"] = ERASED
        scope = f" AND {self.partition.sql('id')}" if self.partition is not None else ""
        conn.execute(
            f"""UPDATE {table} SET customer_name = %(e)s, customer_phone = %(e)s,
                doc = jsonb_set(
                    CASE WHEN doc #> '{{delivery,acknowledgement}}' ? 'acknowledged_by'
                         THEN jsonb_set(doc, '{{delivery,acknowledgement,acknowledged_by}}',
                                        to_jsonb(%(e)s::text))
                         ELSE doc END,
                    '{{customer}}', (doc->'customer') || jsonb_build_object(
                        'name', %(e)s::text, 'phone', %(e)s::text, 'wechat_id', %(e)s::text))
            WHERE customer_id = %(c)s{scope}""",
            {"e": ERASED, "c": customer_id},
        )
        self.personal_data.keys.delete_key(customer_id)


# -- queries --------------------------------------------------------------------------------

FILTERS = {
    "number": "number = %s",
    "store_id": "store_id = %s",  # one of the caller's stores (else nothing)
    "status": "status = ANY(%s)",  # one or several
    "plate": "plate = %s",
    "vin": "vin = %s",
    "technician": "technicians @> ARRAY[%s]::text[]",
    "opened_from": "opened_at >= %s",
    "opened_to": "opened_at < %s",
}


def _phone_match(typed: str) -> tuple[str, str]:
    """A phone typed any way finds the walk-ins' phones as kept: a whole one that phone, fewer
    digits the phones ending in them (as `/customers?q=` finds a customer)."""
    found = phone_search(typed)
    if found is None:
        return "customer_phone = %s", phone_as_kept(typed)
    phone, whole = found
    return ("customer_phone = %s" if whole
            else "reverse(customer_phone) LIKE reverse(%s) || '%%'"), phone


def list_work_orders(conn: psycopg.Connection[Any], stores: Sequence[str], *, limit: int = 50,
                     offset: int = 0, **filters: Any) -> dict[str, Any]:
    where: list[str] = []
    params: list[Any] = []
    if "*" not in stores:
        where.append("store_id = ANY(%s)")
        params.append(list(stores))
    phone = filters.pop("customer_phone", None)
    if phone is not None:
        clause, key = _phone_match(phone)
        where.append(clause)
        params.append(key)
    owed = owing(filters.pop("outstanding", None), "wo_view.settlement_id")
    if owed is not None:
        where.append(owed)
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
                doc->'totals' AS totals, doc->>'totals_basis' AS totals_basis
            FROM wo_view WHERE {clause} ORDER BY opened_at DESC, number DESC LIMIT %s OFFSET %s""",
            [*params, limit, offset],
        ).fetchall()
    # what each visit's bills ask, were paid and still owe: the finance view's (visit_money)
    return {"total": total["n"] if total else 0, "limit": limit, "offset": offset,
            "items": with_money(conn, rows, lambda row: Settlement.create_id(row["id"]))}


_VIN = "doc->'vehicle'->>'vin'"  # the car of the document (what the desk offers campaigns for)


def get_work_order(conn: psycopg.Connection[Any], work_order_id: UUID,
                   stores: Sequence[str]) -> dict[str, Any] | None:
    return read(conn, work_order(work_order_id, stores))


_WITH_CAMPAIGNS = (f"SELECT store_id, doc, {open_campaigns_json(_VIN)} AS open_campaigns "
                   "FROM wo_view WHERE id = %s")


def work_order_with_campaigns(work_order_id: UUID, stores: Sequence[str],
                              today: date) -> Reading[dict[str, Any] | None]:
    """`work_order` with the car's `open_campaigns` on `today` (projections/campaigns.py), read
    in the same statement: one round trip for the front desk's most frequent read."""
    [found] = yield [(_WITH_CAMPAIGNS, (today, today, work_order_id))]
    if not found or ("*" not in stores and found[0]["store_id"] not in stores):
        return None
    doc = yield from name_assessment_insurer(found[0]["doc"])
    doc["open_campaigns"] = found[0]["open_campaigns"]
    return doc


def work_order(work_order_id: UUID, stores: Sequence[str]) -> Reading[dict[str, Any] | None]:
    """The work order's document, if it is in one of `stores` (see `get_work_order`), its
    assessment naming the master's insurer (`name_assessment_insurer`)."""
    [found] = yield [("SELECT store_id, doc FROM wo_view WHERE id = %s", (work_order_id,))]
    if not found or ("*" not in stores and found[0]["store_id"] not in stores):
        return None
    return (yield from name_assessment_insurer(found[0]["doc"]))
