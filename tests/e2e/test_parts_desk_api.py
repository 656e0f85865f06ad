"""The parts desk, over HTTP: the approved part lines of open work orders still to issue — to
pick (units reserved), on back order, on special order — each with what the store has
available now and whether that covers it; a line leaves the desk when it is issued in full,
withdrawn, or its visit is cancelled, and comes back with what a return leaves short; scoped
to the caller's stores; the view rebuilt from the events equals the live one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from servicecore import cli
from servicecore.container import Container
from tests.conftest import JWT_SECRET
from tests.e2e.test_parts_api import Auth, head, new_part, post, ready_visit, received_part
from tests.integration.test_parts_support import wait_for_projection
from tests.scratch_systems import ServedScratch, served_module

served, container, client = served_module("sc_parts_desk", projections=True)


def desk(client: TestClient, headers: dict[str, str], status: int = 200,
         **query: Any) -> dict[str, Any]:
    asked = {"wait_for": head(client), **query}  # read what was written
    answer = client.get("/parts-desk", headers=headers, params=asked)
    assert answer.status_code == status, answer.text
    return answer.json()  # type: ignore[no-any-return]


def rows(client: TestClient, headers: dict[str, str], store_id: str,
         **query: Any) -> dict[str, dict[str, Any]]:
    """The desk's rows of the store, by part number (one line each in these tests)."""
    found = desk(client, headers, store_id=store_id, **query)
    assert found["total"] == len(found["items"])
    return {row["part_number"]: row for row in found["items"]}


def test_a_line_to_pick_until_issued_and_back_after_a_return(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id])
    number = received_part(client, clerk, store_id, 5)
    # Approved and dispatched: two sets reserved, to pick.
    wo, line = ready_visit(client, auth, store_id, number, qty="2")
    [row] = rows(client, clerk, store_id, state="to_pick").values()
    assert (row["part_number"], row["line_id"], row["state"], row["supply"]) == (
        number, line, "to_pick", "reserved")
    assert (row["approved_qty"], row["reserved_qty"], row["issued_qty"], row["returned_qty"],
            row["outstanding_qty"]) == ("2", "2", "0", "0", "2")
    assert (row["available_now"], row["covered_now"], row["covered_in_turn"]) == (
        "3", True, True)
    assert (row["work_order_id"], row["job_no"], row["job"]) == (
        wo.rsplit("/", 1)[1], 1, "brake noise")
    assert row["work_order_number"].startswith(f"WO-{store_id}-")
    assert row["technician_id"] == "tech-" + store_id
    assert row["approved_at"] and row["waiting_hours"] == 0
    assert rows(client, clerk, store_id, state="back_order") == {}
    # One set issued: the rest still to pick.
    post(client, f"{wo}/lines/{line}/issue", clerk, {"qty": 1})
    row = rows(client, clerk, store_id)[number]
    assert (row["issued_qty"], row["reserved_qty"], row["outstanding_qty"]) == ("1", "1", "1")
    # The rest issued: off the desk.
    post(client, f"{wo}/lines/{line}/issue", clerk, {})
    assert rows(client, clerk, store_id) == {}
    # A set comes back unused while the job is open: reserved again, to pick again.
    post(client, f"{wo}/lines/{line}/return", clerk, {"qty": 1, "reason": "one set unused"})
    row = rows(client, clerk, store_id, state="to_pick")[number]
    assert (row["issued_qty"], row["returned_qty"], row["reserved_qty"],
            row["outstanding_qty"]) == ("1", "1", "1", "1")


def test_a_withdrawn_line_and_a_cancelled_visit_leave_the_desk(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk, advisor = (auth("parts_clerk", "clerk-" + store_id, [store_id]),
                      auth("advisor", "adv-" + store_id, [store_id]))
    kept, withdrawn, cancelled = (received_part(client, clerk, store_id, 5) for _ in range(3))
    ready_visit(client, auth, store_id, kept)
    wo_w, line_w = ready_visit(client, auth, store_id, withdrawn)
    wo_c, _ = ready_visit(client, auth, store_id, cancelled)
    assert set(rows(client, clerk, store_id)) == {kept, withdrawn, cancelled}
    post(client, f"{wo_w}/lines/{line_w}/withdrawal", advisor,
         {"reason": "customer brings their own pads"})
    post(client, f"{wo_c}/cancel", advisor, {"reason": "customer took the car away"})
    assert set(rows(client, clerk, store_id)) == {kept}


def test_a_back_order_shows_covered_once_a_receipt_covers_it(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    number = received_part(client, clerk, store_id, 1)
    # Two visits need two sets each; the store has one: both wait on back order.
    first, first_line = ready_visit(client, auth, store_id, number, qty="2")
    ready_visit(client, auth, store_id, number, qty="2")
    waiting = desk(client, clerk, store_id=store_id, state="back_order")["items"]
    assert (waiting[0]["work_order_id"], waiting[0]["supply"], waiting[0]["reserved_qty"],
            waiting[0]["outstanding_qty"], waiting[0]["available_now"]) == (
        first.rsplit("/", 1)[1], "back_order", "0", "2", "1")
    assert [r["covered_now"] for r in waiting] == [False, False]
    assert desk(client, clerk, store_id=store_id, state="to_pick")["total"] == 0
    # A delivery of two: each line alone is covered, but served oldest first only the first.
    post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": 2, "unit_cost": "200.00", "supplier": "S", "supplier_doc": "DN-2"}, 201)
    waiting = desk(client, clerk, store_id=store_id, state="back_order")["items"]
    assert [(r["available_now"], r["covered_now"], r["covered_in_turn"]) for r in waiting] == [
        ("3", True, True), ("3", True, False)]
    assert waiting[0]["work_order_id"] == first.rsplit("/", 1)[1]  # the longest waiting first
    # The clerk reserves the first: it is to pick; the second is short again.
    post(client, f"{first}/lines/{first_line}/reservation", manager)
    [picked] = desk(client, clerk, store_id=store_id, state="to_pick")["items"]
    assert (picked["supply"], picked["reserved_qty"], picked["available_now"],
            picked["covered_now"]) == ("reserved", "2", "1", True)
    [left] = desk(client, clerk, store_id=store_id, state="back_order")["items"]
    assert (left["available_now"], left["covered_now"], left["covered_in_turn"]) == (
        "1", False, False)
    # The next delivery covers it.
    post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": 1, "unit_cost": "200.00", "supplier": "S", "supplier_doc": "DN-3"}, 201)
    [left] = desk(client, clerk, store_id=store_id, state="back_order")["items"]
    assert (left["available_now"], left["covered_now"], left["covered_in_turn"]) == (
        "2", True, True)


def test_a_back_order_moved_to_a_follow_on_visit_waits_there(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id])
    number = received_part(client, clerk, store_id, 1)
    wo, line = ready_visit(client, auth, store_id, number, qty="2")
    [before] = desk(client, clerk, store_id=store_id)["items"]
    moved = post(client, f"{wo}/follow-on", clerk,
                 {"line_ids": [line], "reason": "pads back-ordered; the car goes home"}, 201)
    # The line waits on the follow-on visit, as long as it waited on the first.
    [after] = desk(client, clerk, store_id=store_id)["items"]
    assert (after["work_order_id"], after["work_order_number"], after["state"],
            after["outstanding_qty"], after["technician_id"]) == (
        moved["follow_on"]["id"], moved["follow_on"]["number"], "back_order", "2", None)
    assert after["approved_at"] == before["approved_at"]


def test_a_special_order_and_the_part_number_filter(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id])
    stocked = received_part(client, clerk, store_id, 5)
    never_held = new_part(client, clerk, min_stock=0)
    ready_visit(client, auth, store_id, stocked)
    ready_visit(client, auth, store_id, never_held)
    [special] = desk(client, clerk, store_id=store_id, state="special_order")["items"]
    assert (special["part_number"], special["supply"], special["available_now"],
            special["covered_now"]) == (never_held, "special_order", "0", False)
    # The part number as a Chinese input method types it, lower case and full width.
    typed = never_held.lower().translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})
    assert [r["part_number"] for r in desk(client, clerk, store_id=store_id,
                                           part_number=typed)["items"]] == [never_held]


def test_only_the_callers_stores_and_roles_and_bad_queries_are_problems(
        client: TestClient, auth: Auth, store_id: str) -> None:
    other_store = store_id + "B"
    ours, theirs = (received_part(client, auth("parts_clerk", "clerk", [s]), s, 5)
                    for s in (store_id, other_store))
    ready_visit(client, auth, store_id, ours)
    ready_visit(client, auth, other_store, theirs)
    mine = auth("parts_clerk", "clerk-" + store_id, [store_id])
    # The clerk's token names one store: the other's lines are never shown, asked or not.
    assert [r["part_number"] for r in desk(client, mine)["items"]] == [ours]
    assert desk(client, mine, store_id=other_store)["total"] == 0
    assert desk(client, mine, part_number=theirs)["total"] == 0
    # A token of both stores sees both; the advisor and the manager read the desk too.
    both = auth("advisor", "adv", [store_id, other_store])
    assert {r["store_id"] for r in desk(client, both)["items"]} == {store_id, other_store}
    assert desk(client, auth("manager", "m", [store_id]))["total"] == 1
    for role in ("technician", "cashier", "auditor"):
        refused = client.get("/parts-desk", headers=auth(role, "x", [store_id]))
        assert refused.status_code == 403, (role, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
    for bad in ({"state": "lost"}, {"limit": "0"}, {"offset": "-1"}, {"part_number": "a b/c"},
                {"store": store_id}, {"store_id": "S" * 65}):
        answer = client.get("/parts-desk", headers=mine, params=bad)
        assert answer.status_code == 422, (bad, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"


def test_a_rebuild_of_the_parts_demand_view_equals_the_live_one(
        client: TestClient, auth: Auth, container: Container, served: ServedScratch,
        store_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    number = received_part(client, clerk, store_id, 3)
    wo, line = ready_visit(client, auth, store_id, number, qty="2")
    post(client, f"{wo}/lines/{line}/issue", clerk, {"qty": 1})
    ready_visit(client, auth, store_id, number, qty="2")  # back order
    wo_c, _ = ready_visit(client, auth, store_id, new_part(client, clerk, min_stock=0))
    post(client, f"{wo_c}/cancel", advisor, {"reason": "not today"})
    wait_for_projection(container, "parts_demand")

    def tables() -> list[list[str]]:
        with container.pool.connection() as conn:
            return [[row[0] for row in conn.execute(
                f"SELECT t::text FROM {table} t ORDER BY {key}").fetchall()]
                for table, key in (("parts_demand", "work_order_id, line_id"),
                                   ("parts_demand_jobs", "work_order_id, job_no"),
                                   ("parts_demand_orders", "work_order_id"))]

    live = tables()
    assert len(live[0]) >= 3
    for name, value in (("DATABASE_URL", served.app_url), ("SERVICECORE_JWT_SECRET", JWT_SECRET),
                        ("SERVICECORE_DATA_DIR", str(tmp_path)),
                        ("SERVICECORE_PROJECTION_BATCH_SIZE", "3")):
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert cli.main(["projections", "rebuild", "--name", "parts_demand"]) == 0
    assert '"projection": "parts_demand"' in capsys.readouterr().out
    assert tables() == live
    assert cli.main(["audit", "views", "--view", "parts_demand"]) == 0
    assert '"ok": true' in capsys.readouterr().out


def test_the_promised_time_and_the_job_of_a_line_added_later(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    number = received_part(client, clerk, store_id, 5)
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "李娜", "phone": "13800000002"},
        "vehicle": {"vin": "LSVAU218XN2183294"}, "mileage": 12000,
        "complaints": ["oil service"]}, 201)
    wo = f"/work-orders/{opened['id']}"
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 12005, "fuel_level": 40,
                                             "promised_at": "2026-05-01T17:00:00+08:00"})
    job = post(client, f"{wo}/jobs", advisor, {"complaint": "squeal when braking"})
    line = post(client, f"{wo}/jobs/{job['job_no']}/part-lines", advisor,
                {"part_number": number, "qty": "1"})
    post(client, f"{wo}/lines/{line['line_id']}/authorization", advisor,
         {"decision": "approved", "channel": "phone"})
    [row] = desk(client, clerk, store_id=store_id)["items"]
    assert (row["job_no"], row["job"], row["promised_at"], row["technician_id"]) == (
        2, "squeal when braking", "2026-05-01T09:00:00Z", None)


def test_each_row_names_the_car_by_its_plate(client: TestClient, auth: Auth,
                                            store_id: str) -> None:
    """The clerk takes the part to the car: the row carries its plate, not only the number."""
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id])
    number = received_part(client, clerk, store_id, 5)
    ready_visit(client, auth, store_id, number)
    [row] = desk(client, clerk, store_id=store_id)["items"]
    assert row["plate"] == "沪A12345"
