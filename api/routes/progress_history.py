"""/progress-links/{id}/history: who shared a work order's progress page and who revoked it.

The links stream's events hold each link's nonce, part of the customer's link token. The
history names a link by its place in issue order instead (`link`: 1, 2, …; `replaces`: the
link a new one revoked) and answers no nonce anywhere, so an auditor's export or screen can
never help rebuild a link.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends

from api.auth import Principal
from api.deps import Ctx, Offset, reader
from api.histories import stream_history
from api.json_bodies import JsonBodyRoute
from api.paging import HistoryPage, Limit
from domain.progress_link import ProgressLinks

router = APIRouter(prefix="/progress-links", tags=["progress page"], route_class=JsonBodyRoute)
Auditor = Annotated[Principal, Depends(reader("progress.history"))]
NONCE_FIELDS = ("nonce", "replaces")


@router.get("/{links_id}/history", response_model=HistoryPage)
def links_history(links_id: UUID, ctx: Ctx, principal: Auditor, limit: Limit = 500,
                  offset: Offset = 0) -> Any:
    """Every event of a work order's progress links (the stream `/audit/lookup` names for its
    work-order number) with actor, time and reason: the links issued and until when, the one
    each replaced, the ones revoked. Nonces are never shown: a link is its number in issue
    order."""
    found = stream_history(ctx, links_id, "ProgressLinks", principal.stores,
                           f"progress links {links_id} not found", limit=limit, offset=offset)
    links: Any = ctx.app.repository.get(links_id)
    assert isinstance(links, ProgressLinks)
    numbers = {nonce: n for n, nonce in enumerate(links.links, start=1)}
    return {**found.page, "items": [redacted(item, numbers) for item in found.page["items"]]}


def redacted(item: dict[str, Any], numbers: dict[str, int]) -> dict[str, Any]:
    """The history entry with each nonce field as its link's number, and any other mention of
    a nonce (in a reason, say) replaced by that number too."""
    changes = dict(item["changes"])
    for name in NONCE_FIELDS:
        if changes.get(name) is not None:
            changes[name] = numbers[changes[name]]
    if "nonce" in changes:
        changes["link"] = changes.pop("nonce")
    scrubbed: dict[str, Any] = _scrubbed({**item, "changes": changes}, numbers)
    return scrubbed


def _scrubbed(value: Any, numbers: dict[str, int]) -> Any:
    if isinstance(value, str):
        for nonce, n in numbers.items():
            value = value.replace(nonce, f"link {n}")
        return value
    if isinstance(value, dict):
        return {k: _scrubbed(v, numbers) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v, numbers) for v in value]
    return value
