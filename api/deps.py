"""Dependencies as Annotated aliases: the context, the caller, and a command's envelope."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Query, Request, Response, Security
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPBearer

from api import json_bodies, log_context
from api.auth import AuthError, Principal, authorize, principal_from
from api.context import ApiContext
from api.dates import DAY_RANGE, Day
from api.errors import ReadModelBehind
from api.numbers import Plain
from api.positions import beyond_head
from api.replays import COMMAND_ACTION
from domain.application import CommandResult, ServiceCore
from domain.application import Request as Envelope
from domain.common import Caller, InvalidInput
from domain.idempotency import request_hash


def context_of(request: Request) -> ApiContext:
    """The context, for a dependency that has the request anyway: one sub-dependency less to
    solve on every request."""
    return request.app.state.ctx  # type: ignore[no-any-return]


async def get_context(request: Request) -> ApiContext:
    """async: no thread-pool hop for a dependency that only reads app state."""
    return context_of(request)


Ctx = Annotated[ApiContext, Depends(get_context)]


class _Bearer(HTTPBearer):
    """The bearer scheme of the OpenAPI document (the Authorize button of /docs), and the
    dependency that hands over the Authorization header as sent: it is judged by api/auth.py,
    so a missing, malformed or non-Bearer header is the same 401 problem as always."""

    async def __call__(self, request: Request) -> str | None:  # type: ignore[override]
        return request.headers.get("authorization")


BEARER = _Bearer(
    scheme_name="bearer", bearerFormat="JWT", auto_error=False,
    description="A JWT (HS256) with `sub`, `role` and `stores`; mint one with "
                "`servicecore token --user adv-li --role advisor --stores S01`. Paste the "
                "token alone: the UI adds `Bearer `.")

Authorization = Annotated[str | None, Security(BEARER)]

# Query and path values every route shares, bounded so that nothing unbounded reaches a query
# or the domain (an offset past bigint, a 10 kB part number).
WaitFor = Annotated[int | None, Query(ge=0, le=2**63 - 1, description=(
    "a command's notification_id: wait (bounded) until the read model has applied it")), Plain]
Offset = Annotated[int, Query(ge=0, le=1_000_000), Plain]
StoreId = Annotated[str, Path(min_length=1, max_length=20)]
PartNumber = Annotated[str, Path(min_length=1, max_length=40)]
LineId = Annotated[str, Path(min_length=1, max_length=20)]
UserId = Annotated[str, Path(min_length=1, max_length=64)]
TagName = Annotated[str, Path(min_length=1, max_length=30)]
KpiName = Annotated[str, Path(min_length=1, max_length=60)]
JobNo = Annotated[int, Path(ge=1, le=10_000), Plain]
Vin = Annotated[str, Path(min_length=1, max_length=30)]
# A read's text filters (`?store_id=`, `?plate=`, `?supplier=`): bounded like every path value,
# so that a 20 kB value is a 422 naming the parameter, never a query argument nor echoed back.
# An id is at most 64 characters (what a command stores is shorter: a store 20, a part number
# 40, a VIN 17, a plate 12, a user 64); a name or free text 200 (a sublet supplier's name).
ID_MAX, TEXT_MAX = 64, 200
IdFilter = Annotated[str | None, Query(max_length=ID_MAX)]


def stores_asked(stores: Sequence[str], store_id: str | None) -> list[str]:
    """The stores a read with `?store_id=` covers: that store when the token covers it, none
    when it does not (an empty answer, as every list's `store_id` gives); without it, the
    token's."""
    if store_id is None:
        return list(stores)
    return [store_id] if "*" in stores or store_id in stores else []


# The cashier's filter of the visit lists (`/work-orders`, `/settlements`): money still owed
Outstanding = Annotated[bool | None, Query(description=(
    "true: only the visits whose bills still have money outstanding; false: the others "
    "(nothing billed yet included)"))]
TextFilter = Annotated[str | None, Query(max_length=TEXT_MAX)]
StoreQuery = Annotated[str, Query(min_length=1, max_length=ID_MAX, description="the store")]
DocumentId = Annotated[str, Path(min_length=1, max_length=80,
                                 description="a lot, scrap request, count or refund id")]
LinkToken = Annotated[str, Path(min_length=1, max_length=200,
                                description="a progress link's token (signed, fixed length)")]


def _declared_query(dependant: Dependant) -> Iterator[str]:
    yield from (param.alias for param in dependant.query_params)
    for sub in dependant.dependencies:
        yield from _declared_query(sub)


_DECLARED = "servicecore_declared_query"  # the route's declared query names, kept on the route


async def known_query_only(request: Request) -> None:
    """Refuse what a route would otherwise silently ignore or choke on: a query parameter it
    does not declare (`?number=` would have listed everything), one given twice (the route
    would take the last), and a NUL character in the query or the path (PostgreSQL text cannot
    hold one). (A JSON body sent as something else, naming a member twice or holding NaN is
    refused before this runs, where it is parsed: api/json_bodies.py.) Then name, on the
    request's log lines, the store it names (path or query `store_id`) instead of the
    caller's list of stores. Applied to every route by the app: one dependency, as each
    costs a solve per request."""
    route = request.scope.get("route")
    dependant: Dependant | None = getattr(route, "dependant", None)
    if dependant is None:
        return
    declared: frozenset[str] | None = getattr(route, _DECLARED, None)
    if declared is None:
        declared = frozenset(_declared_query(dependant))
        setattr(route, _DECLARED, declared)
    path_params: dict[str, Any] = request.scope.get("path_params") or {}
    if request.scope.get("query_string") or any("\x00" in str(value) or "\x00" in key
                                                for key, value in path_params.items()):
        _refuse_unknown_or_nul(request, declared)
    store = path_params.get("store_id") or request.query_params.get("store_id")
    log_context.name_store(store if isinstance(store, str) else None)


def _refuse_unknown_or_nul(request: Request, declared: frozenset[str]) -> None:
    items = request.query_params.multi_items()
    errors: list[dict[str, Any]] = [
        {"type": "extra_forbidden", "loc": ("query", key), "msg": "Unknown query parameter",
         "input": value}
        for key, value in items if key not in declared]
    # No route takes a list in its query (tests/e2e/test_request_limits.py checks), so a name
    # given twice is a mistake the route would settle silently by taking the last value.
    if len({key for key, _ in items}) < len(items):
        counts = Counter(key for key, _ in items)
        errors += [{"type": "repeated", "loc": ("query", key), "msg": "Given more than once",
                    "input": request.query_params.getlist(key)}
                   for key, count in counts.items() if count > 1 and key in declared]
    errors += [
        {"type": "string_nul", "loc": (where, key), "msg": "May not contain a NUL character",
         "input": value}
        for where, items in (("query", request.query_params.multi_items()),
                             ("path", list(request.path_params.items())))
        for key, value in items if "\x00" in str(value) or "\x00" in key]
    if errors:
        raise RequestValidationError(errors)


def reader(action: str) -> Callable[..., Awaitable[Principal]]:
    async def dependency(request: Request, authorization: Authorization) -> Principal:
        principal = principal_from(authorization, context_of(request).jwt_secret)
        authorize(principal, action)
        return principal

    return dependency


# No control characters: a key is stored with the command and its events, and a NUL would
# stop every view that writes it to a text column (uvicorn refuses one, other servers may not).
IdempotencyKey = Annotated[str | None, Header(
    min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$", description=(
        "any unique string, e.g. a UUID (no control characters): a retry with the same key "
        "and body returns the first answer (Idempotent-Replayed: true) and stores nothing "
        "twice"))]
CorrelationId = Annotated[str | None, Header(max_length=200, description=(
    "ties the events this request stores together in the audit trail; default a new UUID, "
    "answered as X-Correlation-ID"))]
# A read shown without customers' personal data has an ETag of its own ("7-masked"), so that
# no cache takes one role's answer for another's; it names the same version.
MASKED_ETAG = "-masked"
# A version: a bigint, in ASCII digits, as an ETag ("7", W/"7", "7-masked") or bare (7);
# quotes in pairs.
_IF_MATCH = re.compile(r'(?:W/)?"([0-9]{1,18})(?:' + MASKED_ETAG + r')?"|([0-9]{1,18})')


def _expected_version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    # Only the blanks HTTP puts around a value: str.strip() also took a no-break space.
    found = _IF_MATCH.fullmatch(if_match.strip(" \t"))
    if not found:
        raise InvalidInput('If-Match must be an ETag such as "7"')
    return int(found.group(1) or found.group(2))


class Command:
    """The envelope of one command request, and how its answer goes back."""

    def __init__(self, envelope: Envelope, response: Response, app: ServiceCore) -> None:
        self.envelope = envelope
        self.response = response
        self.app = app

    def stored(self) -> CommandResult | None:
        """The answer remembered for the request's Idempotency-Key if its command was stored
        (IdempotencyKeyReused if the key came with another request); None without a key.
        Looked up before the route runs (api/replays.py): a retry is answered what was
        stored, whatever the clock, a read model or the state of a stream says by then.
        Found none, the envelope says so (`key_looked_up`): the command's first attempt
        does not read the key's record again."""
        if self.envelope.caller.idempotency_key is None:
            return None
        found = self.app.remembered(self.envelope)
        if found is None:  # the command's first attempt need not look again
            self.envelope = replace(self.envelope, key_looked_up=True)
        return found

    def accepted(self, result: CommandResult) -> dict[str, Any]:
        self.response.headers["ETag"] = f'"{result.body["version"]}"'
        if result.replayed:
            self.response.headers["Idempotent-Replayed"] = "true"
        return {**result.body, "notification_id": result.notification_id}


def command(action: str) -> Callable[..., Awaitable[Command]]:
    async def dependency(
        request: Request,
        response: Response,
        authorization: Authorization,
        idempotency_key: IdempotencyKey = None,
        if_match: Annotated[str | None, Header(description=(
            'the version you read, as its ETag ("7"): 412 if the stream has moved on since; '
            "without it a conflicting change is retried on fresh state"))] = None,
        x_correlation_id: CorrelationId = None,
    ) -> Command:
        principal = principal_from(authorization, context_of(request).jwt_secret)
        authorize(principal, action)
        fingerprint = None
        if idempotency_key is not None:
            raw = await request.body()
            # the query is part of the request (e.g. which store a statement file is for)
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            try:
                # the document the route's JSON body was parsed into; parsed here only for a
                # route that reads its body itself (a statement file)
                body: Any = json_bodies.document(request)
                if body is json_bodies.NOT_READ:
                    body = json_bodies.parse(raw).document if raw else None
                fingerprint = request_hash(target, body)
            except (ValueError, RecursionError):
                # Not JSON (a statement file), or nested past what the parser or the encoder
                # can follow (such a body is refused as invalid anyway): its text, each byte
                # that is no UTF-8 kept as itself (a lone surrogate): replaced by U+FFFD, a
                # GBK file's Chinese text was lost, and files that differed only there (a
                # payer's name) shared a fingerprint. UTF-8 text keeps the one it had.
                fingerprint = request_hash(target, raw.decode(errors="surrogateescape"))
        caller = Caller(
            user_id=principal.user_id, role=principal.role, stores=principal.stores,
            at=datetime.now(UTC), correlation_id=log_context.correlation_id(x_correlation_id),
            idempotency_key=idempotency_key,
        )
        envelope = Envelope(caller, fingerprint, _expected_version(if_match))
        response.headers["X-Correlation-ID"] = caller.correlation_id
        return Command(envelope, response, context_of(request).app)

    # marks the dependency: the route taking it answers a stored retry first (api/replays.py)
    setattr(dependency, COMMAND_ACTION, action)
    return dependency


def wait_for_projection(ctx: ApiContext, name: str, notification_id: int | None) -> bool:
    """Read-your-writes: wait (bounded) until the read model has applied `notification_id`.
    True once it has; False for an id beyond the log's head (no command answered it: read
    as it stands). A view that has not applied it within the bound raises `ReadModelBehind`
    (503), rather than a page read as current without it."""
    if notification_id is None:
        return True
    if ctx.positions is not None and ctx.positions.known(name) >= notification_id:
        return True
    with ctx.pool.connection() as conn:
        if ctx.positions is not None:
            reached = ctx.positions.wait(conn, name, notification_id,
                                         ctx.read_wait_max_seconds)
        else:
            reached = _polled(conn, name, notification_id, ctx.read_wait_max_seconds)
    return reached_or_behind(reached, name, notification_id, ctx.read_wait_max_seconds)


def reached_or_behind(reached: bool | None, name: str, notification_id: int,
                      seconds: float) -> bool:
    """A wait's outcome (True reached, None beyond the head, False timed out) as
    `wait_for_projection` answers it."""
    if reached is False:
        raise ReadModelBehind(name, notification_id, seconds)
    return bool(reached)


def _polled(conn: Any, name: str, notification_id: int, seconds: float) -> bool | None:
    """The wait without the positions' listener: the position table read every 10 ms."""
    deadline = time.monotonic() + seconds
    while True:
        row = conn.execute("SELECT position FROM projection_positions WHERE name = %s",
                           (name,)).fetchone()
        if row and row[0] >= notification_id:
            return True
        if _beyond_head(conn, notification_id):
            return None
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def wait_for_views(ctx: ApiContext, notification_id: int | None, *views: str) -> bool:
    """Read-your-writes for a read over several read models: wait (each bounded, one after
    the other) until every one of `views` has applied `notification_id`; True if all have."""
    caught_up = [wait_for_projection(ctx, view, notification_id) for view in views]
    return all(caught_up)


def _beyond_head(conn: Any, notification_id: int) -> bool:
    head = conn.execute("SELECT max(notification_id) FROM servicecore_events").fetchone()
    return beyond_head(head[0] if head else None, notification_id)


__all__ = ["BEARER", "DAY_RANGE", "AuthError", "Authorization", "Command", "CorrelationId",
           "Ctx", "Day", "DocumentId", "IdFilter", "IdempotencyKey", "JobNo", "KpiName",
           "LineId", "LinkToken", "Offset", "PartNumber", "StoreId", "StoreQuery", "TagName",
           "TextFilter", "UserId", "Vin", "WaitFor", "command", "context_of",
           "known_query_only", "reader", "wait_for_projection", "wait_for_views"]
