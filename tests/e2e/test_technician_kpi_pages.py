"""`GET /technicians/kpi` pages in SQL: a page computes the figures of its own rows only (it
built every technician's row over the whole range before, and then cut the page), and the
pages, joined, are the whole list in the order it always had: by day and user id, or (`by=
period`) by user id and store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections import workshop_queries
from tests.e2e.test_parts_api import get, head, post

Auth = Callable[..., dict[str, str]]
SHANGHAI = ZoneInfo("Asia/Shanghai")


def staffed_stores(client: TestClient, auth: Auth, store_id: str) -> tuple[dict[str, str],
                                                                            dict[str, Any]]:
    """Seven technicians in two stores (user ids in mixed case, as a code point order and a
    locale's differ on them), each with shifts on one to four of the next four days: a
    manager of both stores, and the query over those days."""
    other = "O" + store_id[1:]
    manager = auth("manager", "mgr-" + store_id, [store_id, other])
    first = datetime.now(SHANGHAI).date() + timedelta(days=1)
    staff = [("amy", store_id, 4), ("Bob", store_id, 2), ("bea", other, 3), ("Zed", other, 4),
             ("cai", store_id, 1), ("Dan", other, 2), ("eve", other, 4)]
    for name, store, days in staff:
        user = f"{name}-{store_id}"
        post(client, f"/technicians/{user}/profile", manager,
             {"store_id": store, "skills": {}, "hourly_cost": "85.00", "name": name})
        post(client, f"/technicians/{user}/shifts", manager, {"shifts": [
            {"day": (first + timedelta(days=n)).isoformat(), "start": "08:00",
             "end": "17:00" if n % 2 else "12:30", "break_minutes": 60 if n % 2 else 0}
            for n in range(4 - days, 4)]})
    return manager, {"from_day": first.isoformat(),
                     "to_day": (first + timedelta(days=3)).isoformat(),
                     "wait_for": head(client)}


@pytest.mark.parametrize("by", ["day", "period"])
def test_the_pages_joined_are_the_whole_list_in_its_order(client: TestClient, auth: Auth,
                                                          store_id: str, by: str) -> None:
    manager, query = staffed_stores(client, auth, store_id)
    whole = get(client, "/technicians/kpi", manager, by=by, limit=1000, **query)
    rows = whole["items"]
    assert whole["total"] == len(rows) == (20 if by == "day" else 7)
    if by == "day":
        assert [r["day"] for r in rows] == sorted(r["day"] for r in rows)
        assert len({(r["day"], r["user_id"]) for r in rows}) == len(rows)
    else:  # by user id and store, code point by code point, as Python sorted them
        assert [(r["user_id"], r["store_id"]) for r in rows] == sorted(
            (r["user_id"], r["store_id"]) for r in rows)
        assert {r["user_id"].split("-")[0]: r["days"] for r in rows} == {
            "amy": 4, "Bob": 2, "bea": 3, "Zed": 4, "cai": 1, "Dan": 2, "eve": 4}
        assert {r["name"] for r in rows} == {"amy", "Bob", "bea", "Zed", "cai", "Dan", "eve"}

    @settings(max_examples=20, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(limit=st.integers(1, 9), offset=st.integers(0, 3))
    def pages_make_the_list(limit: int, offset: int) -> None:
        joined: list[Any] = []
        start = offset
        while True:
            page = get(client, "/technicians/kpi", manager, by=by, limit=limit, offset=start,
                       **query)
            assert (page["total"], page["limit"], page["offset"]) == (len(rows), limit, start)
            assert page["items"] == rows[start:start + limit]
            joined += page["items"]
            start += limit
            if start >= len(rows):
                break
        assert joined == rows[offset:]

    pages_make_the_list()


@pytest.mark.parametrize("by", ["day", "period"])
def test_a_page_computes_only_its_own_rows(client: TestClient, auth: Auth, store_id: str,
                                           by: str, monkeypatch: pytest.MonkeyPatch) -> None:
    manager, query = staffed_stores(client, auth, store_id)
    computed: list[str] = []
    kpi_row = workshop_queries._kpi_row

    def counted(r: dict[str, Any], shown_by: str) -> dict[str, Any]:
        computed.append(r["user_id"])
        return kpi_row(r, shown_by)

    monkeypatch.setattr(workshop_queries, "_kpi_row", counted)
    page = get(client, "/technicians/kpi", manager, by=by, limit=2, offset=3, **query)
    assert page["total"] == (20 if by == "day" else 7) and len(page["items"]) == 2
    assert computed == [r["user_id"] for r in page["items"]]
