"""Every error is application/problem+json (RFC 9457); domain errors map here and only here.

A problem's `type` names its kind for programs and its `title` says the same for people: one
fixed title per type (`TITLES`), whatever the occurrence (RFC 9457 section 3.1.3). What happened
this time is the `detail`; a domain refusal names the class that refused in `code`
(`DayClosed`, `SettlementError`, …).
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import psycopg
import psycopg_pool
from eventsourcing import persistence
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.auth import AuthError
from domain.common import (
    DomainError,
    IdempotencyKeyReused,
    IllegalTransition,
    InvalidInput,
    NotFound,
    NotPermitted,
    StaleVersion,
    VersionConflict,
    causes,
)
from domain.request_target import redacted_target
from domain.unreadable_events import NewerEvent, UnreadableEvent

log = logging.getLogger(__name__)

TYPE_BASE = "https://servicecore.dev/problems/"
PROBLEM_JSON = "application/problem+json"
STATUS = [
    (NotFound, 404),
    (StaleVersion, 412),
    (NotPermitted, 403),
    (VersionConflict, 409),
    (IllegalTransition, 409),
    (IdempotencyKeyReused, 422),
    (InvalidInput, 422),
]
# The title of each problem type. A type of the form `http-<status>` (what the framework itself
# refuses: an unknown path, a method not allowed, a body it cannot read) is titled by its
# status's reason phrase; a type missing here, by its own name (`not-settled` → "Not settled").
TITLES = {
    "invalid-input": "Invalid input",
    "as-of-in-the-future": "as_of is in the future",
    "idempotency-key-reused": "Idempotency key reused with another request",
    "unauthenticated": "Unauthenticated",
    "forbidden": "Forbidden",
    "not-permitted": "Not permitted",
    "not-found": "Not found",
    "illegal-transition": "Not allowed in the current state",
    "version-conflict": "Conflicting change",
    "stale-version": "Stale version",
    "too-large": "Request too large",
    "body-timeout": "Request body not received in time",
    "too-many-attempts": "Too many attempts",
    "unsupported-media-type": "Unsupported media type",
    "progress-link-unknown": "Unknown progress link",
    "progress-link-gone": "Progress link expired or revoked",
    "not-settled": "Work order not settled",
    "nothing-to-claim": "Nothing to claim",
    "package-moved": "Claim package changed while it was built",
    "no-credit-terms": "The customer has no credit terms",
    "credit-limit-exceeded": "Credit limit exceeded",
    "out-of-warranty-coverage": "Out of the OEM's warranty coverage",
    "domain-error": "Refused",
    "unavailable": "Service unavailable",
    "unreadable-event": "A stored event cannot be read",
    "newer-event": "A stored event is newer than this server",
    "read-model-behind": "Read model behind",
    "internal": "Internal error",
}
RETRY_AFTER_SECONDS = 2
MAX_ERRORS = 50  # what did not validate, listed in one 422
# SQLSTATEs that say "the server is not there right now", not "this request is wrong":
# connection exceptions, insufficient resources (too many connections), operator intervention
# (admin or crash shutdown, starting up, database dropped, idle timeouts) and system errors.
UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "58")
UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "57P04", "57P05"})
# SQLSTATEs of a statement the server gave up on, its transaction rolled back, that may well
# succeed when sent again: the database is busy, the request is not wrong.
BUSY_SQLSTATES = {
    "57014": "statement timeout or cancelled", "55P03": "lock timeout",
    "40001": "serialization failure", "40P01": "deadlock",
    # writes refused by a server that takes none for now: a standby the address reached in a
    # failover, or an operator's default_transaction_read_only (the pool is then drained,
    # servicecore/pool.py, so the retry draws a session opened after it)
    "25006": "the database is read-only",
}


class BodyTooLarge(StarletteHTTPException):
    """The request body is over the configured limit (raised while it is being received)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")
        self.limit = limit


# The scope key `serve`'s protocol sets on a request whose body it cut off at the body deadline
# (servicecore/body_deadline.py): the app's next receive() raises `BodyTimedOut` (api/middleware.py).
BODY_TIMED_OUT = "servicecore.body_timed_out"


class BodyTimedOut(StarletteHTTPException):
    """The request body did not all arrive within the body deadline; the server has answered
    408 and closed the connection, so the app only unwinds (its answer goes nowhere)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(408, body_timeout_detail(seconds))
        self.seconds = seconds


def body_timeout_detail(seconds: float) -> str:
    return (f"the request body did not all arrive within {seconds:g} s of the request's "
            "headers; send it again, whole")


class UnsupportedMediaType(StarletteHTTPException):
    """The body is not in a form the route reads (a JSON body sent as text/plain, an encoded
    body): 415, saying what to send."""

    def __init__(self, detail: str) -> None:
        super().__init__(415, detail)


class ReadModelBehind(Exception):
    """A read that waits for a read model (`?wait_for=`, or the log's head before a command
    reads one) gave up: the view had not applied `notification_id` within the read wait's
    bound (SERVICECORE_READ_WAIT_MAX_SECONDS). Answered 503 with Retry-After, never a stale
    page read as current (a work order just opened answered 404)."""

    def __init__(self, view: str, notification_id: int, seconds: float) -> None:
        super().__init__(f"the {view} read model has not applied notification "
                         f"{notification_id} within {seconds:g} s; retry shortly")
        self.view, self.notification_id, self.seconds = view, notification_id, seconds


def read_model_behind_problem(exc: ReadModelBehind) -> JSONResponse:
    response = problem(503, "read-model-behind", str(exc), view=exc.view,
                       wait_for=exc.notification_id, waited_seconds=exc.seconds)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response.headers["X-Read-Model-Stale"] = "true"
    return response


class NumberTooLong(ValueError):
    """A number of a JSON body past what it is read to (api/json_bodies.py `DIGITS_MAX`): more
    than 4300 digits before its point, or written with an exponent that makes it that long;
    or more significant digits than `SIGNIFICANT_MAX` in all (`detail` says which)."""

    detail = "a number in the body has more than 4300 digits"


def title_of(kind: str) -> str:
    """The one title of the problem type `kind`."""
    if kind in TITLES:
        return TITLES[kind]
    status = kind.removeprefix("http-")
    if status != kind and status.isdigit():
        try:
            return HTTPStatus(int(status)).phrase
        except ValueError:
            pass  # no status of that number: titled by its name as below
    return kind.replace("-", " ").capitalize()


def problem_body(status: int, kind: str, detail: str, **extra: Any) -> dict[str, Any]:
    """The problem's members; `extra` adds members of its own, never replaces these four."""
    body = {"type": TYPE_BASE + kind, "title": title_of(kind), "status": status,
            "detail": detail}
    return {**body, **{k: v for k, v in extra.items() if k not in body}}


def problem(status: int, kind: str, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse(problem_body(status, kind, detail, **extra), status_code=status,
                        media_type=PROBLEM_JSON)


# What the server itself answers to bytes that are not an HTTP/1.1 request (a malformed request
# line, an invalid header): no route saw them (servicecore/server.py).
INVALID_HTTP = json.dumps(problem_body(
    400, "http-400", "the request line or a header is not valid HTTP/1.1"),
    separators=(",", ":")).encode()


# Where a validation error's `loc` names a field a client sent: a body's top-level field, a
# query or path parameter (a header is no field of the request's data).
FIELD_PLACES = ("body", "query", "path")


def invalid_input_problem(found: Sequence[Any]) -> JSONResponse:
    """422 listing what did not validate: the first `MAX_ERRORS` of them, and how many there
    were in `error_count` when that is more (a 64 KiB body of 500 bad order lines found 6,500
    errors and answered 0.6 MB of them). When every error is about one field at the top of
    the body, or about one query or path parameter (`field` its name as sent: `from`, not the
    handler's `first`), `field` names it, as the domain's refusals of a body field do (an
    amount of "0" or "10.001" alike)."""
    return problem(422, "invalid-input", "the request did not validate",
                   **validation_extra(found))


def validation_extra(found: Sequence[Any]) -> dict[str, Any]:
    """The members of a 422 that say what did not validate (`invalid_input_problem`'s):
    `errors` (each `loc`, `msg`, `type`), `error_count` beyond `MAX_ERRORS`, and `field`."""
    errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
              for e in itertools.islice(found, MAX_ERRORS)]
    extra: dict[str, Any] = {"errors": errors}
    if len(found) > MAX_ERRORS:
        extra["error_count"] = len(found)
    fields = {tuple(e["loc"]) for e in found}
    if len(fields) == 1:
        (loc,) = fields
        if len(loc) == 2 and loc[0] in FIELD_PLACES and isinstance(loc[1], str):
            extra["field"] = loc[1]
    return extra


def status_of(error: DomainError) -> int:
    return next((status for cls, status in STATUS if isinstance(error, cls)), 422)


def unavailable(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) means the database is unreachable for now.

    A lost or refused connection, a pool with no connection to give, a server shutting down
    or starting up, a statement the server gave up on (BUSY_SQLSTATES), a save whose outcome
    the event store could not decide: the request was not wrong and may succeed when retried.
    The event store wraps psycopg's errors in its own, so the whole chain of causes is looked
    at.
    """
    if undecided_command(exc) is not None:
        return True  # a save that may have been stored: the lookup of its command tells
    for current in causes(exc):
        if isinstance(current, psycopg_pool.PoolTimeout | psycopg_pool.TooManyRequests
                      | persistence.ConnectionUnavailableError | psycopg.InterfaceError
                      | persistence.InterfaceError):
            return True
        if isinstance(current, psycopg.OperationalError):
            state = current.sqlstate
            # No SQLSTATE: the connection failed or broke before the server could answer.
            return state is None or state in UNAVAILABLE_SQLSTATES or \
                state in BUSY_SQLSTATES or state.startswith(UNAVAILABLE_SQLSTATE_CLASSES)
        if isinstance(current, psycopg.Error):
            # the server answered: the statement or the data was wrong, unless it takes no
            # writes for now
            return current.sqlstate in BUSY_SQLSTATES
        if current.__cause__ is None and current.__context__ is None \
                and isinstance(current, persistence.OperationalError):
            # The event store's own, with no server answer behind it: it kept losing the
            # connection, or could not tell whether a save committed, and gave up.
            return True
    return False


def too_large_problem(exc: BodyTooLarge) -> JSONResponse:
    response = problem(413, "too-large", str(exc.detail), limit=exc.limit)
    response.headers["Connection"] = "close"  # the rest of the body is never read
    return response


def body_timeout_body(seconds: float) -> bytes:
    """The 408 problem `serve`'s protocol answers itself to a body that missed its deadline."""
    return json.dumps(problem_body(408, "body-timeout", body_timeout_detail(seconds),
                                   timeout_seconds=seconds), separators=(",", ":")).encode()


def body_timeout_problem(exc: BodyTimedOut) -> JSONResponse:
    response = problem(408, "body-timeout", str(exc.detail), timeout_seconds=exc.seconds)
    response.headers["Connection"] = "close"
    return response


def unavailable_problem(detail: str, **extra: Any) -> JSONResponse:
    response = problem(503, "unavailable", detail, **extra)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def undecided_command(exc: BaseException) -> str | None:
    """The command id of a save whose outcome the event store could not decide, if `exc` (or
    what it wraps) is that: the save may or may not have been stored."""
    found = (getattr(current, "command_id", None) for current in causes(exc))
    command_id = next((c for c in found if c is not None), None)
    return None if command_id is None else str(command_id)


def busy_state(exc: BaseException) -> tuple[str, bool] | None:
    """What the server gave up on (BUSY_SQLSTATES), if `exc` (or what caused it) says so, and
    whether that was the command's save (the event store's refusal, `nothing_stored`: none of
    the command was stored), rather than a read (which may come after a save that stored)."""
    save = False
    for current in causes(exc):
        save = save or getattr(current, "nothing_stored", False)
        if isinstance(current, psycopg.Error) and current.sqlstate in BUSY_SQLSTATES:
            return BUSY_SQLSTATES[current.sqlstate], save
    return None


def database_unavailable_problem(exc: BaseException) -> JSONResponse:
    command_id = undecided_command(exc)
    busy = busy_state(exc)
    if command_id is None and busy is not None:
        what, save = busy
        if save:
            return unavailable_problem(f"the database gave up on the command's save ({what}) "
                                       "and rolled it back: nothing of the command was stored; "
                                       "retry shortly")
        return unavailable_problem(f"the database gave up on a statement ({what}); retry "
                                   "shortly")
    if command_id is None:
        return unavailable_problem("the database is unavailable; retry shortly")
    return unavailable_problem(
        "the database became unreachable while the command was being stored, and whether it "
        f"was stored could not be decided: GET /commands/{command_id} tells once the database "
        "is back (or retry with the same Idempotency-Key)", command_id=command_id)


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        extra = {k: v for k, v in exc.extra.items() if isinstance(v, str | int | float | dict | list)}
        extra["code"] = type(exc).__name__
        return problem(status_of(exc), exc.kind, exc.detail, **extra)

    @app.exception_handler(AuthError)
    async def auth_error(request: Request, exc: AuthError) -> JSONResponse:
        kind = "unauthenticated" if exc.status == 401 else "forbidden"
        response = problem(exc.status, kind, exc.detail)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return invalid_input_problem(exc.errors())

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        return too_large_problem(exc)

    @app.exception_handler(BodyTimedOut)
    async def body_timeout(request: Request, exc: BodyTimedOut) -> JSONResponse:
        return body_timeout_problem(exc)

    @app.exception_handler(UnsupportedMediaType)
    async def unsupported(request: Request, exc: UnsupportedMediaType) -> JSONResponse:
        return problem(415, "unsupported-media-type", str(exc.detail))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, f"http-{exc.status_code}",
                       unreadable_body(exc) or str(exc.detail))

    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        if unavailable(exc):
            log.warning("database unavailable during %s %s: %s", request.method,
                        redacted_target(request.url.path), exc)
            return database_unavailable_problem(exc)
        log.error("unexpected database error during %s %s", request.method,
                  redacted_target(request.url.path), exc_info=exc)
        return internal_problem()

    @app.exception_handler(ReadModelBehind)
    async def behind(request: Request, exc: ReadModelBehind) -> JSONResponse:
        log.warning("%s %s: %s", request.method, redacted_target(request.url.path), exc)
        return read_model_behind_problem(exc)

    @app.exception_handler(UnreadableEvent)
    async def unreadable(request: Request, exc: UnreadableEvent) -> JSONResponse:
        log.error("a stored event cannot be read during %s %s: %s", request.method,
                  redacted_target(request.url.path), exc)
        return unreadable_problem(exc)

    for database_exception in (psycopg.Error, persistence.PersistenceError):
        app.add_exception_handler(database_exception, database_error)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        if unavailable(exc):  # e.g. a database error re-raised as something else
            return database_unavailable_problem(exc)
        return internal_problem()


def unreadable_body(exc: StarletteHTTPException) -> str | None:
    """What was wrong with a JSON body that could not be parsed for another reason than its
    syntax (that is a 422 naming the position): FastAPI answered "There was an error parsing
    the body" whatever the cause (api/json_bodies.py refuses it with the same exception)."""
    if exc.status_code != 400:
        return None
    cause = exc.__cause__
    if isinstance(cause, UnicodeDecodeError):
        return f"the body is not UTF-8 (byte {cause.start} cannot be decoded)"
    if isinstance(cause, RecursionError):
        return "the body is nested too deeply"
    if isinstance(cause, NumberTooLong):
        return cause.detail
    if isinstance(cause, ValueError) and "integer string conversion" in str(cause):
        return NumberTooLong.detail
    return None


def unreadable_problem(exc: UnreadableEvent) -> JSONResponse:
    """500 naming the stored event the code cannot read (stream, version, topic: which record
    it is, for the auditor and the operator) and the kind of error, never its state. Nothing
    was stored: a command fails loading its aggregates, before its save."""
    if isinstance(exc, NewerEvent):
        return newer_problem(exc)
    return problem(500, "unreadable-event", f"{exc}; the record is kept as stored, and this "
                   "has been logged", stream_id=str(exc.stream_id), version=exc.version,
                   topic=exc.topic)


def newer_problem(exc: NewerEvent) -> JSONResponse:
    """503 (retryable): a newer server stored the event this one would misread (a rolling
    upgrade under way); nothing was stored, and a retry served by an upgraded one succeeds."""
    response = problem(503, "newer-event", f"{exc}; nothing was stored: retry (a server "
                       "running the newer code answers it)", stream_id=str(exc.stream_id),
                       version=exc.version, topic=exc.topic, class_version=exc.stored,
                       known_class_version=exc.known)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def internal_problem() -> JSONResponse:
    return problem(500, "internal", "unexpected error; it has been logged")
