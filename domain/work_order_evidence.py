"""What an OEM asks of a warranty repair beyond the lines: part serials and evidence.

A part line records the serial numbers of the parts fitted and of the failed parts removed, and
what became of each removed part: kept for the OEM's return or inspection under a tag number,
scrapped, or returned to the customer. The count on either side is at most what was issued to
the line (a part not issued was not fitted, nor did it replace one). A second record of a line
is a correction, with a reason, and the event names what it replaces; a line takes at most
`MAX_SERIAL_CORRECTIONS` of them (a keying mistake is put right in one or two, and the
claim package lists every correction).

A serial is checked as it was typed, before it is put in upper case: only ASCII letters, digits,
'-', '.' and '/' (full-width ones, as a Chinese input method types them, read as ASCII, as a
tax-invoice number is). Upper-casing first would let a letter of another script stand in for an
ASCII one ("ſN-1234", with a Latin long s, would become SN-1234) and one part carry two
serials that print alike.

Evidence is a reference to a file kept elsewhere (a photo of the failure, a diagnostic report):
its SHA-256, media type, size and URI or storage key, on a job or one of its lines. The product
never holds the file. A reference given by mistake is withdrawn with a reason, not deleted.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from domain.ascii_width import ascii_width
from domain.common import Audit, InvalidInput, NotFound, require, require_reason
from domain.work_order_state import WorkOrderError, WorkOrderState

# A serial or tag number as it is printed on a part or a tag: ASCII letters, digits and - . /
SERIAL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9./-]{0,38}[A-Za-z0-9])?", re.ASCII)
SERIAL_MIN = 3
MAX_SERIAL_CORRECTIONS = 20  # corrections of one line's serials after its first record
DISPOSITIONS = ("kept_for_return", "scrapped", "returned_to_customer")
EVIDENCE_KINDS = ("photo", "diagnostic_report", "other")
# RFC 6838 type/subtype names (no parameters), lower case
MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}")
SHA256 = re.compile(r"[0-9a-f]{64}")
# where the file is kept: a URI (https://…, s3://…) or a storage key; no spaces or controls
LOCATION = re.compile(r"[^\s\x00-\x1f\x7f]{1,1000}")
MAX_EVIDENCE = 200  # references per work order (a visit's photos and printouts, with room)
MAX_EVIDENCE_BYTES = 100 * 1024 * 1024  # a file larger than this is no photo or printout
CAPTION_MAX = 500


def serial_number(value: object, what: str = "serial") -> str:
    """A serial (or tag) number in the form kept: trimmed, upper case, 3-40 characters of
    ASCII letters, digits, '-', '.' and '/', beginning and ending with a letter or digit
    (full-width ones read as ASCII). The characters are checked before the case is folded."""
    text = ascii_width(str(value or "")).strip()
    if len(text) < SERIAL_MIN or not SERIAL.fullmatch(text):
        raise InvalidInput(f"{what} {str(value)[:60]!r} is not a serial number: 3-40 letters, "
                           "digits, '-', '.' or '/', beginning and ending with a letter or digit",
                           field=what)
    return text.upper()


def removed_part(given: Mapping[str, Any]) -> dict[str, Any]:
    """One removed part: its serial, its disposition and, kept for the OEM, its tag number."""
    disposition = given.get("disposition")
    if disposition not in DISPOSITIONS:
        raise InvalidInput(f"disposition must be one of {', '.join(DISPOSITIONS)}",
                           field="disposition")
    tag = given.get("tag")
    if disposition == "kept_for_return":
        require(bool(tag), InvalidInput("a removed part kept for the OEM's return needs its "
                                        "tag number", field="tag"))
        tag = serial_number(tag, "tag")
    elif tag:
        raise InvalidInput(f"a tag goes with a part kept for return, not one {disposition}",
                           field="tag")
    return {"serial": serial_number(given.get("serial")), "disposition": disposition,
            "tag": tag or None}


def _visible(text: str) -> bool:
    """No format, control, separator or unassigned character: a location shown in the claim
    reads as the one the OEM fetches (a right-to-left override would show
    `s3://…/x\u202egpj.exe` as `s3://…/xexe.jpg`, a zero-width space hides in it)."""
    return all(unicodedata.category(c)[0] not in "CZ" for c in text)


def _counted(issued: Decimal) -> int:
    """How many serial-numbered parts an issued quantity holds (whole units)."""
    return int(issued) if issued > 0 else 0


class WorkOrderEvidence(WorkOrderState):
    """The serial and evidence commands of `WorkOrder`: each checks, then calls its event."""

    serials: dict[str, dict[str, Any]]
    serial_records: dict[str, int]
    evidence: list[dict[str, Any]]
    _serials_recorded: Callable[..., None]
    _evidence_added: Callable[..., None]
    _evidence_withdrawn: Callable[..., None]

    def _require_not_cancelled(self) -> None:
        require(self.status != "cancelled", WorkOrderError("work order is cancelled"))

    # -- serial numbers ----------------------------------------------------------------------

    def record_serials(self, audit: Audit, line_id: str, fitted: Sequence[object],
                       removed: Sequence[Mapping[str, Any]], reason: str | None) -> bool:
        """Record (or correct, with a reason) a part line's serials; False when they are
        what the line already holds (nothing is stored)."""
        self._require_not_cancelled()
        line = self.line(line_id)
        require(line["kind"] == "part", InvalidInput(
            f"line {line_id} is not a part line",
            field="line_id", line_id=line_id))
        new: dict[str, list[Any]] = {"fitted": [serial_number(s) for s in fitted],
                                     "removed": [removed_part(r) for r in removed]}
        require(bool(new["fitted"] or new["removed"]),
                InvalidInput("give the serial of a fitted or of a removed part",
                             field="fitted"))
        self._check_unique(line_id, new)
        issued = _counted(line["issued_qty"])
        for side in ("fitted", "removed"):
            if len(new[side]) > issued:
                raise InvalidInput(
                    f"line {line_id} has {issued} issued: at most {issued} {side} serial(s)",
                    field=side, issued_qty=str(line["issued_qty"]), count=len(new[side]))
        current = self.serials.get(line_id)
        if current == new:
            return False
        corrections = self.serial_records.get(line_id, 1) - 1
        require(corrections < MAX_SERIAL_CORRECTIONS, InvalidInput(
            f"line {line_id}'s serials were corrected {corrections} times, the most a line "
            f"takes ({MAX_SERIAL_CORRECTIONS})", field="serials", line_id=line_id,
            limit=MAX_SERIAL_CORRECTIONS))
        why = (reason or "").strip() or None
        if current is not None:
            require(why is not None, WorkOrderError(
                f"line {line_id} has its serials recorded; a correction needs a reason",
                recorded=current))
            why = require_reason(why, "correcting recorded serials")
        self._serials_recorded(audit, line_id, new["fitted"], new["removed"], why, current)
        return True

    def _check_unique(self, line_id: str, new: dict[str, list[Any]]) -> None:
        """No serial twice in a record, nor on another line of the visit."""
        given = [*new["fitted"], *(r["serial"] for r in new["removed"])]
        seen: set[str] = set()
        for serial in given:
            require(serial not in seen, InvalidInput(f"serial {serial} is given twice",
                                                     field="serial", serial=serial))
            seen.add(serial)
        for other, recorded in self.serials.items():
            if other == line_id:
                continue
            held = {*recorded["fitted"], *(r["serial"] for r in recorded["removed"])}
            clash = next((s for s in given if s in held), None)
            require(clash is None, InvalidInput(f"serial {clash} is recorded on line {other}",
                                                field="serial", serial=clash, line_id=other))

    def serial_count(self, line_id: str) -> int:
        """How many issued units the line's recorded serials account for."""
        recorded = self.serials.get(line_id)
        return max(len(recorded["fitted"]), len(recorded["removed"])) if recorded else 0

    # -- evidence ----------------------------------------------------------------------------

    def add_evidence(self, audit: Audit, *, job_no: int | None, line_id: str | None, kind: str,
                     sha256: str, media_type: str, size: int, uri: str,
                     caption: str | None) -> str:
        """Attach a reference to a job or one of its lines; answers its id (`E1`, `E2`, …)."""
        self._require_not_cancelled()
        job = self._evidence_job(job_no, line_id)
        live = [e for e in self.evidence if not e["withdrawn"]]
        require(len(self.evidence) < MAX_EVIDENCE, InvalidInput(
            f"a work order holds at most {MAX_EVIDENCE} evidence references",
            limit=MAX_EVIDENCE))
        if kind not in EVIDENCE_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(EVIDENCE_KINDS)}", field="kind")
        digest = str(sha256).strip().lower()
        require(bool(SHA256.fullmatch(digest)),
                InvalidInput("sha256 is the file's SHA-256 in 64 hex digits", field="sha256"))
        media = str(media_type).strip().lower()
        require(bool(MEDIA_TYPE.fullmatch(media)),
                InvalidInput("media_type is a type/subtype such as image/jpeg",
                             field="media_type"))
        require(kind != "photo" or media.startswith("image/"),
                InvalidInput("a photo's media type is image/…", field="media_type"))
        require(0 < size <= MAX_EVIDENCE_BYTES, InvalidInput(
            f"size is the file's bytes, 1 to {MAX_EVIDENCE_BYTES}", field="size"))
        where = str(uri).strip()
        require(bool(LOCATION.fullmatch(where)) and _visible(where), InvalidInput(
            "uri is where the file is kept (a URI or storage key, no spaces, nor invisible "
            "or direction characters)", field="uri"))
        text = (caption or "").strip() or None
        require(text is None or len(text) <= CAPTION_MAX,
                InvalidInput(f"caption is at most {CAPTION_MAX} characters", field="caption"))
        same = next((e for e in live if e["sha256"] == digest and e["job_no"] == job
                     and e["line_id"] == line_id), None)
        require(same is None, WorkOrderError(
            f"this file is already evidence {same and same['evidence_id']} of the same "
            "job or line", evidence_id=same and same["evidence_id"]))
        evidence_id = f"E{len(self.evidence) + 1}"
        self._evidence_added(audit, evidence_id, job, line_id, kind, digest, media, size,
                             where, text)
        return evidence_id

    def _evidence_job(self, job_no: int | None, line_id: str | None) -> int:
        """The job the evidence is about: the one named, or the named line's."""
        if line_id is not None:
            line = self.line(line_id)
            require(job_no in (None, line["job_no"]), InvalidInput(
                f"line {line_id} belongs to job {line['job_no']}, not {job_no}",
                field="job_no"))
            return int(line["job_no"])
        if job_no is None:
            raise InvalidInput("name the job_no or the line_id", field="job_no")
        require(job_no in self.jobs, InvalidInput(f"work order has no job {job_no}",
                                                  field="job_no"))
        return job_no

    def withdraw_evidence(self, audit: Audit, evidence_id: str, reason: str | None) -> None:
        """A reference given by mistake leaves the claim; its event stays in the record."""
        found = next((e for e in self.evidence if e["evidence_id"] == evidence_id), None)
        if found is None:  # evidence ids come from URLs: an unknown one is 404
            raise NotFound(f"work order {self.number} has no evidence {evidence_id}",
                           evidence_id=evidence_id)
        require(not found["withdrawn"],
                WorkOrderError(f"evidence {evidence_id} is already withdrawn"))
        self._evidence_withdrawn(audit, evidence_id,
                                 require_reason(reason, "withdrawing evidence"))
