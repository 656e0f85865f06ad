"""The rows of the workshop view one batch reads and changes: the jobs and lines of its work
orders and its technicians (loaded up front, one query each), and the hours it adds per
technician and day. Folded in memory, written once at the end of the batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg

from domain.roster import Roster
from domain.technician import Technician
from domain.work_order import WorkOrder
from projections.batch_rows import load, to_json, upsert

JOB_COLUMNS = ("work_order_id", "job_no", "store_id", "number", "wo_status", "complaint",
               "status", "technician_id", "hours", "approved", "pending", "op_codes",
               "dispatched_at", "dispatch_reason", "passed_at")
LINE_COLUMNS = ("work_order_id", "line_id", "job_no", "kind", "op_code", "hours", "status",
                "skill", "level")
TECHNICIAN_COLUMNS = ("user_id", "id", "store_id", "name", "on_roster", "skills",
                      "hourly_cost", "shifts", "attendance", "open_clock", "updated_at")
# as array_agg(DISTINCT op_code) orders them: the database's collation, NULLs last
SORTED_OP_CODES = {"op_codes": "ARRAY(SELECT DISTINCT o FROM unnest(p.op_codes) AS o ORDER BY 1)"}


def master_skill(line: dict[str, Any]) -> dict[str, Any]:
    """The skill and level of the labor-operation master a line recorded (else None)."""
    recorded = line.get("labor_operation") or {}
    return {"skill": recorded.get("skill"), "level": recorded.get("level")}


def hours_of(value: Any) -> Decimal | None:
    """Flat-rate hours as the numeric column keeps them."""
    return None if value is None else Decimal(str(value))


@dataclass
class TechDay:
    user_id: str
    day: date
    store_id: str  # of the first event that made the row
    available: Decimal | None = None  # set: replaces the stored figure
    clocked: int = 0  # added to the stored figure
    sold: Decimal = Decimal(0)


@dataclass
class WorkshopBatch:
    conn: psycopg.Connection[Any]
    suffix: str
    jobs: dict[UUID, dict[int, dict[str, Any]]] = field(default_factory=dict)
    lines: dict[UUID, dict[str, dict[str, Any]]] = field(default_factory=dict)
    technicians: dict[str, dict[str, Any]] = field(default_factory=dict)  # by user id
    user_ids: dict[UUID, str] = field(default_factory=dict)  # technician id -> user id
    tech_days: dict[tuple[str, date], TechDay] = field(default_factory=dict)
    changed_jobs: set[tuple[UUID, int]] = field(default_factory=set)
    changed_lines: set[tuple[UUID, str]] = field(default_factory=set)
    changed_technicians: set[str] = field(default_factory=set)

    def t(self, table: str) -> str:
        return table + self.suffix

    def preload(self, events: Sequence[tuple[int, Any]]) -> None:
        work_orders: set[UUID] = set()
        technician_ids: set[UUID] = set()
        users: set[str] = set()
        for _, e in events:
            if isinstance(e, WorkOrder.Event):
                work_orders.add(e.originator_id)
            elif isinstance(e, Technician.Event):
                technician_ids.add(e.originator_id)
            elif isinstance(e, Roster.Joined | Roster.Left):
                users.add(e.user_id)
        for wo in work_orders:
            self.jobs[wo] = {}
            self.lines[wo] = {}
        for row in load(self.conn, self.t("ws_jobs"), "work_order_id", work_orders):
            self.jobs[row["work_order_id"]][row["job_no"]] = row
        for row in load(self.conn, self.t("ws_lines"), "work_order_id", work_orders):
            self.lines[row["work_order_id"]][row["line_id"]] = row
        found = load(self.conn, self.t("technicians"), "id", technician_ids)
        found += load(self.conn, self.t("technicians"), "user_id", users)
        for row in found:
            self.technicians[row["user_id"]] = row
            self.user_ids[row["id"]] = row["user_id"]

    def job(self, wo: UUID, job_no: int) -> dict[str, Any] | None:
        """The job, marked as changed (None: the view has no such job)."""
        found = self.jobs[wo].get(job_no)
        if found is not None:
            self.changed_jobs.add((wo, job_no))
        return found

    def add_job(self, row: dict[str, Any]) -> None:
        self.jobs[row["work_order_id"]][row["job_no"]] = row
        self.changed_jobs.add((row["work_order_id"], row["job_no"]))

    def add_line(self, row: dict[str, Any]) -> None:
        self.lines[row["work_order_id"]][row["line_id"]] = row
        self.changed_lines.add((row["work_order_id"], row["line_id"]))

    def line(self, wo: UUID, line_id: str) -> dict[str, Any] | None:
        found = self.lines[wo].get(line_id)
        if found is not None:
            self.changed_lines.add((wo, line_id))
        return found

    def technician(self, user_id: str) -> dict[str, Any]:
        self.changed_technicians.add(user_id)
        return self.technicians[user_id]

    def add_technician(self, row: dict[str, Any]) -> None:
        self.technicians[row["user_id"]] = row
        self.user_ids[row["id"]] = row["user_id"]
        self.changed_technicians.add(row["user_id"])

    def tech_day(self, user_id: str, day: date, store_id: str) -> TechDay:
        found = self.tech_days.get((user_id, day))
        if found is None:
            found = self.tech_days[(user_id, day)] = TechDay(user_id, day, store_id)
        return found

    def flush(self) -> None:
        upsert(self.conn, self.t("ws_jobs"), JOB_COLUMNS[:2], JOB_COLUMNS,
               (self.jobs[wo][n] for wo, n in self.changed_jobs), expressions=SORTED_OP_CODES)
        upsert(self.conn, self.t("ws_lines"), LINE_COLUMNS[:2], LINE_COLUMNS,
               (self.lines[wo][line] for wo, line in self.changed_lines))
        upsert(self.conn, self.t("technicians"), TECHNICIAN_COLUMNS[:1], TECHNICIAN_COLUMNS,
               (self.technicians[u] for u in self.changed_technicians))
        if self.tech_days:
            self._flush_tech_days()

    def _flush_tech_days(self) -> None:
        """Rows made where missing (the first store named), then every figure moved at once."""
        days = to_json([{"user_id": d.user_id, "day": d.day, "store_id": d.store_id,
                         "available": d.available, "clocked": d.clocked, "sold": d.sold}
                        for d in self.tech_days.values()])
        table = self.t("tech_days")
        source = ("jsonb_to_recordset(%s::text::jsonb) AS s(user_id text, day date, "
                  "store_id text, available numeric, clocked bigint, sold numeric)")
        self.conn.execute(
            f"""INSERT INTO {table} (user_id, day, store_id)
                SELECT user_id, day, store_id FROM {source}
                ON CONFLICT (user_id, day) DO NOTHING""", (days,))
        self.conn.execute(
            f"""UPDATE {table} t SET
                    available_hours = coalesce(s.available, t.available_hours),
                    clocked_seconds = t.clocked_seconds + s.clocked,
                    sold_hours = t.sold_hours + s.sold
                FROM {source} WHERE t.user_id = s.user_id AND t.day = s.day""", (days,))
