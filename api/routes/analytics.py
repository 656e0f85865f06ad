"""/analytics: the KPI catalogue (JSON or CSV), the snapshot's status, the dashboard page and
its sign-in (a session cookie, so that no token ever travels in a URL)."""

from __future__ import annotations

import time
from datetime import date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlencode
from zoneinfo import ZoneInfo

import duckdb
import jwt
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from analytics.dashboard import PATH, View, login_page, render
from analytics.dashboard_data import collect, stores
from analytics.dashboard_text import language
from analytics.kpi_where import MAX_REGION
from analytics.kpis import CATALOGUE, Filters, require_breakdown, require_filters, run
from analytics.monthly import COLUMNS, month_of, report
from analytics.periods import period_of
from analytics.reader import snapshot, snapshot_info
from analytics.stores_seen import store_seen, stores_seen
from api.auth import AuthError, Principal, authorize, from_other_site, principal_from
from api.context import ApiContext
from api.csv_answers import Bom, csv_answer
from api.dates import ordered
from api.deps import Authorization, Ctx, Day, IdFilter, KpiName, Offset, TextFilter, reader
from api.json_bodies import JsonBodyRoute
from api.paging import Limit, Page
from domain.common import InvalidInput, NotFound, NotPermitted, require_group_store
from domain.days import FIRST_DAY, LAST_DAY, plain_day
from domain.work_order_lines import PAY_TYPES
from projections.base import page_of

router = APIRouter(prefix="/analytics", tags=["analytics"], route_class=JsonBodyRoute, responses={
    404: {"description": "Unknown KPI, or no analytic snapshot has been published yet"}})
Analyst = Annotated[Principal, Depends(reader("analytics.read"))]
Region = Annotated[str | None, Query(max_length=MAX_REGION, description="the stores of one "
                                     "region (SERVICECORE_REGIONS)")]
Month = Annotated[str, Query(max_length=16, description="the calendar month, YYYY-MM")]
By = Annotated[str | None, Query(max_length=32, description="a breakdown the KPI offers "
                                 "(its `breakdowns`): one row per value, e.g. category or "
                                 "channel for the complaint KPIs")]
Format = Literal["json", "csv"]


def _stores(principal: Principal, store_id: str | None, region: str | None,
            regions: dict[str, str]) -> tuple[str | None, tuple[str, ...] | None]:
    """The store asked for, or the stores of the region asked for, within the caller's token:
    a token for some stores names one of them (its only one by default), or a region, of
    which it sees its own stores only."""
    limited = "*" not in principal.stores
    if region is not None:
        members = tuple(sorted(s for s, r in regions.items() if r == region))
        if not members:
            known = ", ".join(sorted(set(regions.values()))) or "none are configured"
            raise InvalidInput(f"no region {region!r} (SERVICECORE_REGIONS: {known})",
                               field="region")
        if store_id is not None and store_id not in members:
            raise InvalidInput(f"store {store_id} is not in region {region}", field="region")
        if limited:
            members = tuple(s for s in members if s in principal.stores)
            if not members:
                raise NotPermitted(f"your token covers no store of region {region}")
        if store_id is None:
            return None, members
    if limited:
        if store_id is None and len(principal.stores) == 1:
            store_id = principal.stores[0]
        if store_id not in principal.stores:
            raise NotPermitted("name one of your stores with store_id, or a region")
    return store_id, None


def _filters(principal: Principal, ctx: ApiContext, date_from: date | None,
             date_to: date | None, store_id: str | None, brand: str | None, model: str | None,
             technician: str | None, pay_type: str | None, region: str | None = None,
             by: str | None = None) -> Filters:
    if pay_type is not None and pay_type not in PAY_TYPES:  # else nothing would match it
        raise InvalidInput(f"pay_type is one of {', '.join(PAY_TYPES)}, not {pay_type!r}",
                           field="pay_type")
    store_id, stores = _stores(principal, store_id, region, ctx.regions)
    return Filters(date_from, date_to, store_id, brand, model, technician, pay_type,
                   today=datetime.now(ZoneInfo(ctx.timezone)).date(), region=region,
                   stores=stores, by=by)


def _require_known_store(conn: duckdb.DuckDBPyConnection, principal: Principal,
                         ctx: ApiContext, store_id: str | None) -> None:
    """A `store_id` the system has never seen is 422 naming it, not empty rows read as
    "nothing happened there": with SERVICECORE_STORES set, a store not among them (as every
    command refuses it); else one neither on the caller's token nor in any table of the
    snapshot. A store seen once answers any period, empty or not."""
    if store_id is None:
        return
    group = ctx.work_orders.stores
    if group:
        require_group_store(group, store_id, field="store_id")
    elif store_id not in principal.stores and not store_seen(conn, store_id):
        raise InvalidInput(f"store {store_id} is not one the system has seen (no work order, "
                           "stock or other record of it)", field="store_id",
                           store_id=store_id, known_stores=stores_seen(conn))


@router.get("/status")
def status(ctx: Ctx, principal: Analyst) -> Any:
    """Which event-log position the published snapshot reflects, and when it was published."""
    return snapshot_info(ctx.analytics_path)


@router.get("/kpis", response_model=Page)
def catalogue(principal: Analyst, limit: Limit = 200, offset: Offset = 0) -> Any:
    """The named KPIs: what each measures, which filters it takes and the breakdowns `by=`
    may name."""
    return page_of([{"name": k.name, "title": k.title, "formula": k.formula,
                     "filters": k.filters, "breakdowns": k.breakdowns}
                    for k in CATALOGUE.values()],
                   limit=limit, offset=offset)


@router.get("/kpis/{name}", responses={200: {"content": {"text/csv": {"schema": {
    "type": "string"}}}, "description": "The KPI (JSON, or CSV with `format=csv`)"}})
def kpi(name: KpiName, ctx: Ctx, principal: Analyst, date_from: Day | None = None,
        date_to: Day | None = None, store_id: IdFilter = None, brand: TextFilter = None,
        model: TextFilter = None, technician: IdFilter = None, pay_type: IdFilter = None,
        region: Region = None, by: By = None, format: Format = "json", bom: Bom = False,
        month: Annotated[str | None, Query(max_length=16, description=(
            "a calendar month, YYYY-MM, in place of date_from and date_to: its first day "
            "to its last (today for the month still running)"))] = None) -> Any:
    """One KPI with its formula; `format=csv` for a spreadsheet. `region=` counts the stores
    of one region (SERVICECORE_REGIONS), those of the caller's token among them; `by=` breaks
    it down where it offers that (one row per value; any other is 422); `month=` the days of
    one month, as the monthly report counts them."""
    if name not in CATALOGUE:
        raise NotFound(f"no KPI {name!r}; GET /analytics/kpis lists them")
    require_breakdown(CATALOGUE[name], by)
    require_filters(CATALOGUE[name], {  # as asked: month= gives the dates a KPI takes
        "date_from": date_from, "date_to": date_to, "store_id": store_id, "region": region,
        "brand": brand, "model": model, "technician": technician, "pay_type": pay_type})
    if month is not None:
        if date_from is not None or date_to is not None:
            raise InvalidInput("give month, or date_from and date_to, not both",
                               field="month")
        chosen = month_of(month, ctx.today())
        date_from, date_to = chosen.first, chosen.last
    ordered(date_from, date_to)
    filters = _filters(principal, ctx, date_from, date_to, store_id, brand, model, technician,
                       pay_type, region, by)
    with snapshot(ctx.analytics_path, ctx.timezone) as (conn, info):
        _require_known_store(conn, principal, ctx, filters.store_id)
        result = run(conn, name, filters)
    result["snapshot"] = info
    if format == "csv":
        return _csv(result["columns"], result["rows"], name, info, bom)
    return result


@router.get("/reports/monthly", responses={200: {"content": {"text/csv": {"schema": {
    "type": "string"}}}, "description": "The report (JSON, or CSV with `format=csv`)"}})
def monthly_report(ctx: Ctx, principal: Analyst, month: Month, store_id: IdFilter = None,
                   region: Region = None, format: Format = "json", bom: Bom = False) -> Any:
    """月度报表: the month's headline KPIs (the catalogue's), each beside the month before
    (环比) and the same month a year before (同比), with the changes. A month still running
    is counted up to today, its comparisons up to the same day of their months."""
    filters = _filters(principal, ctx, None, None, store_id, None, None, None, None, region)
    chosen = month_of(month, ctx.today())
    with snapshot(ctx.analytics_path, ctx.timezone) as (conn, info):
        _require_known_store(conn, principal, ctx, filters.store_id)
        result = report(conn, filters, chosen)
    result["filters"] = {k: v for k, v in (("store_id", filters.store_id),
                                           ("region", region)) if v is not None}
    result["snapshot"] = info
    if format == "csv":
        return _csv(COLUMNS, result["rows"], f"monthly-{result['month']}", info, bom)
    return result


def _csv(columns: list[str], rows: list[dict[str, Any]], name: str,
         info: dict[str, Any], bom: bool = False) -> Response:
    return csv_answer(columns, rows, name, bom=bom,
                      headers={"X-Snapshot-Position": str(info["position"])})




# -- the dashboard: a page for a manager's browser, behind a session cookie --------------------

COOKIE = "servicecore_dashboard"
Lang = Annotated[str | None, Query(max_length=2, pattern="^(zh|en)$", description="zh or en; default from "
                                   "Accept-Language, else zh")]
AcceptLanguage = Annotated[str | None, Header()]
MAX_FORM_BYTES = 16 * 1024


def _to_login(lang: str, forget: bool = False) -> RedirectResponse:
    response = RedirectResponse(f"{PATH}/login?lang={lang}", status_code=303)
    if forget:
        response.delete_cookie(COOKIE, path=PATH)
    return response


def _same_origin(request: Request) -> None:
    """A form posted from another site may not sign this browser in or out."""
    origin = request.headers.get("origin")
    host = request.headers.get("x-forwarded-host") or request.headers.get("host")
    if from_other_site(origin, host):
        raise AuthError(403, "sign in from the dashboard's own page")


def _day(value: str | None, name: str) -> date | None:
    """A day of the filter form, within the days every report takes: the period before it and
    its trend's buckets are computed from it (`date_to=0001-01-01` left the calendar: 500)."""
    if not value:
        return None  # an emptied date field of the form
    day = plain_day(value)
    if day is None:  # not echoed: the form's field is named, the rule given
        raise InvalidInput(f"{name} must be a date (YYYY-MM-DD)", field=name)
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidInput(f"{name} must be a day from {FIRST_DAY} to {LAST_DAY}",
                           **{name: value})
    return day


def _dashboard_store(principal: Principal, store_id: str | None) -> str | None:
    """The store shown: the one asked for if the caller's token covers it; by default all
    stores for a group-wide token, else the token's first store."""
    if "*" in principal.stores:
        return store_id
    if store_id is None:
        return principal.stores[0]
    if store_id not in principal.stores:
        raise NotPermitted(f"your token does not cover store {store_id}")
    return store_id


@router.get("/dashboard/login", response_class=HTMLResponse)
def dashboard_login(lang: Lang = None, accept_language: AcceptLanguage = None) -> Any:
    """The sign-in form: a token pasted once becomes this browser's session cookie."""
    return HTMLResponse(login_page(language(lang, accept_language)),
                        headers={"Cache-Control": "no-store"})


@router.post("/dashboard/session", status_code=303, response_class=RedirectResponse,
             responses={status: {"description": "A bad token or role: problem+json to a "
                                 "script (Authorization header), the sign-in form again to a "
                                 "browser", "content": {"text/html": {}}} for status in (401, 403)})
async def dashboard_session(request: Request, ctx: Ctx) -> Any:
    """Exchange a token (the Authorization header, or the sign-in form's `token` field) for an
    HttpOnly, SameSite=Strict cookie that lives as long as the token; then to the dashboard."""
    _same_origin(request)
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise InvalidInput("the sign-in form is too large")
    form = parse_qs(body.decode("utf-8", "replace")) if request.headers.get(
        "content-type", "").startswith("application/x-www-form-urlencoded") else {}
    asked = form.get("lang", [""])[0] or None
    lang = language(asked, request.headers.get("accept-language"))
    header = request.headers.get("authorization")
    token = header[7:].strip() if header else (form.get("token") or [""])[0].strip()
    try:
        principal = principal_from(header or (f"Bearer {token}" if token else None),
                                   ctx.jwt_secret)  # a header says "Bearer …" or is refused
        authorize(principal, "analytics.read")
    except AuthError as exc:
        if header:
            raise  # a script's request: problem+json
        return HTMLResponse(login_page(lang, exc.detail), status_code=exc.status,
                            headers={"Cache-Control": "no-store"})
    expires = int(jwt.decode(token, options={"verify_signature": False})["exp"])
    response = RedirectResponse(f"{PATH}?{urlencode({'lang': lang})}", status_code=303)
    response.set_cookie(COOKIE, token, max_age=max(expires - int(time.time()), 0), path=PATH,
                        httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response


@router.post("/dashboard/logout", status_code=303, response_class=RedirectResponse)
def dashboard_logout(request: Request, lang: Lang = None,
                     accept_language: AcceptLanguage = None) -> Any:
    _same_origin(request)
    return _to_login(language(lang, accept_language), forget=True)


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request, ctx: Ctx, store_id: IdFilter = None,
                   date_from: IdFilter = None, date_to: IdFilter = None, lang: Lang = None,
                   authorization: Authorization = None,
                   accept_language: AcceptLanguage = None,
                   token: Annotated[str | None, Query(include_in_schema=False)] = None) -> Any:
    """Headline KPIs beside the previous period of the same length, trends and per-technician
    bars (inline SVG, no scripts) for one store or all, in the store's time zone.

    Signed in with the session cookie (`/analytics/dashboard/login`) or the Authorization
    header; a token in the query string is refused, since URLs end up in access logs.
    """
    if token is not None:  # declared only to be refused with this answer
        raise InvalidInput("the dashboard does not take ?token= (URLs are written to access "
                           f"logs): sign in at {PATH}/login, or send the Authorization header")
    lang = language(lang, accept_language)
    cookie = request.cookies.get(COOKIE)
    browser = "text/html" in request.headers.get("accept", "")
    if authorization is None and not cookie and browser:
        return _to_login(lang)
    try:
        principal = principal_from(authorization or (f"Bearer {cookie}" if cookie else None),
                                   ctx.jwt_secret)
    except AuthError:
        if authorization is None and browser:
            return _to_login(lang, forget=True)  # the session ran out with its token
        raise
    authorize(principal, "analytics.read")
    store = _dashboard_store(principal, store_id or None)
    today = ctx.today()
    first, last = _day(date_from, "date_from"), _day(date_to, "date_to")
    ordered(first, last)
    period = period_of(first, last, today)
    with snapshot(ctx.analytics_path, ctx.timezone) as (conn, info):
        board = collect(conn, Filters(store_id=store), period)
        known = stores(conn) if "*" in principal.stores else list(principal.stores)
    if store is not None and store not in known:
        known.append(store)  # a store of the token's with nothing loaded yet
    view = View(lang=lang, zone=ctx.timezone, store_id=store, stores=known,
                all_stores="*" in principal.stores, snapshot=info, today=today)
    return HTMLResponse(render(board, view), headers={"Cache-Control": "no-store"})
