"""/health: database reachable, the log's head and each projection's lag."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import Ctx

router = APIRouter(tags=["health"])


@router.get("/health")
def health(ctx: Ctx) -> Any:
    try:
        with ctx.pool.connection() as conn:
            head = conn.execute(
                "SELECT coalesce(max(notification_id), 0) FROM servicecore_events").fetchone()
            rows = conn.execute(
                "SELECT name, position FROM projection_positions WHERE name = ANY(%s)",
                (ctx.projection_names,)).fetchall()
    except Exception as exc:  # noqa: BLE001 - the database is down: say so, with 503
        return JSONResponse({"status": "unavailable", "database": str(exc)}, status_code=503)
    head_id = int(head[0]) if head else 0
    positions = {name: 0 for name in ctx.projection_names} | {r[0]: int(r[1]) for r in rows}
    return {
        "status": "ok",
        "database": "reachable",
        "head_notification_id": head_id,
        "projections": {name: {"position": pos, "lag": head_id - pos}
                        for name, pos in positions.items()},
    }
