"""The OEM's campaigns as the desk reads them: each campaign and the VINs it covers, and which
of those cars had it done (`servicecore projections rebuild --name campaigns`, `servicecore
audit views --view campaigns`).

A car had a campaign done when a work order of it was settled with a line of that
`campaign_no` (warranty details, domain/work_order_lines.py) still on it and approved: a line
declined, withdrawn or moved to a follow-on visit does not count (the follow-on's settlement
does), and a reversed settlement takes its visit's marks back until it is settled again. A mark
is kept whatever the master says: a VIN listed later, or a campaign registered after the
visit, finds the visit's mark there.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from domain.campaign import Campaign, campaign_number_or_none
from domain.work_order import WorkOrder
from projections.base import Index, Reading, ReadModel, page, read, rows, store_scope

CAMPAIGN = "c.campaign_no, c.brand, c.title, c.kind, c.remedy, c.starts_on, c.ends_on"
COLUMNS = f"""c.id::text AS id, {CAMPAIGN}, c.closed, c.close_reason, c.affected,
              c.registered_at, c.updated_at, c.updated_by, c.version"""


def _line_campaign(line: dict[str, Any]) -> str | None:
    return campaign_number_or_none((line.get("warranty") or {}).get("campaign_no"))


class CampaignsView(ReadModel):
    name = "campaigns"
    tables = {  # noqa: RUF012
        "campaigns": """
            campaign_no text PRIMARY KEY, id uuid NOT NULL, brand text NOT NULL,
            title text NOT NULL, kind text NOT NULL, remedy jsonb NOT NULL,
            starts_on date NOT NULL, ends_on date, closed boolean NOT NULL, close_reason text,
            affected integer NOT NULL, registered_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL, updated_by text NOT NULL,
            version integer NOT NULL""",
        "campaign_vins": """
            campaign_no text NOT NULL, vin text NOT NULL, PRIMARY KEY (campaign_no, vin)""",
        # every visit's car: a campaign line names no VIN of its own
        "campaign_visits": """
            work_order_id uuid PRIMARY KEY, vin text NOT NULL, store_id text NOT NULL,
            number text NOT NULL""",
        "campaign_lines": """
            work_order_id uuid NOT NULL, line_id text NOT NULL, campaign_no text NOT NULL,
            status text NOT NULL, PRIMARY KEY (work_order_id, line_id)""",
        "campaign_done": """
            campaign_no text NOT NULL, vin text NOT NULL, work_order_id uuid NOT NULL,
            store_id text NOT NULL, number text NOT NULL, done_at timestamptz NOT NULL,
            PRIMARY KEY (campaign_no, vin, work_order_id)""",
    }
    indexes = (Index("campaign_vins", "campaign_vins_vin_idx", "(vin)"),
               Index("campaign_done", "campaign_done_vin_idx", "(vin)"),
               Index("campaign_done", "campaign_done_work_order_idx", "(work_order_id)"))
    handles = (Campaign.Registered, Campaign.VinsListed, Campaign.Closed, WorkOrder.Opened,
               WorkOrder.LineAdded, WorkOrder.LinesCarriedOver, WorkOrder.LineAuthorized,
               WorkOrder.LineWithdrawn, WorkOrder.LinesMoved, WorkOrder.Settled,
               WorkOrder.SettlementReversed)

    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        with conn.cursor() as cur:
            for _, e in events:
                if isinstance(e, Campaign.Event):
                    self._campaign(cur, e, suffix)
                else:
                    self._work_order(cur, e, suffix)

    @staticmethod
    def _campaign(cur: psycopg.Cursor[Any], e: Any, suffix: str) -> None:
        at, who, version = e.audit.at, e.audit.user_id, e.originator_version
        if isinstance(e, Campaign.Registered):
            cur.execute(
                f"""INSERT INTO campaigns{suffix} (campaign_no, id, brand, title, kind, remedy,
                    starts_on, ends_on, closed, close_reason, affected, registered_at,
                    updated_at, updated_by, version)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, false, NULL, 0, %s, %s, %s, %s)""",
                (e.campaign_no, e.originator_id, e.brand, e.title, e.kind, Jsonb(e.remedy),
                 e.starts_on, e.ends_on, at, at, who, version))
            return
        sets, values = "", list[Any]()
        if isinstance(e, Campaign.VinsListed):
            cur.executemany(
                f"""INSERT INTO campaign_vins{suffix} (campaign_no, vin)
                    SELECT campaign_no, %s FROM campaigns{suffix} WHERE id = %s""",
                [(vin, e.originator_id) for vin in e.vins])
            sets, values = ", affected = affected + %s", [len(e.vins)]
        elif isinstance(e, Campaign.Closed):
            sets, values = ", closed = true, close_reason = %s", [e.reason]
        cur.execute(f"""UPDATE campaigns{suffix} SET updated_at = %s, updated_by = %s,
                        version = %s{sets} WHERE id = %s""",
                    [at, who, version, *values, e.originator_id])

    @staticmethod
    def _work_order(cur: psycopg.Cursor[Any], e: Any, suffix: str) -> None:
        wo = e.originator_id
        if isinstance(e, WorkOrder.Opened):
            cur.execute(f"""INSERT INTO campaign_visits{suffix} (work_order_id, vin, store_id,
                            number) VALUES (%s, %s, %s, %s)""",
                        (wo, e.vehicle["vin"], e.audit.store_id, e.number))
        elif isinstance(e, WorkOrder.LineAdded | WorkOrder.LinesCarriedOver):
            lines = [e.line] if isinstance(e, WorkOrder.LineAdded) else e.lines
            found = [(wo, line["line_id"], number, line["status"]) for line in lines
                     if (number := _line_campaign(line)) is not None]
            cur.executemany(f"""INSERT INTO campaign_lines{suffix} (work_order_id, line_id,
                                campaign_no, status) VALUES (%s, %s, %s, %s)""", found)
        elif isinstance(e, WorkOrder.LineAuthorized):
            CampaignsView._status(cur, suffix, wo, [e.line_id], e.decision)
        elif isinstance(e, WorkOrder.LineWithdrawn) and e.qty == 0:
            CampaignsView._status(cur, suffix, wo, [e.line_id], "withdrawn")
        elif isinstance(e, WorkOrder.LinesMoved):
            CampaignsView._status(cur, suffix, wo, list(e.line_ids), "moved")
        elif isinstance(e, WorkOrder.Settled):
            cur.execute(
                f"""INSERT INTO campaign_done{suffix} (campaign_no, vin, work_order_id,
                    store_id, number, done_at)
                    SELECT l.campaign_no, v.vin, v.work_order_id, v.store_id, v.number, %s
                    FROM campaign_lines{suffix} l
                    JOIN campaign_visits{suffix} v ON v.work_order_id = l.work_order_id
                    WHERE l.work_order_id = %s AND l.status = 'approved'
                    ON CONFLICT DO NOTHING""", (e.audit.at, wo))
        elif isinstance(e, WorkOrder.SettlementReversed):
            cur.execute(f"DELETE FROM campaign_done{suffix} WHERE work_order_id = %s", (wo,))

    @staticmethod
    def _status(cur: psycopg.Cursor[Any], suffix: str, wo: Any, line_ids: list[str],
                status: str) -> None:
        cur.execute(f"""UPDATE campaign_lines{suffix} SET status = %s
                        WHERE work_order_id = %s AND line_id = ANY(%s)""",
                    (status, wo, line_ids))


# -- queries ----------------------------------------------------------------------------------

def _shown(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, **{k: row[k].isoformat() for k in ("starts_on", "ends_on", "registered_at",
                                                      "updated_at", "done_at")
                      if row.get(k) is not None}}


def open_campaigns_of(vin: str, today: date) -> Reading[list[dict[str, Any]]]:
    """The campaigns that list the car, running `today` and not closed, that no settled visit
    of it has done yet, by start day and number."""
    [found] = yield [(f"SELECT {CAMPAIGN} {_open_for('%s')} ORDER BY {_OPEN_ORDER}",
                      (vin, today, today))]
    return [_shown(r) for r in found]


def open_campaigns_json(vin: str) -> str:
    """A scalar subquery: the campaigns `open_campaigns_of` answers, as a JSON array of the
    same objects (dates as ISO days), for the car whose VIN is the SQL expression `vin`; it
    takes `today` twice. A read that has the VIN in a row of its own statement gets the car's
    campaigns in the same round trip (`GET /work-orders/{id}`)."""
    fields = ", ".join(f"'{name}', c.{name}" for name in _CAMPAIGN_FIELDS)
    return (f"(SELECT coalesce(json_agg(json_build_object({fields}) ORDER BY {_OPEN_ORDER}), "
            f"'[]') {_open_for(vin)})")


_CAMPAIGN_FIELDS = [column.removeprefix("c.") for column in CAMPAIGN.split(", ")]
_OPEN_ORDER = "c.starts_on, c.campaign_no"


def _open_for(vin: str) -> str:
    """FROM and WHERE of the campaigns open for the car whose VIN is the SQL expression `vin`
    on a day (two parameters)."""
    return f"""FROM campaigns c
        JOIN campaign_vins cv ON cv.campaign_no = c.campaign_no AND cv.vin = {vin}
        WHERE NOT c.closed AND c.starts_on <= %s AND (c.ends_on IS NULL OR c.ends_on >= %s)
          AND NOT EXISTS (SELECT 1 FROM campaign_done d
                          WHERE d.campaign_no = c.campaign_no AND d.vin = cv.vin)"""


def open_campaigns(conn: psycopg.Connection[Any], vin: str, today: date) -> list[dict[str, Any]]:
    return read(conn, open_campaigns_of(vin, today))


def on_file(conn: psycopg.Connection[Any], vin: str, stores: Sequence[str]) -> bool:
    """Whether the car is on file in one of the caller's stores."""
    scope, params = store_scope(stores)
    return bool(rows(conn, f"SELECT 1 FROM vehicles WHERE vin = %s AND {scope}",
                     [vin, *params]))


def done_campaigns(conn: psycopg.Connection[Any], vin: str,
                   stores: Sequence[str]) -> list[dict[str, Any]]:
    """The campaigns of the master done on the car, each with the first visit that did it
    (its work order named for the caller's stores only: another store's is its own)."""
    scope, params = store_scope(stores, "d.store_id")
    return [_shown(r) for r in rows(conn, f"""
        SELECT DISTINCT ON (c.campaign_no) {CAMPAIGN},
               CASE WHEN {scope} THEN d.work_order_id::text END AS work_order_id,
               CASE WHEN {scope} THEN d.number END AS number, d.store_id, d.done_at
        FROM campaign_done d JOIN campaigns c ON c.campaign_no = d.campaign_no
        WHERE d.vin = %s ORDER BY c.campaign_no, d.done_at""", [*params, *params, vin])]


def campaign_detail(conn: psycopg.Connection[Any], campaign_no: str,
                    stores: Sequence[str]) -> dict[str, Any] | None:
    """The campaign with how many of its cars had it done (in the group), and how many are on
    file in the caller's stores, done and not."""
    found = rows(conn, f"SELECT {COLUMNS} FROM campaigns c WHERE c.campaign_no = %s",
                 (campaign_no,))
    if not found:
        return None
    scope, params = store_scope(stores, "v.store_id")
    counts = rows(conn, f"""
        SELECT count(*) FILTER (WHERE done) AS done,
               count(*) FILTER (WHERE on_file) AS on_file,
               count(*) FILTER (WHERE on_file AND NOT done) AS not_done_on_file
        FROM (SELECT EXISTS (SELECT 1 FROM campaign_done d WHERE d.campaign_no = cv.campaign_no
                                                              AND d.vin = cv.vin) AS done,
                     EXISTS (SELECT 1 FROM vehicles v WHERE v.vin = cv.vin AND {scope})
                       AS on_file
              FROM campaign_vins cv WHERE cv.campaign_no = %s) AS listed""",
                  [*params, campaign_no])[0]
    return {**_shown(found[0]), **counts}


def listed_counts(conn: psycopg.Connection[Any], campaign_no: str, vins: Sequence[str],
                  stores: Sequence[str], until: Any) -> dict[str, int]:
    """`campaign_detail`'s counts over the VINs the campaign listed at a moment (`vins`):
    `done` a mark of a visit settled by `until` still stands, `on_file` the car is on file in
    the caller's stores now."""
    scope, params = store_scope(stores, "v.store_id")
    return rows(conn, f"""
        SELECT count(*) FILTER (WHERE done) AS done,
               count(*) FILTER (WHERE on_file) AS on_file,
               count(*) FILTER (WHERE on_file AND NOT done) AS not_done_on_file
        FROM (SELECT EXISTS (SELECT 1 FROM campaign_done d WHERE d.campaign_no = %s
                                AND d.vin = listed.vin AND d.done_at <= %s) AS done,
                     EXISTS (SELECT 1 FROM vehicles v WHERE v.vin = listed.vin AND {scope})
                       AS on_file
              FROM unnest(%s::text[]) AS listed(vin)) AS marks""",
                [campaign_no, until, *params, list(vins)])[0]


def not_done_on_file(conn: psycopg.Connection[Any], campaign_no: str, stores: Sequence[str], *,
                     limit: int, offset: int) -> dict[str, Any]:
    """The campaign's cars on file in the caller's stores that no settled visit did it on, by
    VIN (the owner as their customer id: whom to call is the customer file's)."""
    scope, params = store_scope(stores, "v.store_id")
    return page(conn, f"""
        SELECT v.vin, v.id::text AS vehicle_id, v.store_id, v.brand, v.model, v.year,
               v.owner_id::text AS owner_id
        FROM campaign_vins cv JOIN vehicles v ON v.vin = cv.vin
        WHERE cv.campaign_no = %s AND {scope}
          AND NOT EXISTS (SELECT 1 FROM campaign_done d WHERE d.campaign_no = cv.campaign_no
                                                          AND d.vin = cv.vin)""",
                [campaign_no, *params], order_by="vin", limit=limit, offset=offset)
