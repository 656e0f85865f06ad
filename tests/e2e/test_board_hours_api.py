"""The dispatch board shows every hours figure in one form, the technicians' KPIs' own: a
string with two decimals (`domain/kpi_figures.py`). A job's hours, the open load and today's
available, clocked and sold hours came as "2.0", "1.5", "4" and "0.00" in one answer, as each
was recorded, summed or divided."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from tests.e2e.test_change_of_mind_api import CLEAN, PADS, PHONE, _visit
from tests.e2e.test_money_api import ready_for_settlement
from tests.e2e.test_parts_api import get, head, post

Auth = Callable[..., dict[str, str]]
HOURS = re.compile(r"[0-9]+\.[0-9]{2}")


def _hours_figures(board: dict[str, Any]) -> list[str]:
    """Every hours figure of the board: each job's, each technician's open load and today's."""
    jobs = [j for t in board["technicians"] for j in t["queue"]] + board["waiting"]
    return ([j["hours"] for j in jobs] + [t["open_load_hours"] for t in board["technicians"]]
            + [v for t in board["technicians"] for v in t["today"].values()])


def test_every_hours_figure_of_the_board_has_two_decimals_as_the_kpis(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    tech = "tech-" + store_id
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    # A visit worked and passed today: 1.5 h sold to the store's technician (on its roster).
    ready_for_settlement(client, auth, store_id)
    # Today's shift, and the technician in for 4 hours of it.
    post(client, f"/technicians/{tech}/shifts", manager, {"shifts": [
        {"day": today, "start": "00:00", "end": "23:59", "break_minutes": 60}]})
    seen = post(client, f"/technicians/{tech}/attendance", manager,
                {"day": today, "status": "partial", "hours": "4"})
    assert seen["available_hours"] == "4.00"
    # Another visit dispatched to them: 1.5 h + 0.5 h of approved labor, the open load.
    wo = _visit(client, advisor, store_id)
    for line in (PADS, CLEAN):
        line_id = post(client, f"{wo}/jobs/1/labor-lines", advisor, line)["line_id"]
        post(client, f"{wo}/lines/{line_id}/authorization", advisor, PHONE)
    post(client, f"{wo}/jobs/1/dispatch", manager, {"technician_id": tech})
    # A third waits for a technician: 1.5 h approved.
    waiting = _visit(client, advisor, store_id)
    line_id = post(client, f"{waiting}/jobs/1/labor-lines", advisor, PADS)["line_id"]
    post(client, f"{waiting}/lines/{line_id}/authorization", advisor, PHONE)

    board = get(client, "/dispatch/board", manager, store_id=store_id, wait_for=head(client))
    mine = next(t for t in board["technicians"] if t["user_id"] == tech)
    assert mine["open_load_hours"] == "2.00"
    assert [j["hours"] for j in mine["queue"]] == ["2.00"]
    assert [j["hours"] for j in board["waiting"]] == ["1.50"]
    # Today's figures are the KPIs' figures for the same day, in the same form.
    kpi = get(client, "/technicians/kpi", manager, store_id=store_id, user_id=tech,
              from_day=today, to_day=today)["items"]
    assert mine["today"] == {key: kpi[0][key] for key in
                             ("available_hours", "clocked_hours", "sold_hours")}
    assert mine["today"]["available_hours"] == "4.00"
    assert mine["today"]["sold_hours"] == "1.50"
    assert [h for h in _hours_figures(board) if not HOURS.fullmatch(h)] == []


def test_a_technician_without_hours_today_shows_zeros_of_one_form(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    tech = "tech-" + store_id
    post(client, f"/technicians/{tech}/profile", manager,
         {"store_id": store_id, "skills": {}, "hourly_cost": "85.00"})
    board = get(client, "/dispatch/board", manager, store_id=store_id, wait_for=head(client))
    mine = next(t for t in board["technicians"] if t["user_id"] == tech)
    assert mine["open_load_hours"] == "0.00"
    assert mine["today"] == {"available_hours": "0.00", "clocked_hours": "0.00",
                             "sold_hours": "0.00"}
