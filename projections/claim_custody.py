"""Where each claimed part's failed part is, for the claim package (projections/warranty_claim.py):
its tags as their streams tell (the failed-parts view only names the visit's streams), and the
`custody` problems an OEM auditor charges back — a claimed part replaced and never tagged (a
warning: tag it before the OEM asks), one lost, or scrapped without the OEM's instruction (an
error: the part cannot be produced)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

from domain.application import ServiceCore
from domain.failed_part import FailedPart
from domain.unreadable_events import reading
from projections.evidence import Recorded, fold, read_streams, stamp
from projections.failed_parts import tags_of

STEP_FIELDS = ("location", "previous", "note", "request_ref", "shipment_ref", "shipped_on",
               "receipt_ref", "instruction_ref", "reason")


def _step(r: Recorded) -> dict[str, Any]:
    """One custody step as stored: its kind, who, when, and the fields it recorded."""
    with reading(r.event) as e:
        fields = {k: getattr(e, k) for k in STEP_FIELDS if hasattr(e, k)}
    return {"step": r.type.split(".")[-1], **stamp(r), **fields}


def _tag(events: list[Recorded]) -> dict[str, Any]:
    part = fold(events)
    assert isinstance(part, FailedPart)
    last = events[-1]
    return {"failed_part_id": str(part.id), "tag_number": part.tag_number,
            "line_id": part.line_id, "causal": part.causal, "custody_status": part.status,
            "location": part.location, "request_ref": part.request_ref,
            "shipment_ref": part.shipment_ref, "instruction_ref": part.instruction_ref,
            "reason": getattr(last.event, "reason", None),
            "tagged": stamp(events[0]), "last_step": {"step": last.type, **stamp(last)},
            "steps": [_step(r) for r in events]}


def custody_by_line(app: ServiceCore, conn: psycopg.Connection[Any], work_order_id: UUID
                    ) -> tuple[dict[str, list[dict[str, Any]]], list[Recorded]]:
    """The visit's tags per part line, oldest first, and the tags' events (the evidence)."""
    streams = read_streams(app, conn, [UUID(i) for i in tags_of(conn, str(work_order_id))])
    out: dict[str, list[dict[str, Any]]] = {}
    tags = sorted((_tag(events) for events in streams.values()),
                  key=lambda t: (t["tagged"]["at"], t["tag_number"]))
    for tag in tags:
        out.setdefault(tag["line_id"], []).append(tag)
    return out, [r for events in streams.values() for r in events]


def with_custody(jobs: list[dict[str, Any]], tags: dict[str, list[dict[str, Any]]]) -> None:
    """Each claimed part, and each job's causal part, with the tags of its line."""
    for job in jobs:
        for part in job["parts"]:
            part["custody"] = tags.get(part["line_id"], [])
        causal = job["causal_part"]
        if causal is not None:
            causal["custody"] = tags.get(causal["line_id"], []) if causal["line_id"] else []


def _unheld_tags(part: dict[str, Any]) -> list[dict[str, Any]]:
    """Removed serials recorded as kept under a tag that none of the line's custody tags is:
    the technician's record and the failed-part cage disagree on which part is which."""
    held = {t["tag_number"] for t in part["custody"]}
    removed = (part.get("serials") or {}).get("removed") or []
    return [{"serial": r["serial"], "tag_number": r["tag"],
             "detail": f"removed serial {r['serial']} of line {part['line_id']} "
                       f"({part['part_number']}) is recorded under tag {r['tag']}, which the "
                       f"line's failed-part custody does not hold (tags: "
                       f"{', '.join(sorted(held))}): correct the serial's tag or tag the part"}
            for r in removed if r.get("tag") and str(r["tag"]).strip().upper() not in held]


def custody_problems(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per claimed part whose new part was issued: no tag (warning); a removed serial recorded
    under a tag the line's custody does not hold (warning); a tag lost, or scrapped without the
    OEM's instruction (error)."""
    out: list[dict[str, Any]] = []
    for job in jobs:
        for part in job["parts"]:
            base = {"kind": "custody", "job_no": job["job_no"], "line_id": part["line_id"],
                    "part_number": part["part_number"]}
            if not part["custody"]:
                if part["issued_qty"]:
                    out.append({**base, "level": "warning", "missing": ["tag"],
                                "detail": f"line {part['line_id']} ({part['part_number']}) "
                                          "replaced a part that is not tagged: tag and keep "
                                          "it (POST /failed-parts) before the OEM asks for it"})
                continue
            out.extend({**base, "level": "warning", "missing": ["tag_match"], **unheld}
                       for unheld in _unheld_tags(part))
            for tag in part["custody"]:
                unproduced = tag["custody_status"] == "lost" or (
                    tag["custody_status"] == "scrapped" and not tag["instruction_ref"])
                if unproduced:
                    how = ("lost" if tag["custody_status"] == "lost"
                           else "scrapped without the OEM's instruction")
                    out.append({**base, "level": "error", "missing": ["failed_part"],
                                "tag_number": tag["tag_number"],
                                "custody_status": tag["custody_status"],
                                "detail": f"failed part {tag['tag_number']} of line "
                                          f"{part['line_id']} ({part['part_number']}) was "
                                          f"{how} ({tag['reason']}): the OEM charges back a "
                                          "claim whose failed part cannot be produced"})
    return out
