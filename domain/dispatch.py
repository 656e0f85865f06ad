"""Dispatch: auto-dispatch of an approved job to the best qualified technician on shift, the
manager's override with a reason, and what every way of dispatching shares (`hand_over`): the
desk's dispatch to a named technician (domain/work_orders.py) goes through it too, so a job
counts in its technician's open load whichever way it was dispatched.

A read model may propose a technician, but this command decides on the aggregates: each roster
member's Technician (skills, shift, attendance, assigned jobs) and the WorkOrders of those jobs
(open load = flat-rate hours of approved labor lines on jobs dispatched and not through QC).
The work order's dispatch event and the chosen technician's assignment are one save.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.application import AggregateNotFoundError

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.common import (
    Audit,
    IllegalTransition,
    InvalidInput,
    NotPermitted,
    require,
    require_reason,
)
from domain.kpi_figures import hours as shown
from domain.roster import Roster
from domain.skills import (
    Candidate,
    check_skill,
    described,
    exclusions,
    explain,
    lines_requirement,
    missing,
    ranked,
    required_by,
)
from domain.technician import Technician
from domain.work_order import WorkOrder
from domain.work_order_state import DONE, WorkOrderError


class NoTechnicianAvailable(IllegalTransition):
    pass


class NotQualified(IllegalTransition):
    """The desk named a technician who lacks a skill or level the job needs."""


def job_hours(work_order: WorkOrder, job_no: int) -> Decimal:
    """Flat-rate hours of the job's approved labor lines."""
    return sum((Decimal(line["hours"]) for line in work_order.job_lines(job_no)
                if line["kind"] == "labor" and line["status"] == "approved"), Decimal(0))


def labor_lines(work_order: WorkOrder, job_no: int) -> list[dict[str, Any]]:
    return [line for line in work_order.job_lines(job_no)
            if line["kind"] == "labor" and line["status"] == "approved"]


def job_need(work_order: WorkOrder, job_no: int) -> dict[str, int]:
    """The skills the job's approved labor lines need: the master's skill and level a line
    recorded, else its op code's (domain/skills.py `line_need`)."""
    return lines_requirement(labor_lines(work_order, job_no))


def known_need(work_order: WorkOrder, job_no: int) -> dict[str, int]:
    """The job's need, or none when an op code names no skill (nothing to check or set aside)."""
    try:
        return job_need(work_order, job_no)
    except InvalidInput:
        return {}


def require_qualified(wo: WorkOrder, job_no: int, tech: Technician) -> None:
    """The desk dispatches a job only to a technician with every skill and level its approved
    labor lines need (a job whose op codes name no skill has nothing to check); the manager's
    override (POST /dispatch/override, with a reason) is the way to set this aside, and
    records what it set aside."""
    need = known_need(wo, job_no)
    gaps = missing(tech.skills, need)
    if gaps:
        raise NotQualified(
            f"{tech.user_id} lacks what job {job_no} needs: {', '.join(gaps)}; a manager may "
            "dispatch anyway with a reason (POST /dispatch/override)",
            field="technician_id", missing=gaps, need=need,
            required_by=required_by(labor_lines(wo, job_no)),
            override="POST /dispatch/override")


def rostered(session: Session, store_id: str, technician_id: str) -> Technician:
    """The technician a job of `store_id` may be dispatched to by name (the desk's dispatch,
    the manager's override): one with a profile at that store and on its roster. Anyone else
    (a mistyped user id, a technician of another store or off the roster) is refused, naming
    the field: a dispatch never makes a technician."""
    tech = session.find(Technician, Technician.create_id(technician_id))
    roster = session.find(Roster, Roster.create_id(store_id))
    if tech is None or roster is None or technician_id not in roster.members:
        raise InvalidInput(
            f"technician_id {technician_id!r} is not a technician on {store_id}'s roster "
            "(a manager's POST /technicians/{user}/profile puts one there)",
            field="technician_id")
    return tech


def hand_over(session: Session, audit: Audit, wo: WorkOrder, job_no: int, tech: Technician,
              previous: str | None, why: str, need: dict[str, int] | None = None) -> None:
    """The technicians' side of a dispatch the work order has just recorded, in the same save:
    the previous technician (if any) released, the chosen one assigned, so that the job is in
    the chosen one's open load (the load auto-dispatch decides on)."""
    if previous is not None and previous != tech.user_id:
        gone = session.find(Technician, Technician.create_id(previous))
        if gone is not None:
            gone.release(audit, wo.id, job_no, f"reassigned to {tech.user_id}: {why}")
    Dispatch._assign(session, audit, tech, wo, job_no,
                     known_need(wo, job_no) if need is None else need)


def current_technician(app: ServiceCore, work_order_id: UUID, job_no: int) -> str | None:
    """Who has the job now (read before the command, to lock their stream too)."""
    try:
        wo: object = app.repository.get(work_order_id)
    except AggregateNotFoundError:
        return None
    if not isinstance(wo, WorkOrder) or job_no not in wo.jobs:
        return None
    return wo.jobs[job_no]["technician_id"]  # type: ignore[no-any-return]


OUT_OF_THE_WORKSHOP = ("settled", "delivered", "closed", "cancelled")


class Dispatch:
    def __init__(self, app: ServiceCore, timezone: str = "Asia/Shanghai") -> None:
        self.app = app
        self.zone = ZoneInfo(timezone)

    # -- open load, re-checked on the aggregates ---------------------------------------------

    @staticmethod
    def open_jobs(session: Session, tech: Technician) -> tuple[Decimal, int, list[tuple[str, int]]]:
        """Hours and count of the technician's jobs still open, and the finished ones to release:
        passed or closed, reassigned, or on a visit out of the workshop (a job whose lines were withdrawn
        or moved to a follow-on never passes QC, and would stay with the technician for good)."""
        load, count, finished = Decimal(0), 0, []
        for assignment in tech.assignments.values():
            wo_id, job_no = assignment["work_order_id"], assignment["job_no"]
            wo = session.find(WorkOrder, UUID(wo_id))
            job = wo.jobs.get(job_no) if wo is not None else None
            if wo is None or job is None or wo.status in OUT_OF_THE_WORKSHOP \
                    or job["technician_id"] != tech.user_id or job["status"] in DONE:
                finished.append((wo_id, job_no))
                continue
            load += job_hours(wo, job_no)
            count += 1
        return load, count, finished

    def candidates(self, session: Session, store_id: str) -> list[Candidate]:
        roster = session.find(Roster, Roster.create_id(store_id))
        found = []
        for user_id in roster.members if roster else []:
            tech = session.find(Technician, Technician.create_id(user_id))
            if tech is None:
                continue
            on_shift, shift = tech.on_shift(session.caller.at, self.zone)
            load, count, _ = self.open_jobs(session, tech)
            found.append(Candidate(user_id, dict(tech.skills), on_shift,
                                   shift if on_shift else None, load, count,
                                   [] if on_shift else [shift]))
        return found

    @staticmethod
    def _assign(session: Session, audit: Audit, tech: Technician, wo: WorkOrder, job_no: int,
                need: dict[str, int]) -> None:
        _, _, finished = Dispatch.open_jobs(session, tech)
        for wo_id, done_job in finished:
            tech.release(audit, wo_id, done_job, "finished, cancelled or reassigned")
        tech.assign(audit, wo.id, job_no, job_hours(wo, job_no), need)

    @staticmethod
    def _dispatchable(wo: WorkOrder, job_no: int) -> dict[str, Any]:
        job = wo.job(job_no)
        require(wo.status in ("checked_in", "in_progress"),
                WorkOrderError(f"work order is {wo.status}; dispatch needs a checked-in visit"))
        require(job["status"] != "passed", WorkOrderError(f"job {job_no} has passed QC"))
        require(wo.job_is_authorized(job_no),
                WorkOrderError(f"job {job_no} needs approved lines and no pending ones"))
        return job

    # -- commands ----------------------------------------------------------------------------

    def auto(self, request: Request, work_order_id: UUID, job_no: int, *,
             skill: str | None = None, level: int | None = None,
             proposed: str | None = None) -> CommandResult:
        """Dispatch to the qualified technician on shift with the least open load."""
        if skill is not None:
            check_skill(skill, level or 1)

        def decide(session: Session) -> Decision:
            wo = session.target(WorkOrder, work_order_id, "work order")
            job = self._dispatchable(wo, job_no)
            require(job["technician_id"] is None, WorkOrderError(
                f"job {job_no} is already with {job['technician_id']}; a manager overrides "
                "with a reason", technician_id=job["technician_id"]))
            need = {skill: level or 1} if skill is not None else job_need(wo, job_no)
            candidates = self.candidates(session, wo.store_id)
            ranking = ranked(candidates, need)
            if not ranking:
                by = {} if skill is not None else required_by(labor_lines(wo, job_no))
                raise NoTechnicianAvailable(
                    f"no technician on {wo.store_id}'s roster is qualified and on shift for "
                    f"job {job_no}" + (f" (needs {described(by)})" if by else ""),
                    need=need, required_by=by, excluded=exclusions(candidates, need))
            chosen = ranking[0]
            reason = explain(chosen, ranking, need)
            if proposed and proposed != chosen.user_id:
                reason += f"; the proposed {proposed} was not the best choice any more"
            audit = session.audit(wo.store_id)
            wo.dispatch(audit, job_no, chosen.user_id, reason)
            tech = session.get(Technician, Technician.create_id(chosen.user_id))
            self._assign(session, audit, tech, wo, job_no, need)
            return Decision(wo, {"number": wo.number, "job_no": job_no,
                                 "technician_id": chosen.user_id, "reason": reason,
                                 "need": need, "open_load_before": str(shown(chosen.load))})

        return self.app.execute(request, decide, (work_order_id,))

    def override(self, request: Request, work_order_id: UUID, job_no: int, *,
                 technician_id: str, reason: str | None) -> CommandResult:
        """The manager's choice, whatever skill, shift or load say: the reason is recorded, and
        so is every rule the choice sets aside."""
        require(request.caller.role == "manager",
                NotPermitted("overriding dispatch needs the manager role"))
        why = require_reason(reason, "overriding dispatch")
        previous = current_technician(self.app, work_order_id, job_no)

        def decide(session: Session) -> Decision:
            wo = session.target(WorkOrder, work_order_id, "work order")
            job = self._dispatchable(wo, job_no)
            tech = rostered(session, wo.store_id, technician_id)
            need = known_need(wo, job_no)
            on_shift, shift = tech.on_shift(session.caller.at, self.zone)
            set_aside = [f"lacks {gap}" for gap in missing(tech.skills, need)]
            if not on_shift:
                set_aside.append(shift)
            text = f"manager override: {why}"
            if set_aside:
                text += "; sets aside: " + ", ".join(set_aside)
            audit = session.audit(wo.store_id)
            before = job["technician_id"]
            wo.dispatch(audit, job_no, technician_id, text, set_aside)
            hand_over(session, audit, wo, job_no, tech, before, why, need)
            return Decision(wo, {"number": wo.number, "job_no": job_no,
                                 "technician_id": technician_id, "previous": before,
                                 "reason": text, "set_aside": set_aside})

        streams = [work_order_id, Technician.create_id(technician_id)]
        if previous:
            streams.append(Technician.create_id(previous))
        return self.app.execute(request, decide, streams)

