"""Request bodies of a warranty repair's records for the OEM: part serials and evidence."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from api.numbers import Whole, WholeOrNone
from api.schemas import REASON, Body, Code, described, example
from domain.work_order_evidence import CAPTION_MAX, MAX_EVIDENCE_BYTES, MAX_SERIAL_CORRECTIONS

# domain/work_order_evidence.py DISPOSITIONS and EVIDENCE_KINDS
Disposition = Literal["kept_for_return", "scrapped", "returned_to_customer"]
EvidenceKind = Literal["photo", "diagnostic_report", "other"]
Serial = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class RemovedPartIn(Body):
    model_config = described(
        "A failed part taken off the car: its serial and what became of it.",
        {"serial": "0445110369-A1", "disposition": "kept_for_return", "tag": "WT-2026-0117"})

    serial: Serial = Field(description=(
        "as printed on the part: 3-40 ASCII letters, digits, - . / (full-width read as ASCII)"))
    disposition: Disposition = Field(description=(
        "kept for the OEM's return or inspection (with its `tag`), scrapped, or returned to "
        "the customer"))
    tag: Serial | None = Field(default=None, description=(
        "the warranty tag on a part kept for return (required then, refused otherwise)"))


class SerialsIn(Body):
    model_config = example({
        "fitted": ["0445110369-B7"],
        "removed": [{"serial": "0445110369-A1", "disposition": "kept_for_return",
                     "tag": "WT-2026-0117"}]})

    fitted: list[Serial] = Field(default_factory=list, max_length=100, description=(
        "serials of the new parts fitted (at most the line's issued quantity)"))
    removed: list[RemovedPartIn] = Field(default_factory=list, max_length=100, description=(
        "the failed parts removed (at most the line's issued quantity)"))
    reason: str | None = Field(default=None, max_length=500, description=(
        f"required to correct serials recorded before (at most {MAX_SERIAL_CORRECTIONS} "
        f"corrections per line): {REASON}"))


class EvidenceIn(Body):
    model_config = example({
        "line_id": "L2", "kind": "photo",
        "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "media_type": "image/jpeg", "size": 2481152,
        "uri": "s3://evidence/S01/WO-S01-2026-000123/injector.jpg",
        "caption": "cracked injector nozzle"})

    job_no: WholeOrNone = Field(default=None, ge=1, le=10_000, description=(
        "the job it shows (or give `line_id`: its job is the line's)"))
    line_id: Code | None = Field(default=None, description="the line it shows")
    kind: EvidenceKind = Field(description="a photo (image/*), a diagnostic report, other")
    sha256: str = Field(min_length=64, max_length=64,
                        description="the file's SHA-256 in hex: what the OEM checks it by")
    media_type: str = Field(min_length=3, max_length=127, description="image/jpeg, …")
    size: Whole = Field(ge=1, le=MAX_EVIDENCE_BYTES, description="the file's size in bytes")
    uri: str = Field(min_length=1, max_length=1000, description=(
        "where the file is kept: a URI or a storage key (the file itself is not sent); no "
        "spaces, nor invisible or direction characters"))
    caption: str | None = Field(default=None, max_length=CAPTION_MAX)


class EvidenceWithdrawalIn(Body):
    model_config = example({"reason": "photo of another car"})

    reason: str = Field(min_length=1, max_length=500, description=REASON)
