"""Each technician's qualification on a claimed job as it stood when they clocked on to it, for
the claim package (projections/warranty_claim.py): the skills and levels their stream held then
(a level raised after the job does not count), against what the job's approved labor lines need
(domain/skills.py: the labor-operation master's skill and level as the line recorded them, else
its op code's prefix). A technician below a need is a `qualification` warning: the desk may
dispatch anyone on the roster, and an OEM that asks for a certified technician charges such a
job back."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg

from domain.application import ServiceCore
from domain.common import InvalidInput
from domain.skills import described, line_need, missing
from domain.technician import Technician
from domain.unreadable_events import reading
from domain.work_order import WorkOrder
from projections.evidence import Recorded, read_streams, stamp, topics


def _needs(lines: Iterable[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Per skill the line needing its highest level; the op codes that name no skill."""
    need: dict[str, dict[str, Any]] = {}
    unrated: list[str] = []
    for line in lines:
        try:
            skill, level, source = line_need(line)
        except InvalidInput:
            unrated.append(line["op_code"])
            continue
        if level > need.get(skill, {}).get("level", 0):
            need[skill] = {"level": level, "op_code": line["op_code"],
                           "line_id": line.get("line_id"), "source": source}
    return need, unrated


def _first_clock_on(events: Iterable[Recorded], job_no: int) -> dict[str, Recorded]:
    first: dict[str, Recorded] = {}
    for r in events:
        with reading(r.event) as e:
            if isinstance(e, WorkOrder.ClockedOn) and e.job_no == job_no:
                first.setdefault(e.technician_id, r)
    return first


def _skills_then(stream: list[Recorded], before: int) -> tuple[dict[str, int], Recorded | None]:
    """The skills the technician's stream held just before log position `before`, and the
    event that set them (None: never set)."""
    skills: dict[str, int] = {}
    set_by = None
    for r in stream:
        if r.notification_id >= before:
            break
        with reading(r.event) as e:
            if isinstance(e, Technician.SkillsSet):
                skills, set_by = dict(e.skills), r
    return skills, set_by


def with_qualifications(app: ServiceCore, conn: psycopg.Connection[Any], wo: WorkOrder,
                        jobs: list[dict[str, Any]], events: list[Recorded]) -> list[Recorded]:
    """Gives each claimed job's technicians their `qualification` at their first clock-on, and
    each job its labor lines' `required` skills; answers the technicians' events it read (the
    skills in force then), for the package's evidence."""
    ids = {t["technician_id"] for job in jobs for t in job["technicians"]}
    streams = read_streams(app, conn, [Technician.create_id(i) for i in sorted(ids)],
                           only=topics(Technician.SkillsSet))
    cited: list[Recorded] = []
    for job in jobs:
        labor = [ln for ln in wo.job_lines(job["job_no"])
                 if ln["kind"] == "labor" and ln["status"] == "approved"]
        need, unrated = _needs(labor)
        job["required"] = {"skills": need, "unrated_op_codes": unrated}
        first = _first_clock_on(events, job["job_no"])
        for tech in job["technicians"]:
            on = first.get(tech["technician_id"])
            if on is None:
                tech["qualification"] = None
                continue
            stream = streams.get(Technician.create_id(tech["technician_id"]), [])
            skills, set_by = _skills_then(stream, on.notification_id)
            reason = None
            if set_by is not None:
                cited.append(set_by)
                with reading(set_by.event) as e:
                    reason = e.reason
            short = missing(skills, {s: n["level"] for s, n in need.items()})
            tech["qualification"] = {
                "as_of": on.at.isoformat(), "skills": skills,
                "skills_set": {**stamp(set_by), "reason": reason} if set_by else None,
                "qualified": not short, "missing": short}
    return cited


def qualification_problems(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A technician who worked on a claimed job below what its labor lines need (a warning)."""
    out = []
    for job in jobs:
        for tech in job["technicians"]:
            q = tech.get("qualification")
            if not q or q["qualified"]:
                continue
            out.append({"kind": "qualification", "level": "warning", "job_no": job["job_no"],
                        "technician_id": tech["technician_id"], "missing": q["missing"],
                        "detail": f"technician {tech['technician_id']} clocked on to job "
                                  f"{job['job_no']} with {', '.join(q['missing'])} where it "
                                  f"needs {described(job['required']['skills'])}: check the "
                                  "OEM's certification rule before sending"})
    return out
