"""Dispatching by name wants a technician of the store's roster (the desk and the manager's
override alike), and every list of technicians shows the name of their profile."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from domain.technician import PAST_DAYS
from domain.technicians import SHIFT_WINDOW_DAYS
from servicecore.demo import make_vin
from tests.e2e.test_parts_api import get, head, on_roster, post

Auth = Callable[..., dict[str, str]]
SHANGHAI = ZoneInfo("Asia/Shanghai")


def approved_visit(client: TestClient, auth: Auth, store_id: str) -> str:
    """A checked-in visit whose job 1 has an approved labor line (1.0 h): the work-order URL."""
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "周敏", "phone": "13700000001"},
        "vehicle": {"vin": make_vin(random.Random(store_id)), "plate": "沪C12345",
                    "brand": "Volkswagen"},
        "mileage": 20_000, "complaints": ["brake noise"]}, 201)
    wo = f"/work-orders/{opened['id']}"
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 20_010, "fuel_level": 50})
    line = post(client, f"{wo}/jobs/1/labor-lines", advisor, {
        "op_code": "BRK01", "description": "replace pads", "hours": "1.0",
        "hourly_rate": "300.00"})
    post(client, f"{wo}/lines/{line['line_id']}/authorization", advisor,
         {"decision": "approved", "channel": "phone"})
    return wo


def refused_as_unknown(client: TestClient, url: str, headers: dict[str, str],
                       body: dict[str, object], technician: str) -> None:
    refused = client.post(url, headers=headers, json=body)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"].endswith("/invalid-input") and problem["field"] == "technician_id"
    assert technician in problem["detail"] and "roster" in problem["detail"]


def test_the_desk_dispatches_only_to_a_technician_on_the_stores_roster(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    wo = approved_visit(client, auth, store_id)
    other_store = "O" + store_id[1:]
    on_roster(client, auth("manager", "mgr-o", [other_store]), other_store, f"far-{store_id}")
    on_roster(client, manager, store_id, f"gone-{store_id}")
    post(client, f"/technicians/gone-{store_id}/roster-exit", manager, {"reason": "moved away"})

    # A typo, another store's technician, one who left the roster: 422 naming the field.
    for nobody in (f"nobdy-{store_id}", f"far-{store_id}", f"gone-{store_id}"):
        refused_as_unknown(client, f"{wo}/jobs/1/dispatch", advisor,
                           {"technician_id": nobody}, nobody)
    # Nothing was stored: the job still waits, and no technician was made of the typo.
    wait = head(client)
    doc = get(client, wo, advisor, wait_for=wait)
    assert doc["jobs"][0]["technician_id"] is None and doc["jobs"][0]["status"] == "reported"
    assert get(client, f"/technicians/nobdy-{store_id}", advisor, status=404,
               wait_for=wait)["status"] == 404
    board = get(client, "/dispatch/board", advisor, store_id=store_id)
    assert f"nobdy-{store_id}" not in [t["user_id"] for t in board["technicians"]]
    # The manager's override keeps the same rule (and answers the same way).
    refused_as_unknown(client, "/dispatch/override", manager, {
        "work_order_id": wo.rsplit("/", 1)[1], "job_no": 1,
        "technician_id": f"nobdy-{store_id}", "reason": "the customer asked"},
        f"nobdy-{store_id}")

    # A technician on the roster: the desk's choice stands, no skill or shift asked for.
    tech = f"tech-{store_id}"
    on_roster(client, manager, store_id, tech)
    post(client, f"{wo}/jobs/1/dispatch", advisor, {"technician_id": tech})
    board = get(client, "/dispatch/board", advisor, store_id=store_id, wait_for=head(client))
    mine = next(t for t in board["technicians"] if t["user_id"] == tech)
    assert mine["open_load_hours"] == "1.00" and mine["on_shift"] is False


def test_a_technician_from_a_store_outside_the_token_is_not_found(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    on_roster(client, manager, store_id, f"tech-{store_id}")
    wait = head(client)
    assert get(client, f"/technicians/tech-{store_id}", manager,
               wait_for=wait)["store_id"] == store_id
    elsewhere = auth("advisor", "adv-x", ["X" + store_id[1:]])
    assert get(client, f"/technicians/tech-{store_id}", elsewhere, status=404)["status"] == 404


def test_every_list_of_technicians_shows_their_name(client: TestClient, auth: Auth,
                                                     store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    named, unnamed = f"zhao-{store_id}", f"li-{store_id}"
    today = datetime.now(SHANGHAI).date()
    post(client, f"/technicians/{named}/profile", manager, {
        "store_id": store_id, "skills": {"chassis": 2}, "hourly_cost": "85.00",
        "name": "赵师傅"})
    on_roster(client, manager, store_id, unnamed)
    for tech in (named, unnamed):
        post(client, f"/technicians/{tech}/shifts", manager, {"shifts": [
            {"day": today.isoformat(), "start": "00:00", "end": "23:59", "break_minutes": 0}]})
    # Renamed: the last name given is shown.
    post(client, f"/technicians/{named}/profile", manager, {
        "store_id": store_id, "skills": {"chassis": 2}, "hourly_cost": "85.00",
        "name": "赵工"})
    wait = head(client)

    listed = get(client, "/technicians", manager, store_id=store_id, wait_for=wait)["items"]
    assert [(t["user_id"], t["name"]) for t in listed] == [(unnamed, None), (named, "赵工")]
    assert get(client, f"/technicians/{named}", manager)["name"] == "赵工"
    board = get(client, "/dispatch/board", manager, store_id=store_id)
    assert {t["user_id"]: t["name"] for t in board["technicians"]} == {
        named: "赵工", unnamed: None}
    kpi = get(client, "/technicians/kpi", manager, store_id=store_id,
              from_day=(today - timedelta(days=1)).isoformat(), to_day=today.isoformat())
    assert {(r["user_id"], r["name"]) for r in kpi["items"]} == {
        (named, "赵工"), (unnamed, None)}
    # The two days as one row per technician (the manager's week), named the same way.
    week = get(client, "/technicians/kpi", manager, store_id=store_id, by="period",
               from_day=(today - timedelta(days=1)).isoformat(), to_day=today.isoformat())
    assert {(r["user_id"], r["name"], r["to_day"]) for r in week["items"]} == {
        (named, "赵工", today.isoformat()), (unnamed, None, today.isoformat())}
    assert client.get("/technicians/kpi", headers=manager, params={
        "by": "week", "from_day": today.isoformat(), "to_day": today.isoformat()}
        ).status_code == 422


def test_attendance_and_shift_refusals_say_what_is_missing_or_too_much(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """Partial attendance without its hours is told that the hours are missing (it was told
    that hours are for partial attendance only, the refusal of the opposite mistake); each
    refusal names the `field` a form marks, as the day's limits do."""
    manager = auth("manager", "mgr-" + store_id, [store_id])
    tech = "tech-" + store_id
    on_roster(client, manager, store_id, tech)
    day = datetime.now(SHANGHAI).date().isoformat()  # attendance: today or a past day
    post(client, f"/technicians/{tech}/shifts", manager, {"shifts": [
        {"day": day, "start": "08:30", "end": "17:30", "break_minutes": 60}]})
    url = f"/technicians/{tech}/attendance"
    without = client.post(url, headers=manager, json={"day": day, "status": "partial"})
    assert without.status_code == 422
    assert without.json()["detail"] == "partial attendance needs the hours worked"
    assert without.json()["field"] == "hours"
    extra = client.post(url, headers=manager, json={"day": day, "status": "absent", "hours": "4"})
    assert extra.status_code == 422
    assert extra.json()["detail"] == "hours are given for partial attendance only"
    assert extra.json()["field"] == "hours"
    # A shift that ends before it starts, or a break as long as the shift, names the field.
    for shift, field in (({"start": "17:30", "end": "08:30"}, "end"),
                         ({"start": "08:30", "end": "09:30", "break_minutes": 60},
                          "break_minutes")):
        refused = client.post(f"/technicians/{tech}/shifts", headers=manager,
                              json={"shifts": [{"day": day, **shift}]})
        assert refused.status_code == 422
        assert (refused.json()["field"], refused.json()["day"]) == (field, day)
    done = post(client, url, manager, {"day": day, "status": "partial", "hours": "4"})
    assert done["available_hours"] == "4.00"


def test_shifts_are_planned_within_a_year_of_today(client: TestClient, auth: Auth,
                                                   store_id: str) -> None:
    """A technician keeps every shift planned, and days any distance from today were taken, 62
    a request: 300 requests back to the year 1000 made a 1.8 MB snapshot that every dispatch
    and clock loads, each command 4-15 times slower, without end."""
    manager = auth("manager", "mgr-" + store_id, [store_id])
    tech = "tech-" + store_id
    on_roster(client, manager, store_id, tech)
    today = datetime.now(SHANGHAI).date()
    url = f"/technicians/{tech}/shifts"
    before = head(client)
    for far, limit in ((today - timedelta(days=PAST_DAYS + 1), PAST_DAYS),
                       (today + timedelta(days=SHIFT_WINDOW_DAYS + 1), SHIFT_WINDOW_DAYS),
                       (date(1000, 1, 1), PAST_DAYS)):
        shifts = [{"day": (today + timedelta(days=1)).isoformat(), "start": "08:30",
                   "end": "17:30"}, {"day": far.isoformat(), "start": "08:30", "end": "17:30"}]
        refused = client.post(url, headers=manager, json={"shifts": shifts})
        assert refused.status_code == 422, refused.text
        body = refused.json()
        side = "before" if far < today else "after"
        assert body["detail"] == (f"a shift's day is at most {limit} days {side} "
                                  f"today ({today}), not {far}")
        assert (body["field"], body["limit"]) == ("day", limit)
    assert head(client) == before
    edges = [{"day": (today + timedelta(days=n)).isoformat(), "start": "08:30", "end": "17:30"}
             for n in (-PAST_DAYS, 0, SHIFT_WINDOW_DAYS)]
    assert post(client, url, manager, {"shifts": edges})["days"] == [e["day"] for e in edges]
