"""The warranty claims desk: each visit's claim at the OEM as its last step left it, so that
the warranty administrator sees what waits at the OEM, what was rejected and must be
resubmitted, and what is approved but not yet paid.

One row per claim (the OemClaim stream: status, the OEM's claim number, claimed and approved
amounts, the last step's who and when, the OEM's reason while rejected) and the visit's VIN
(from its opening). What the OEM paid is the warranty bill's, kept by the finance view: the
list reads it there, and a claim approved and paid up to its approved amount (what the OEM
paid plus what was written off as underpaid, `underpaid`) lists as `paid`, as the claim package
says (projections/oem_claim_history.py; the rule is `OemClaim.paid_up`).

The warranty work still to claim (`unsubmitted`) is read from the finance view's warranty bills
(confirmed ones) and the work-order view's finished visits (bills not confirmed yet), less the
visits this view has a claim of.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from domain.oem_claim import OemClaim
from domain.work_order import WorkOrder
from projections.base import Index, ReadModel, page, store_scope
from projections.waiting import Waiting, waiting

STATUSES = ("submitted", "rejected", "resubmitted", "approved", "paid", "written_off",
            "charged_back")

# What a write-off leaves the claim (a short-paid one stays approved, its shortfall written off;
# domain/oem_claim.py).
WRITTEN_OFF_STATUS = {"oem_rejected": "written_off", "oem_charged_back": "charged_back"}
# What taking it back returns the claim to (the others stay approved).
REVERSED_STATUS = {"oem_rejected": "rejected", "oem_charged_back": "approved"}

# Paid: the rule of `OemClaim.paid_up` (domain/oem_claim.py), in SQL.
PAID = "c.status = 'approved' AND coalesce(b.paid, 0) + c.underpaid >= c.approved_amount"


class OemClaimsView(ReadModel):
    name = "oem_claims"
    tables = {  # noqa: RUF012
        "oem_claims": """
            claim_id uuid PRIMARY KEY, work_order_id uuid NOT NULL, store_id text NOT NULL,
            work_order_number text NOT NULL, oem_claim_number text NOT NULL,
            status text NOT NULL, claimed numeric NOT NULL, approved_amount numeric,
            reason_code text, rejection_reason text, submitted_at timestamptz NOT NULL,
            changed_at timestamptz NOT NULL, changed_by text NOT NULL,
            changed_role text NOT NULL, version integer NOT NULL,
            written_off numeric NOT NULL DEFAULT 0, write_off_kind text,
            write_off_reason text, underpaid numeric NOT NULL DEFAULT 0""",
        "oem_claim_vins": "work_order_id uuid PRIMARY KEY, vin text NOT NULL",
    }
    indexes = (Index("oem_claims", "oem_claims_store_idx", "(store_id, status, changed_at)"),
               # a visit's claim, found from its bill (receivables, the unsubmitted list)
               Index("oem_claims", "oem_claims_wo_idx", "(work_order_id)"))
    handles = (WorkOrder.Opened, OemClaim.Submitted, OemClaim.Rejected, OemClaim.Resubmitted,
               OemClaim.Approved, OemClaim.WrittenOff, OemClaim.WriteOffReversed)
    # no claim was written off before claims could be
    added_columns = (("oem_claims", "written_off numeric NOT NULL DEFAULT 0"),
                     ("oem_claims", "write_off_kind text"), ("oem_claims", "write_off_reason text"),
                     ("oem_claims", "underpaid numeric NOT NULL DEFAULT 0"))
    revision = 2  # claims written off as underpaid before `underpaid`: their amounts

    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        with conn.cursor() as cur:
            for _, e in events:
                if isinstance(e, WorkOrder.Opened):
                    cur.execute(f"INSERT INTO oem_claim_vins{suffix} (work_order_id, vin) "
                                f"VALUES (%s, %s)", (e.originator_id, str(e.vehicle["vin"])))
                    continue
                stamp = (e.audit.at, e.audit.user_id, e.audit.role, e.originator_version)
                if isinstance(e, OemClaim.Submitted):
                    cur.execute(
                        f"""INSERT INTO oem_claims{suffix} (claim_id, work_order_id, store_id,
                            work_order_number, oem_claim_number, status, claimed,
                            submitted_at, changed_at, changed_by, changed_role, version)
                            VALUES (%s, %s, %s, %s, %s, 'submitted', %s, %s, %s, %s, %s, %s)""",
                        (e.originator_id, e.work_order_id, e.store_id, e.work_order_number, e.oem_claim_number,
                         e.claimed, e.audit.at, *stamp))
                    continue
                if isinstance(e, OemClaim.Rejected):
                    change = "status = 'rejected', reason_code = %s, rejection_reason = %s"
                    values: list[Any] = [e.reason_code, e.reason]
                elif isinstance(e, OemClaim.Resubmitted):
                    change = ("status = 'resubmitted', reason_code = NULL, "
                              "rejection_reason = NULL, oem_claim_number = %s, claimed = %s")
                    values = [e.oem_claim_number, e.claimed]
                elif isinstance(e, OemClaim.WrittenOff):
                    change = ("status = %s, written_off = written_off + %s, write_off_kind = %s, "
                              "write_off_reason = %s, underpaid = underpaid + %s")
                    values = [WRITTEN_OFF_STATUS.get(e.kind, "approved"), e.amount, e.kind,
                              e.reason, e.amount if e.kind == "oem_underpaid" else 0]
                elif isinstance(e, OemClaim.WriteOffReversed):
                    # the last write-off's kind and reason stay until none is left standing
                    change = ("status = coalesce(%s, status), written_off = written_off - %s, "
                              "underpaid = underpaid - %s, write_off_kind = CASE WHEN "
                              "written_off - %s = 0 THEN NULL ELSE write_off_kind END, "
                              "write_off_reason = CASE WHEN written_off - %s = 0 THEN NULL "
                              "ELSE write_off_reason END")
                    values = [REVERSED_STATUS.get(e.kind), e.amount,
                              e.amount if e.kind == "oem_underpaid" else 0, e.amount, e.amount]
                else:
                    change = "status = 'approved', approved_amount = %s"
                    values = [e.approved_amount]
                cur.execute(
                    f"""UPDATE oem_claims{suffix} SET {change}, changed_at = %s,
                        changed_by = %s, changed_role = %s, version = %s
                        WHERE claim_id = %s""",
                    [*values, *stamp, e.originator_id])


# -- queries ----------------------------------------------------------------------------------

def list_claims(conn: psycopg.Connection[Any], stores: Sequence[str], *,
                store_id: str | None = None, status: str | None = None,
                since: datetime | None = None, before: datetime | None = None,
                limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """The claims of the caller's stores (or `store_id`'s), with `status` (as listed: `paid`
    is an approved claim the OEM has paid, its underpayment written off included, `approved`
    one it has not paid yet), submitted from
    `since` up to `before`; the longest unchanged first (what has waited longest at the OEM or
    on the desk)."""
    scope, params = store_scope(stores, "c.store_id")
    clauses = [scope]
    if store_id is not None:
        clauses.append("c.store_id = %s")
        params.append(store_id)
    if status == "paid":
        clauses.append(f"({PAID})")
    elif status == "approved":
        clauses.append(f"c.status = 'approved' AND NOT ({PAID})")
    elif status is not None:
        clauses.append("c.status = %s")
        params.append(status)
    if since is not None:
        clauses.append("c.submitted_at >= %s")
        params.append(since)
    if before is not None:
        clauses.append("c.submitted_at < %s")
        params.append(before)
    sql = f"""SELECT c.work_order_id::text AS work_order_id, c.work_order_number,
                     c.store_id, v.vin, c.oem_claim_number,
                     CASE WHEN {PAID} THEN 'paid' ELSE c.status END AS status,
                     c.claimed::text AS claimed, c.approved_amount::text AS approved_amount,
                     (coalesce(b.paid, 0) + 0.00)::text AS paid,
                     (c.written_off + 0.00)::text AS written_off, c.write_off_kind,
                     c.write_off_reason, c.reason_code,
                     c.rejection_reason, c.submitted_at, c.changed_at, c.changed_by,
                     c.changed_role, c.version
              FROM oem_claims c
              LEFT JOIN oem_claim_vins v ON v.work_order_id = c.work_order_id
              LEFT JOIN settlements s ON s.work_order_id = c.work_order_id
              LEFT JOIN settlement_bills b ON b.settlement_id = s.id AND b.kind = 'warranty'
              WHERE {" AND ".join(clauses)}"""
    return page(conn, sql, params, order_by="changed_at, work_order_number", limit=limit,
                offset=offset)


# The visits whose warranty bill is confirmed (or settled): the claim may be sent from then on.
_CONFIRMED = """
    SELECT s.work_order_id, s.work_order_number, s.store_id, v.vin,
           s.number AS settlement_number, s.status AS settlement_status,
           b.status AS bill_status, (b.total - b.allowances)::text AS billed,
           (w.doc->>'ready_at')::timestamptz AS finished_at, s.confirmed_at,
           s.confirmed_at AS since
    FROM settlement_bills b JOIN settlements s ON s.id = b.settlement_id
    LEFT JOIN oem_claim_vins v ON v.work_order_id = s.work_order_id
    LEFT JOIN wo_view w ON w.settlement_id = s.id
    WHERE b.kind = 'warranty' AND b.status IN ('confirmed', 'settled')"""

# The visits whose repair is finished (QC passed: ready for settlement, `ready_at`) with warranty
# work on them, their warranty bill a draft or not drafted yet: what the work-order view totals
# for the OEM (the drafted bill's, else the approved warranty lines' estimate:
# projections/visit_totals.py). Once the finance view has the bill confirmed, the visit is a row
# of `_CONFIRMED` instead; a cancelled visit, or one back in repair, is no longer ready.
_UNCONFIRMED = """
    SELECT w.id, w.number, w.store_id, w.vin, NULL, NULL,
           CASE WHEN w.doc->'bills' ? 'warranty' THEN 'draft' ELSE 'not_drafted' END,
           coalesce(w.doc #>> '{totals,warranty,due}',
                    w.doc #>> '{totals,warranty,total}')::numeric::text,
           (w.doc->>'ready_at')::timestamptz, NULL, (w.doc->>'ready_at')::timestamptz
    FROM wo_view w
    WHERE w.status = 'ready_for_settlement' AND w.doc->'totals' ? 'warranty'
      AND NOT EXISTS (SELECT 1 FROM settlement_bills b WHERE b.settlement_id = w.settlement_id
                      AND b.kind = 'warranty' AND b.status IN ('confirmed', 'settled'))"""

UNSUBMITTED = Waiting(
    columns="""u.work_order_id::text AS work_order_id, u.work_order_number, u.store_id, u.vin,
               u.settlement_number, u.settlement_status, u.bill_status, u.billed,
               u.finished_at, u.confirmed_at""",
    source=f"({_CONFIRMED} UNION ALL {_UNCONFIRMED}) AS u",
    conditions=("NOT EXISTS (SELECT 1 FROM oem_claims c WHERE c.work_order_id = u.work_order_id)",),
    since="u.since", day="since_on", days="age_days", store="u.store_id",
    then="u.work_order_number")


def unsubmitted(conn: psycopg.Connection[Any], stores: Sequence[str], *, timezone: str,
                today: date, store_id: str | None = None, older_than_days: int = 0,
                limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """The visits of the caller's stores (or `store_id`'s) with warranty work whose claim is
    not submitted: those whose warranty bill is confirmed (a claim may be submitted from then
    on: domain/oem_claims.py), and those whose repair is finished while their warranty bill is
    a draft or not drafted yet (`bill_status`). Each waits from its bill's confirmation, else
    from the repair's end (`age_days`, the store's calendar), at least `older_than_days` days
    before `today`; the longest waiting first, with what the OEM is billed (the drafted or
    estimated amount before confirmation). A reversed settlement has no bills: its visit
    waits from the repair's end again until confirmed anew."""
    found = waiting(conn, stores, UNSUBMITTED, timezone=timezone, today=today,
                    store_id=store_id, older_than_days=older_than_days, limit=limit,
                    offset=offset)
    zone = ZoneInfo(timezone)
    for item in found["items"]:
        since_on = item.pop("since_on")
        finished = item["finished_at"]
        item["finished_on"] = None if finished is None else \
            finished.astimezone(zone).date().isoformat()
        item["confirmed_on"] = since_on if item["confirmed_at"] is not None else None
    return found
