"""Every error is application/problem+json (RFC 9457); domain errors map here and only here."""

from __future__ import annotations

from typing import Any

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
)

TYPE_BASE = "https://servicecore.dev/problems/"
STATUS = [
    (NotFound, 404),
    (StaleVersion, 412),
    (NotPermitted, 403),
    (VersionConflict, 409),
    (IllegalTransition, 409),
    (IdempotencyKeyReused, 422),
    (InvalidInput, 422),
]


def problem(status: int, kind: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": TYPE_BASE + kind, "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def status_of(error: DomainError) -> int:
    return next((status for cls, status in STATUS if isinstance(error, cls)), 422)


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        extra = {k: v for k, v in exc.extra.items() if isinstance(v, str | int | float | dict | list)}
        return problem(status_of(exc), exc.kind, type(exc).__name__, exc.detail, **extra)

    @app.exception_handler(AuthError)
    async def auth_error(request: Request, exc: AuthError) -> JSONResponse:
        kind = "unauthenticated" if exc.status == 401 else "forbidden"
        response = problem(exc.status, kind, kind.title(), exc.detail)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        return problem(422, "invalid-input", "Invalid input", "the request did not validate",
                       errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, f"http-{exc.status_code}", str(exc.detail), str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return problem(500, "internal", "Internal error", "unexpected error; it has been logged")
