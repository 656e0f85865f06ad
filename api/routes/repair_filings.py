"""The completion certificate of a major repair (`POST /work-orders/{id}/completion-certificate`)
and the upload of a settled visit's repair record (汽车维修电子健康档案) to the national system:
`POST /work-orders/{id}/repair-record/filing` records each upload's outcome (filed with the
system's receipt number, failed with its error, refiled with a reason); `GET
/audit/repair-records/unfiled` lists the settled visits whose record is not filed."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from api.auth import Principal
from api.deps import (
    Command,
    Ctx,
    IdFilter,
    Offset,
    WaitFor,
    command,
    reader,
    wait_for_views,
)
from api.histories import stream_history
from api.json_bodies import JsonBodyRoute
from api.numbers import Plain
from api.paging import HistoryPage, Limit, Page
from api.schemas import Body, CommandAccepted, example
from domain.completion_certificates import CompletionCertificates
from domain.repair_filing import MAX_RECEIPT, MAX_TEXT, RepairFiling
from domain.repair_filings import RepairFilings
from domain.work_order_certificate import MAX_CERT_NO, MAX_INSPECTOR
from projections.repair_filings import unfiled
from projections.repair_records import stores_asked

router = APIRouter(tags=["repair records"], route_class=JsonBodyRoute)
FilingCmd = Annotated[Command, Depends(command("repair_records.file"))]
CertificateCmd = Annotated[Command, Depends(command("completion_certificate.issue"))]
UnfiledReader = Annotated[Principal, Depends(reader("audit.repair_records_unfiled"))]
HistoryReader = Annotated[Principal, Depends(reader("repair_records.history"))]


class FilingIn(Body):
    model_config = example({"outcome": "filed", "receipt_no": "JT-310000-20261206-000123"})

    outcome: Literal["filed", "failed", "refiled"] = Field(description=(
        "filed: the system took the record (its receipt number); failed: it refused it or "
        "could not be reached (its error); refiled: a filed record corrected and uploaded "
        "again (the new receipt number and the reason)"))
    receipt_no: str | None = Field(default=None, max_length=MAX_RECEIPT, description=(
        "the system's receipt number (filed, refiled)"))
    error: str | None = Field(default=None, max_length=MAX_TEXT, description=(
        "the system's error as it gave it (failed)"))
    reason: str | None = Field(default=None, max_length=MAX_TEXT, description=(
        "why a filed record was uploaded again (refiled; 3+ characters)"))


class FilingAccepted(CommandAccepted):
    work_order_id: str
    filing_status: str = Field(description="filed or failed")
    receipt_no: str | None = Field(description="the receipt number the system holds it under")
    error: str | None = Field(description="the last upload's error while it is not filed")
    attempts: int = Field(description="uploads reported so far")


@router.post("/work-orders/{work_order_id}/repair-record/filing",
             response_model=FilingAccepted)
def record_filing(work_order_id: UUID, body: FilingIn, cmd: FilingCmd, ctx: Ctx) -> Any:
    """One upload's outcome for a settled visit's record: `filed` or `failed` while it is not
    filed (tried again as often as it fails); a filed record filed again is 409 — a
    correction is `refiled`, with the new receipt number and a reason."""
    return cmd.accepted(RepairFilings(ctx.app).record(
        cmd.envelope, work_order_id, outcome=body.outcome, receipt_no=body.receipt_no,
        error=body.error, reason=body.reason))


@router.get("/work-orders/{work_order_id}/repair-record/filing/history",
            response_model=HistoryPage)
def filing_history(work_order_id: UUID, ctx: Ctx, principal: HistoryReader, limit: Limit = 500,
                   offset: Offset = 0) -> Any:
    """Every upload of the visit's repair record as reported, oldest first, paged like every
    history: failed (the system's error), filed (its receipt number), refiled (the new
    receipt number, the one before and the reason), each with who and when. A visit with no
    upload reported, or of a store the token does not name: 404."""
    return stream_history(ctx, RepairFiling.create_id(work_order_id), "RepairFiling",
                          principal.stores,
                          f"no repair-record upload of work order {work_order_id}",
                          limit=limit, offset=offset).page


@router.get("/audit/repair-records/unfiled", response_model=Page)
def unfiled_records(ctx: Ctx, principal: UnfiledReader, store_id: IdFilter = None,
                    older_than_days: Annotated[int, Query(ge=0, le=36_500, description=(
                        "settled at least this many days ago (the store's calendar)")),
                        Plain] = 0,
                    limit: Limit = 50, offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """The settled visits of the caller's stores (or `store_id`'s) whose repair record is not
    filed — never reported, or the last upload failed (its error shown) —, oldest settlement
    first, with the settlement date and the days since. `wait_for`: both the filings view and
    the finance view (which knows the settled visits) have applied it."""
    stores = stores_asked(principal.stores, store_id)
    wait_for_views(ctx, wait_for, "repair_filings", "finance")
    with ctx.pool.connection() as conn:
        return unfiled(conn, stores, timezone=ctx.timezone, today=ctx.today(),
                       older_than_days=older_than_days, limit=limit, offset=offset)


class CertificateIn(Body):
    model_config = example({"cert_no": "JG-310000-2026-004711", "inspector": "qc-zhao"})

    cert_no: str = Field(min_length=1, max_length=MAX_CERT_NO, description=(
        "the completion certificate's (竣工出厂合格证) number"))
    inspector: str | None = Field(default=None, max_length=MAX_INSPECTOR, description=(
        "the quality inspector who signed it; default: the user recording it"))


class CertificateAccepted(CommandAccepted):
    number: str
    status: str
    completion_certificate: dict[str, str] = Field(description=(
        "`cert_no`, `inspector` and the visit's `repair_class` when it was issued"))


@router.post("/work-orders/{work_order_id}/completion-certificate",
             response_model=CertificateAccepted)
def certify_completion(work_order_id: UUID, body: CertificateIn, cmd: CertificateCmd,
                       ctx: Ctx) -> Any:
    """The completion certificate, once every job has passed QC and before delivery (ready
    for settlement or settled): once per visit. A whole-vehicle or assembly repair is not
    delivered without it (409); any other visit may have one and is delivered without."""
    return cmd.accepted(CompletionCertificates(ctx.app).certify(
        cmd.envelope, work_order_id, cert_no=body.cert_no, inspector=body.inspector))
