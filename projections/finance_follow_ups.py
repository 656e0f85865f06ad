"""The finance view's rows of after-sales care: follow-up calls after a visit and the older
register's complaints (their tables, and what each event changes); a complaint moved into the
complaint register is `moved`, naming its case (`grievance_id`)."""

from __future__ import annotations

from typing import Any

from domain.follow_up import Complaint, FollowUp
from projections.finance_batch import Ctx

TABLES = {
    "follow_ups": """
        id uuid PRIMARY KEY, work_order_id uuid NOT NULL, work_order_number text NOT NULL,
        store_id text NOT NULL, customer_id uuid NOT NULL, due_on date NOT NULL,
        status text NOT NULL, attempts integer NOT NULL DEFAULT 0, csi integer,
        comment text, complaint_id uuid, done_at timestamptz, done_by text""",
    "complaints": """
        id uuid PRIMARY KEY, work_order_id uuid NOT NULL, work_order_number text NOT NULL,
        store_id text NOT NULL, customer_id uuid NOT NULL, description text NOT NULL,
        source text NOT NULL, status text NOT NULL, assignee text, resolution text,
        opened_at timestamptz NOT NULL, resolved_at timestamptz, grievance_id uuid""",
}


def scheduled(view: Any, event: FollowUp.Scheduled, ctx: Ctx) -> None:
    ctx.run("""INSERT INTO {follow_ups} (id, work_order_id, work_order_number, store_id,
               customer_id, due_on, status) VALUES (%s, %s, %s, %s, %s, %s, 'open')""",
            (event.originator_id, event.work_order_id, event.work_order_number,
             event.audit.store_id, event.customer_id, event.due_on))


def attempted(view: Any, event: FollowUp.Attempted, ctx: Ctx) -> None:
    ctx.run("UPDATE {follow_ups} SET attempts = attempts + 1 WHERE id = %s",
            (event.originator_id,))


def followed_up(view: Any, event: FollowUp.Completed, ctx: Ctx) -> None:
    ctx.run("""UPDATE {follow_ups} SET status = 'done', csi = %s, comment = %s,
               complaint_id = %s, done_at = %s, done_by = %s WHERE id = %s""",
            (event.csi, event.comment, event.complaint_id, event.audit.at,
             event.audit.user_id, event.originator_id))


def complaint(view: Any, event: Complaint.Opened, ctx: Ctx) -> None:
    ctx.run("""INSERT INTO {complaints} (id, work_order_id, work_order_number, store_id,
               customer_id, description, source, status, opened_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, 'opened', %s)""",
            (event.originator_id, event.work_order_id, event.work_order_number,
             event.audit.store_id, event.customer_id, event.description, event.source,
             event.audit.at))


def assigned(view: Any, event: Complaint.Assigned, ctx: Ctx) -> None:
    ctx.run("UPDATE {complaints} SET status = 'assigned', assignee = %s WHERE id = %s",
            (event.assignee, event.originator_id))


def resolved(view: Any, event: Complaint.Resolved, ctx: Ctx) -> None:
    ctx.run("""UPDATE {complaints} SET status = 'resolved', resolution = %s,
               resolved_at = %s WHERE id = %s""",
            (event.resolution, event.audit.at, event.originator_id))


def moved(view: Any, event: Complaint.Moved, ctx: Ctx) -> None:
    ctx.run("UPDATE {complaints} SET status = 'moved', grievance_id = %s WHERE id = %s",
            (event.grievance_id, event.originator_id))
