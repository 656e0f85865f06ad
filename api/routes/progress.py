"""The customer's progress page (/progress/{token}) and the advisor's link to it.

The page takes no bearer token: its link is its credential. A link token never opens an API
call and a bearer token never opens the page; the customer behind a link may approve or decline
lines of that one work order and nothing else.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs
from uuid import UUID
from zoneinfo import ZoneInfo

import segno
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api import json_bodies, log_context
from api.auth import AuthError, Principal, from_other_site
from api.context import ApiContext
from api.deps import (
    Command,
    CorrelationId,
    Ctx,
    IdempotencyKey,
    LinkToken,
    Offset,
    WaitFor,
    command,
    reader,
    wait_for_projection,
)
from api.errors import problem, status_of, validation_extra
from api.json_bodies import JsonBodyRoute
from api.paging import Limit, PageOf
from api.progress_guard import Attempts
from api.progress_page import STAGE_LABELS, busy_page, gone_page, progress_page, unknown_page
from api.replays import answered_by
from api.schemas_progress import (
    CustomerDecisionsIn,
    DecisionsOut,
    ProgressLinkIn,
    ProgressLinkIssued,
    ProgressLinkOut,
    ProgressLinkRevoked,
    ProgressOut,
)
from domain.application import CommandResult
from domain.common import CUSTOMER_ROLE, DomainError, InvalidInput, NotFound
from domain.customer_progress import CustomerProgress, LinkGone, LinkRefused
from domain.idempotency import request_hash
from projections.base import page_of
from projections.progress_page import progress_of

links_router = APIRouter(prefix="/work-orders", tags=["progress page"], route_class=JsonBodyRoute)
router = APIRouter(prefix="/progress", tags=["progress page"], route_class=JsonBodyRoute)
ShareCmd = Annotated[Command, Depends(command("progress.share"))]
LinkReader = Annotated[Principal, Depends(reader("progress.read"))]
MAX_FORM_BYTES = 16 * 1024
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token is in the URL: never send it on
    "X-Robots-Tag": "noindex, nofollow",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}


def service(ctx: Ctx) -> CustomerProgress:
    return CustomerProgress(ctx.app, ctx.work_orders, ctx.jwt_secret, ctx.progress_link_hours)


# -- the advisor's side ---------------------------------------------------------------------

def _qr(url: str) -> tuple[str, str]:
    code = segno.make(url, error="m")
    svg = io.BytesIO()
    code.save(svg, kind="svg", scale=4, xmldecl=False)
    return svg.getvalue().decode(), code.png_data_uri(scale=4)


def _issued(result: CommandResult, *, cmd: Command, ctx: ApiContext, request: Request,
            **_: Any) -> dict[str, Any]:
    base = (ctx.public_url or str(request.base_url)).rstrip("/")
    url = f"{base}/progress/{service(ctx).token(result.body)}"
    svg, png = _qr(url)
    return {**cmd.accepted(result), "url": url, "qr_svg": svg, "qr_png": png}


@links_router.post("/{work_order_id}/progress-link", status_code=201,
                   response_model=ProgressLinkIssued)
@answered_by(_issued)
def issue_link(work_order_id: UUID, cmd: ShareCmd, ctx: Ctx, request: Request,
               body: ProgressLinkIn | None = None) -> Any:
    """A signed, expiring link to the work order's progress page, with its QR code.

    The previous live link of the work order stops working. The URL is shown here only: to
    print it again, issue a new one (a retry with the first's Idempotency-Key shows that one).
    """
    return service(ctx).issue(cmd.envelope, work_order_id, body.hours if body else None)


@links_router.delete("/{work_order_id}/progress-link", response_model=ProgressLinkRevoked)
def revoke_link(work_order_id: UUID, cmd: ShareCmd, ctx: Ctx,
                reason: Annotated[str | None, Query(max_length=500, description=(
                    "why, kept with the event for the audit trail"))] = None) -> Any:
    """The live link stops working at once (its page answers 410)."""
    return cmd.accepted(service(ctx).revoke(cmd.envelope, work_order_id, reason))


class ProgressLinkPage(PageOf[ProgressLinkOut]):
    """One page of a work order's progress links, in the order they were issued."""


@links_router.get("/{work_order_id}/progress-links", response_model=ProgressLinkPage)
def list_links(work_order_id: UUID, ctx: Ctx, principal: LinkReader, limit: Limit = 200,
               offset: Offset = 0) -> Any:
    """Who shared this work order's progress, until when, and who revoked it (no tokens)."""
    links = service(ctx).links(work_order_id)
    if links is None or not principal.sees(links.store_id):
        raise NotFound(f"work order {work_order_id} has no progress links")
    now = datetime.now(UTC)
    return page_of([{"link_id": nonce, "issued_by": link["issued_by"],
                     "issued_at": link["issued_at"], "expires_at": link["expires_at"],
                     "live": links.is_live(nonce, now), "revoked": link["revoked"]}
                    for nonce, link in links.links.items()], limit=limit, offset=offset)


# -- the customer's side --------------------------------------------------------------------

def _attempts(request: Request) -> Attempts:
    state = request.app.state
    if not hasattr(state, "progress_attempts"):
        state.progress_attempts = Attempts()
    return state.progress_attempts  # type: ignore[no-any-return]


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _refusal(exc: DomainError, as_json: bool) -> Response:
    """410 for a link that was real, 404 for one that never was; HTML or problem+json."""
    status = 410 if isinstance(exc, LinkGone) else 404
    if as_json:
        response: Response = problem(status, exc.kind, exc.detail, code=type(exc).__name__)
    else:
        response = HTMLResponse(gone_page() if status == 410 else unknown_page(), status)
    response.headers.update(PAGE_HEADERS)
    return response


def _busy(retry_after: int, as_json: bool) -> Response:
    response: Response = problem(
        429, "too-many-attempts", "too many unknown links from this address; try again later") \
        if as_json else HTMLResponse(busy_page(), 429)
    response.headers.update({**PAGE_HEADERS, "Retry-After": str(retry_after)})
    return response


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _view(ctx: Ctx, work_order_id: UUID, expires_at: datetime,
          wait_for: int | None) -> dict[str, Any]:
    wait_for_projection(ctx, "work_orders", wait_for)
    zone = ZoneInfo(ctx.timezone)
    with ctx.pool.connection() as conn:
        view = progress_of(conn, work_order_id, zone)
    if view is None:
        raise NotFound("this work order's progress is not available yet; try again shortly")
    zh, en = STAGE_LABELS[view["stage"]]
    return {**view, "stage_label": {"zh": zh, "en": en},
            "link_expires_at": expires_at.astimezone(zone).isoformat()}


def _page(token: str, request: Request, ctx: Ctx, as_json: bool, wait_for: int | None,
          notice: str | None) -> Response:
    attempts, client = _attempts(request), _client(request)
    retry_after = attempts.retry_after(client)
    if retry_after is not None:
        return _busy(retry_after, as_json)
    progress = service(ctx)
    try:
        claims, store_id = progress.grant(token, datetime.now(UTC))
    except LinkRefused as exc:
        attempts.failed(client)
        return _refusal(exc, as_json)
    except LinkGone as exc:
        return _refusal(exc, as_json)
    log_context.identify(claims.actor, CUSTOMER_ROLE, (store_id,))  # the link id, never its token
    view = _view(ctx, claims.work_order_id, claims.expires_at, wait_for)
    if as_json:
        return JSONResponse(ProgressOut(**view).model_dump(mode="json"), headers=PAGE_HEADERS)
    html = progress_page(view, action=f"/progress/{token}/decisions",
                         form_token=progress.signer.form_token(claims), notice=notice)
    return HTMLResponse(html, headers=PAGE_HEADERS)


Notice = Literal["decided"] | None
# What the page's answers other than 200 can be: problem+json to a script, a page to a browser.
_PAGE = {"content": {"text/html": {"schema": {"type": "string"}}}}
LINK_REFUSALS: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such link"},
    410: {"description": "the link expired or was revoked"},
    429: {"description": "too many unknown links from this address; see Retry-After",
          "headers": {"Retry-After": {"schema": {"type": "integer"}}}},
}
PAGE_REFUSALS = {status: {**answer, **_PAGE} for status, answer in LINK_REFUSALS.items()}


@router.get("/{token}.json", response_model=ProgressOut, responses=LINK_REFUSALS)
def progress_json(token: LinkToken, request: Request, ctx: Ctx, wait_for: WaitFor = None) -> Any:
    """The page's content as JSON (for a mini-program)."""
    return _page(token, request, ctx, True, wait_for, None)


@router.get("/{token}", response_class=HTMLResponse,
            responses={200: {"model": ProgressOut, "content": {"application/json": {}}},
                       **PAGE_REFUSALS})
def progress_html(token: LinkToken, request: Request, ctx: Ctx, wait_for: WaitFor = None,
                  notice: Notice = None) -> Any:
    """The customer's page (HTML; JSON with `Accept: application/json`)."""
    return _page(token, request, ctx, _wants_json(request), wait_for, notice)


def _same_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    host = request.headers.get("x-forwarded-host") or request.headers.get("host")
    if from_other_site(origin, host):
        raise AuthError(403, "decide from the progress page itself")


def _parse(raw: bytes, form: bool) -> tuple[dict[str, str], str | None, Any]:
    """The decisions, the form token (forms only), and the body as a fingerprint sees it."""
    if form:
        fields = parse_qs(raw.decode("utf-8", "replace"))
        given = sorted(name for name, values in fields.items() if len(values) > 1)
        if given:  # the first would be taken: `line_id=L1&line_id=L2` decided L1 alone
            raise InvalidInput(f"a form field is given more than once: {', '.join(given)}")
        line_id, decision = fields.get("line_id", [""])[0], fields.get("decision", [""])[0]
        payload: Any = {"decisions": [{"line_id": line_id, "decision": decision}]}
        token: str | None = fields.get("form_token", [""])[0]
    else:
        try:  # parsed once, as every JSON body is (api/json_bodies.py)
            parsed = json_bodies.parse(raw) if raw else json_bodies.Parsed(None, [], [])
        except (ValueError, RecursionError):  # RecursionError: nested past the parser's depth
            raise InvalidInput("the body is not JSON") from None
        if parsed.repeated:  # the parser kept the last of the two
            raise InvalidInput("a member is named more than once: " + _where(parsed.repeated))
        if parsed.not_finite:
            raise InvalidInput("NaN and Infinity are not JSON numbers: "
                               + _where(parsed.not_finite))
        payload = parsed.document
        token = None
    try:
        body = CustomerDecisionsIn.model_validate(payload)
    except ValidationError as exc:  # in the form every other 422 has (`errors[].loc`, `field`)
        raise InvalidInput("decisions must name lines (L1, L2, …) as approved or declined",
                           **validation_extra([{**e, "loc": ("body", *e["loc"])}
                                               for e in exc.errors()])) from None
    decisions: dict[str, str] = {}
    for index, item in enumerate(body.decisions):
        if decisions.setdefault(item.line_id, item.decision) != item.decision:
            raise InvalidInput(f"line {item.line_id} is both approved and declined",
                               field=f"decisions[{index}].decision", line_id=item.line_id)
    return decisions, token, payload


def _in_body(exc: InvalidInput, payload: Any) -> InvalidInput:
    """A line the work order does not have, named by its place in the body
    (`decisions[1].line_id`), as a field inside a list is named everywhere."""
    line_id = exc.extra.get("line_id")
    if exc.extra.get("field") == "decisions" and isinstance(payload, dict):
        index = next((i for i, item in enumerate(payload.get("decisions") or [])
                      if isinstance(item, dict) and item.get("line_id") == line_id), None)
        if index is not None:
            exc.extra["field"] = f"decisions[{index}].line_id"
    return exc


def _where(places: list[json_bodies.Where]) -> str:
    return ", ".join(".".join(str(step) for step in where) or "the body" for where in places)


@router.post("/{token}/decisions", response_model=DecisionsOut,
             responses={303: {"description": "form posts go back to the page"},
                        **PAGE_REFUSALS,
                        403: {"description": "a form post not from the page itself", **_PAGE},
                        409: {"description": "a line no longer awaits the customer", **_PAGE},
                        415: {"description": "neither the page's form nor JSON"}})
async def decide(token: LinkToken, request: Request, ctx: Ctx,
                 idempotency_key: IdempotencyKey = None,
                 x_correlation_id: CorrelationId = None) -> Any:
    """Approve or decline lines awaiting the customer: the page's form (one line, with the
    page's form token) or JSON `{"decisions": [{"line_id": "L2", "decision": "approved"}]}`.

    Recorded by the work order's authorization command on the channel `customer_page` as
    `customer-link:<link id>`; a line already decided the same way is left as it is.
    """
    # Not a `command` route (api/replays.py): the link is the credential and is checked
    # first, so a revoked or expired link is refused to a retry too (its page must stop at
    # once); on a live link the command looks the key up before it decides.
    content_type = request.headers.get("content-type", "")
    form = content_type.startswith("application/x-www-form-urlencoded")
    if not form and not content_type.startswith("application/json"):
        return problem(415, "unsupported-media-type", "send the page's form or application/json")
    attempts, client = _attempts(request), _client(request)
    retry_after = attempts.retry_after(client)
    if retry_after is not None:
        return _busy(retry_after, not form)
    progress = service(ctx)
    payload: Any = None
    try:
        _same_origin(request)
        raw = await request.body()
        if len(raw) > MAX_FORM_BYTES:
            raise InvalidInput("the decisions are too large")
        decisions, form_token, payload = _parse(raw, form)
        claims = progress.signer.claims(token)
        log_context.identify(claims.actor, CUSTOMER_ROLE, ())
        if form and not progress.signer.form_token_ok(claims, form_token or ""):
            raise AuthError(403, "decide from the progress page itself")
        fingerprint = request_hash(request.url.path, payload) if idempotency_key else None
        result = await run_in_threadpool(
            progress.decide, token, decisions, at=datetime.now(UTC),
            correlation_id=log_context.correlation_id(x_correlation_id), idempotency_key=idempotency_key,
            request_hash=fingerprint)
    except LinkRefused as exc:
        attempts.failed(client)
        return _refusal(exc, not form)
    except LinkGone as exc:
        return _refusal(exc, not form)
    except (DomainError, AuthError) as exc:
        if not form:
            raise _in_body(exc, payload) if isinstance(exc, InvalidInput) else exc
        return await run_in_threadpool(_form_problem, token, request, ctx, exc)
    nid = result.notification_id
    if form:
        wait = f"&wait_for={nid}" if nid else ""
        return RedirectResponse(f"/progress/{token}?notice=decided{wait}", 303,
                                headers=PAGE_HEADERS)
    view = await run_in_threadpool(_view, ctx, claims.work_order_id, claims.expires_at, nid)
    # a retry with the first attempt's Idempotency-Key says so, as every command's does
    replayed = {"Idempotent-Replayed": "true"} if result.replayed else {}
    return JSONResponse({"decided": result.body["decided"], "unchanged": result.body["unchanged"],
                         "notification_id": nid,
                         "progress": ProgressOut(**view).model_dump(mode="json")},
                        headers={**PAGE_HEADERS, **replayed})


def _form_problem(token: str, request: Request, ctx: Ctx,
                  exc: DomainError | AuthError) -> Response:
    """A refused form post shows the page again with the reason, at the error's status."""
    status = exc.status if isinstance(exc, AuthError) else status_of(exc)
    progress = service(ctx)
    try:
        claims, _ = progress.grant(token, datetime.now(UTC))
    except (LinkRefused, LinkGone) as gone:
        return _refusal(gone, False)
    view = _view(ctx, claims.work_order_id, claims.expires_at, None)
    html = progress_page(view, action=f"/progress/{token}/decisions",
                         form_token=progress.signer.form_token(claims), problem=exc.detail)
    return HTMLResponse(html, status, headers=PAGE_HEADERS)
