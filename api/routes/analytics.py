"""/analytics: the KPI catalogue (JSON or CSV), the snapshot's status, the dashboard page."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import HTMLResponse, Response

from analytics import dashboard
from analytics.kpis import CATALOGUE, Filters, run
from analytics.reader import snapshot, snapshot_info
from api.auth import Principal, authorize, principal_from
from api.deps import Ctx, KpiName, reader
from domain.common import NotFound, NotPermitted

router = APIRouter(prefix="/analytics", tags=["analytics"], responses={
    404: {"description": "Unknown KPI, or no analytic snapshot has been published yet"}})
Analyst = Annotated[Principal, Depends(reader("analytics.read"))]


def _filters(principal: Principal, date_from: date | None, date_to: date | None,
             store_id: str | None, brand: str | None, model: str | None,
             technician: str | None, pay_type: str | None) -> Filters:
    if "*" not in principal.stores:
        if store_id is None and len(principal.stores) == 1:
            store_id = principal.stores[0]
        if store_id not in principal.stores:
            raise NotPermitted("name one of your stores with store_id")
    return Filters(date_from, date_to, store_id, brand, model, technician, pay_type)


@router.get("/status")
def status(ctx: Ctx, principal: Analyst) -> Any:
    """Which event-log position the published snapshot reflects, and when it was published."""
    return snapshot_info(ctx.analytics_path)


@router.get("/kpis")
def catalogue(principal: Analyst) -> Any:
    return [{"name": k.name, "title": k.title, "formula": k.formula, "filters": k.filters}
            for k in CATALOGUE.values()]


@router.get("/kpis/{name}", responses={200: {"content": {"text/csv": {"schema": {
    "type": "string"}}}, "description": "The KPI (JSON, or CSV with `format=csv`)"}})
def kpi(name: KpiName, ctx: Ctx, principal: Analyst, date_from: date | None = None,
        date_to: date | None = None, store_id: str | None = None, brand: str | None = None,
        model: str | None = None, technician: str | None = None, pay_type: str | None = None,
        format: Annotated[str, Query(pattern="^(json|csv)$")] = "json") -> Any:
    """One KPI with its formula; `format=csv` for a spreadsheet."""
    if name not in CATALOGUE:
        raise NotFound(f"no KPI {name!r}; GET /analytics/kpis lists them")
    filters = _filters(principal, date_from, date_to, store_id, brand, model, technician,
                       pay_type)
    with snapshot(ctx.analytics_path) as (conn, info):
        result = run(conn, name, filters)
    result["snapshot"] = info
    if format == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=result["columns"])
        writer.writeheader()
        writer.writerows(result["rows"])
        return Response(out.getvalue(), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"',
                                 "X-Snapshot-Position": str(info["position"])})
    return result


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(ctx: Ctx, store_id: str | None = None, date_from: date | None = None,
                   date_to: date | None = None, token: str | None = None,
                   authorization: Annotated[str | None, Header()] = None) -> Any:
    """Trends and per-technician bars for a manager's browser (inline SVG, no scripts).

    A browser sends no Authorization header: `?token=` (from `servicecore token`) works too.
    """
    principal = principal_from(authorization or (f"Bearer {token}" if token else None),
                               ctx.jwt_secret)
    authorize(principal, "analytics.read")
    filters = _filters(principal, date_from, date_to, store_id, None, None, None, None)
    with snapshot(ctx.analytics_path) as (conn, info):
        return HTMLResponse(dashboard.render(conn, info, filters))
