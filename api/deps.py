"""Dependencies as Annotated aliases: the context, the caller, and a command's envelope."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import uuid4

from fastapi import Depends, Header, Request, Response

from api.auth import AuthError, Principal, authorize, principal_from
from api.context import ApiContext
from domain.application import CommandResult
from domain.application import Request as Envelope
from domain.common import Caller, InvalidInput
from domain.idempotency import request_hash


async def get_context(request: Request) -> ApiContext:
    """async: no thread-pool hop for a dependency that only reads app state."""
    return request.app.state.ctx  # type: ignore[no-any-return]


Ctx = Annotated[ApiContext, Depends(get_context)]


def reader(action: str) -> Callable[..., Awaitable[Principal]]:
    async def dependency(ctx: Ctx,
                         authorization: Annotated[str | None, Header()] = None) -> Principal:
        principal = principal_from(authorization, ctx.jwt_secret)
        authorize(principal, action)
        return principal

    return dependency


_IF_MATCH = re.compile(r'^(?:W/)?"?(\d+)"?$')


def _expected_version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    found = _IF_MATCH.match(if_match.strip())
    if not found:
        raise InvalidInput('If-Match must be an ETag such as "7"')
    return int(found.group(1))


class Command:
    """The envelope of one command request, and how its answer goes back."""

    def __init__(self, envelope: Envelope, response: Response) -> None:
        self.envelope = envelope
        self.response = response

    def accepted(self, result: CommandResult) -> dict[str, Any]:
        self.response.headers["ETag"] = f'"{result.body["version"]}"'
        if result.replayed:
            self.response.headers["Idempotent-Replayed"] = "true"
        return {**result.body, "notification_id": result.notification_id}


def command(action: str) -> Callable[..., Awaitable[Command]]:
    async def dependency(
        request: Request,
        response: Response,
        ctx: Ctx,
        authorization: Annotated[str | None, Header()] = None,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
        if_match: Annotated[str | None, Header()] = None,
        x_correlation_id: Annotated[str | None, Header(max_length=200)] = None,
    ) -> Command:
        principal = principal_from(authorization, ctx.jwt_secret)
        authorize(principal, action)
        fingerprint = None
        if idempotency_key is not None:
            raw = await request.body()
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            fingerprint = request_hash(request.url.path, body)
        caller = Caller(
            user_id=principal.user_id, role=principal.role, stores=principal.stores,
            at=datetime.now(UTC), correlation_id=x_correlation_id or str(uuid4()),
            idempotency_key=idempotency_key,
        )
        envelope = Envelope(caller, fingerprint, _expected_version(if_match))
        response.headers["X-Correlation-ID"] = caller.correlation_id
        return Command(envelope, response)

    return dependency


def wait_for_projection(ctx: ApiContext, name: str, notification_id: int | None) -> bool:
    """Read-your-writes: wait (bounded) until the read model has applied `notification_id`."""
    if notification_id is None:
        return True
    deadline = time.monotonic() + ctx.read_wait_max_seconds
    with ctx.pool.connection() as conn:
        while True:
            row = conn.execute("SELECT position FROM projection_positions WHERE name = %s",
                               (name,)).fetchone()
            if row and row[0] >= notification_id:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)


__all__ = ["AuthError", "Command", "Ctx", "command", "reader", "wait_for_projection"]
