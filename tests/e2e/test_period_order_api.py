"""A list read over a period refuses a period that runs backwards, one way on every route:
422 problem+json naming the period's end (`date_to`, `at_to`, `opened_to`), where a period
running forwards, or open at either end, is read."""

from __future__ import annotations

import re
import types
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from api.db_deadline import DbDeadline
from api.main import create_app
from tests.e2e.test_parts_api import Auth

PERIODS = [
    ("/payments", "finance", "date_from", "date_to", "2026-05-02", "2026-05-01"),
    ("/refunds", "manager", "date_from", "date_to", "2026-05-02", "2026-05-01"),
    ("/write-offs", "finance", "date_from", "date_to", "2026-05-02", "2026-05-01"),
    ("/stock/movements", "auditor", "at_from", "at_to", "2026-05-02T00:00:00Z",
     "2026-05-01T00:00:00Z"),
    ("/work-orders", "manager", "opened_from", "opened_to", "2026-05-02T00:00:00+08:00",
     "2026-05-01T23:59:59+08:00"),
]


@pytest.mark.parametrize(("url", "role", "start", "end", "later", "earlier"), PERIODS)
def test_a_period_running_backwards_is_refused_naming_its_end(
        client: TestClient, auth: Auth, store_id: str, url: str, role: str, start: str,
        end: str, later: str, earlier: str) -> None:
    headers = auth(role, f"{role}-{store_id}", [store_id])
    backwards = client.get(url, headers=headers, params={start: later, end: earlier})
    assert backwards.status_code == 422, backwards.text
    assert backwards.headers["content-type"] == "application/problem+json"
    assert backwards.json()["field"] == end
    for params in ({start: earlier, end: later}, {start: later, end: later}, {start: later},
                   {end: earlier}):
        read = client.get(url, headers=headers, params=params)
        assert read.status_code == 200, (params, read.text)
        assert read.json()["total"] == 0


# Every GET taking a period (`x_from`/`x_to`, `from_x`/`to_x`, `from`/`to`), found in the
# OpenAPI document: how each is called. A route with a new period joins here, or the walk
# below fails for it.
CALLS: dict[str, dict[str, str]] = {
    "/analytics/dashboard": {}, "/analytics/kpis/{name}": {"name": "technician_efficiency"},
    "/appointments/availability": {"store_id": "{store}"},
    "/audit/chain/export": {}, "/audit/chain/verify": {}, "/audit/log": {"kind": "moment"},
    "/audit/serial-conflicts": {}, "/audit/warranty-claims": {}, "/day-end": {},
    "/ledger/trial-balance": {}, "/online-bookings/availability": {"store_id": "{store}"},
    "/payments": {}, "/refunds": {}, "/stock/movements": {},
    "/stores/{store_id}/lost-sales": {"role": "advisor"}, "/technicians": {},
    "/technicians/kpi": {}, "/technicians/{user_id}": {"user_id": "tech-{store}"},
    "/warranty-claims": {}, "/work-orders": {}, "/write-offs": {},
}
KINDS = {"date": "day", "date-time": "moment", "integer": "id", "string": "day"}


def _document() -> dict[str, Any]:
    ctx = types.SimpleNamespace(app=types.SimpleNamespace(snapshots=None),
                                max_body_bytes=262144, db_deadline=DbDeadline())
    return create_app(ctx).openapi()  # type: ignore[arg-type]


def _kind(parameter: dict[str, Any]) -> str:
    schema = parameter.get("schema", {})
    schema = next((s for s in schema.get("anyOf", []) if s.get("type") != "null"), schema)
    return KINDS[schema.get("format") or schema["type"]]


def periods() -> list[tuple[str, str, str, str]]:
    """(path, start, end, what they hold) of every GET with a period in its query."""
    found = []
    for path, operations in _document()["paths"].items():
        query = {p["name"]: p for p in operations.get("get", {}).get("parameters", [])
                 if p["in"] == "query"}
        for name, parameter in query.items():
            pair = re.fullmatch(r"(.*_)?from(_.*)?", name)
            end = pair and (pair[1] or "") + "to" + (pair[2] or "")
            if end in query:
                kind = CALLS.get(path, {}).get("kind") or _kind(parameter)
                found.append((path, name, end, kind))
    return found


def _backwards(kind: str) -> tuple[str, str]:
    """(later, earlier): two days, moments or ids a period may not run between."""
    if kind == "id":
        return "5", "4"
    later = datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=2)
    if kind == "day":  # in the future: online bookings take no day past
        return later.isoformat(), (later - timedelta(days=1)).isoformat()
    return f"{later}T00:00:00+08:00", f"{later - timedelta(days=1)}T23:59:59+08:00"


@pytest.mark.parametrize(("path", "start", "end", "kind"), periods())
def test_every_period_running_backwards_is_refused_in_the_same_words(
        client: TestClient, auth: Auth, store_id: str, path: str, start: str, end: str,
        kind: str) -> None:
    assert path in CALLS, f"GET {path} takes a period: say in CALLS how it is called"
    call = {k: v.format(store=store_id) for k, v in CALLS[path].items()}
    headers = auth(call.pop("role", "manager"), f"reader-{store_id}", [store_id])
    call.pop("kind", None)
    later, earlier = _backwards(kind)
    url = path.format(**{"store_id": store_id, **call})
    query = {k: v for k, v in call.items() if "{" + k + "}" not in path}
    like = client.get("/payments", headers=auth("finance"),
                      params={"date_from": "2026-05-02", "date_to": "2026-05-01"}).json()
    refused = client.get(url, headers=headers, params={**query, start: later, end: earlier})
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert body["field"] == end, body
    assert body["detail"] == f"{end} {earlier} is before {start} {later}", body
    assert set(body) == set(like), body
