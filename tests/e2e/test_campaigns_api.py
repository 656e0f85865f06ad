"""OEM campaigns over HTTP on PostgreSQL: a manager registers a recall and imports its VINs in
chunks (the same chunk again stores nothing, a bad VIN refuses the whole chunk); the desk sees
the car's open campaign when it opens and checks in the visit and on the work order; a settled
visit with a line of the campaign marks the car done, which a re-import never undoes; the
campaign shows its counts and the cars on file not done yet; closed, it is offered no more.
The view rebuilt from event 0 equals the live one."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from projections.base import rows
from projections.work_orders import work_order_with_campaigns
from servicecore import cli
from servicecore.container import Container
from tests.conftest import JWT_SECRET
from tests.e2e.desk_clock import commands_at, this_morning, today
from tests.e2e.scope_dataset import event_count
from tests.e2e.test_labor_operations_api import refused
from tests.e2e.test_money_api import ready_for_settlement
from tests.e2e.test_parts_api import Auth, get, head, post
from tests.integration.audit_support import new_vin
from tests.integration.test_parts_support import wait_for_projection


def campaign(client: TestClient, manager: dict[str, str], **overrides: Any) -> str:
    number = "RC" + uuid.uuid4().hex[:8].upper()
    made = post(client, "/campaigns", manager, {
        "campaign_no": number.lower(), "brand": "Volkswagen", "kind": "safety_recall",
        "title": "召回: 燃油泵控制单元软件升级",
        "starts_on": (today() - timedelta(days=1)).isoformat(), "op_codes": ["ecu-upd"],
        **overrides}, 201)
    assert made["campaign_no"] == number
    return number


def settled(client: TestClient, auth: Auth, store_id: str, vin: str, number: str) -> str:
    """A visit of the car with an approved warranty line of campaign `number`, settled."""
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    _, wo_id = ready_for_settlement(client, auth, store_id, warranty_labor=True, vin=vin,
                                    campaign_no=number)
    sid = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)["id"]
    confirmed = post(client, f"/settlements/{sid}/confirmation", cashier)
    paid = post(client, "/payments", cashier, {
        "work_order_id": wo_id, "method": "cash",
        "amount": confirmed["bills"]["customer"]["outstanding"]}, 201)
    assert paid["settled"] is True
    return str(wo_id)


def numbers(found: list[dict[str, Any]]) -> list[str]:
    return [c["campaign_no"] for c in found]


def test_a_recall_is_offered_at_reception_until_a_settled_visit_does_it(
        client: TestClient, auth: Auth, store_id: str, container: Container) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    number = campaign(client, manager)
    # The desk may not register one; the same number again is a 409; nothing stored either.
    refused(client, container, "POST", "/campaigns", advisor, {
        "campaign_no": "X1", "brand": "VW", "kind": "safety_recall", "title": "t",
        "starts_on": today().isoformat()}, 403)
    refused(client, container, "POST", "/campaigns", manager, {
        "campaign_no": number, "brand": "Audi", "kind": "service_campaign", "title": "t",
        "starts_on": today().isoformat()}, 409)

    # The OEM's list comes in two chunks; the first again adds nothing and stores nothing.
    done_car, open_car, elsewhere = new_vin(), new_vin(), new_vin()
    first = post(client, f"/campaigns/{number}/vins", manager, {"vins": [done_car, open_car]})
    assert (first["added"], first["already_listed"], first["affected"]) == (2, 0, 2)
    before = event_count(container)
    again = post(client, f"/campaigns/{number}/vins", manager,
                 {"vins": [open_car.lower(), done_car]})
    assert (again["added"], again["already_listed"], again["affected"]) == (0, 2, 2)
    assert event_count(container) == before
    assert post(client, f"/campaigns/{number}/vins", manager,
                {"vins": [elsewhere, done_car]})["added"] == 1
    # One bad VIN refuses its chunk; so does a chunk over the limit.
    problem = refused(client, container, "POST", f"/campaigns/{number}/vins", manager,
                      {"vins": [new_vin(), "LSVAU218XN2183295"]}, 422)
    assert "VIN 2" in problem["detail"]
    refused(client, container, "POST", f"/campaigns/{number}/vins", manager,
            {"vins": [new_vin()] * 5001}, 422)

    # A visit of the first car does the recall and is settled.
    wo_done = settled(client, auth, store_id, done_car, number)

    # The second car arrives: its open recall comes with the opening, the check-in and the
    # work order the desk reads.
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "王伟", "phone": "13800000003"},
        "vehicle": {"vin": open_car, "plate": "沪B54321"}, "mileage": 41000,
        "complaints": ["oil service"]}, 201)
    assert numbers(opened["open_campaigns"]) == [number]
    wo = f"/work-orders/{opened['id']}"
    checked = post(client, f"{wo}/check-in", advisor, {"mileage_in": 41010, "fuel_level": 60})
    assert numbers(checked["open_campaigns"]) == [number]
    shown = checked["open_campaigns"][0]
    assert (shown["kind"], shown["remedy"]["op_codes"], shown["ends_on"]) == (
        "safety_recall", ["ECU-UPD"], None)
    assert numbers(get(client, wo, advisor, wait_for=head(client))["open_campaigns"]) == [number]

    # The car file: one recall open, the other car's done by its settled visit.
    wait = head(client)
    mine = get(client, f"/vehicles/{open_car}/campaigns", advisor, wait_for=wait)
    assert (numbers(mine["open_campaigns"]), mine["done_campaigns"]) == ([number], [])
    theirs = get(client, f"/vehicles/{done_car}/campaigns", advisor)
    assert theirs["open_campaigns"] == []
    assert [(d["campaign_no"], d["work_order_id"]) for d in theirs["done_campaigns"]] == [
        (number, wo_done)]
    assert get(client, f"/work-orders/{wo_done}", advisor)["open_campaigns"] == []

    # The campaign: three cars listed, one done, two on file here and one of them not done.
    detail = get(client, f"/campaigns/{number.lower()}", advisor)
    assert (detail["affected"], detail["done"], detail["on_file"],
            detail["not_done_on_file"], detail["closed"]) == (3, 1, 2, 1, False)
    todo = get(client, f"/campaigns/{number}/not-done", advisor)
    assert (todo["total"], [v["vin"] for v in todo["items"]]) == (1, [open_car])
    # Another store's token: the cars are not on its file.
    other = auth("advisor", "adv-other", [store_id + "X"])
    assert get(client, f"/campaigns/{number}/not-done", other)["total"] == 0
    get(client, f"/vehicles/{open_car}/campaigns", other, status=404)

    # The OEM's list imported again does not undo the car done.
    post(client, f"/campaigns/{number}/vins", manager, {"vins": [done_car, open_car]})
    assert get(client, f"/campaigns/{number}", advisor, wait_for=head(client))["done"] == 1

    # Closed with a reason, it is offered no more and takes nothing more.
    post(client, f"/campaigns/{number}/close", manager, {"reason": "the OEM closed it"})
    assert get(client, f"/vehicles/{open_car}/campaigns", advisor,
               wait_for=head(client))["open_campaigns"] == []
    refused(client, container, "POST", f"/campaigns/{number}/close", manager,
            {"reason": "again"}, 409)
    refused(client, container, "POST", f"/campaigns/{number}/vins", manager,
            {"vins": [new_vin()]}, 409)
    get(client, "/campaigns/NO-SUCH-CAMPAIGN", advisor, status=404)


def test_a_booked_car_arriving_is_shown_its_open_campaign(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    vin = new_vin()
    number = campaign(client, manager)
    post(client, f"/campaigns/{number}/vins", manager, {"vins": [vin]})
    post(client, "/appointments/capacity", manager, {
        "store_id": store_id, "from_day": today().isoformat(), "to_day": today().isoformat(),
        "opens": "08:00", "closes": "18:00", "bays": 2, "skill_hours": {"chassis": 8}})
    customer = post(client, "/customers", advisor, {
        "store_id": store_id, "name": "王芳", "phones": ["13700001111"]}, 201)
    with commands_at(this_morning()):  # booked before its slot
        booked = post(client, "/appointments", advisor, {
            "store_id": store_id, "customer_id": customer["id"], "vehicle": {"vin": vin},
            "day": today().isoformat(), "arrival": "09:00", "kind": "maintenance",
            "services": [{"description": "brake noise", "op_code": "BRK01", "hours": "1.5"}]}, 201)
    arrived = post(client, f"/appointments/{booked['id']}/arrival", advisor,
                   {"mileage": 30_000, "complaints": []}, 201)
    assert numbers(arrived["open_campaigns"]) == [number]


def test_a_campaign_not_running_today_is_not_offered(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    vin = new_vin()
    post(client, "/vehicles", manager, {"store_id": store_id, "vin": vin}, 201)
    later = campaign(client, manager, starts_on=(today() + timedelta(days=3)).isoformat())
    over = campaign(client, manager, starts_on=(today() - timedelta(days=30)).isoformat(),
                    ends_on=(today() - timedelta(days=1)).isoformat(), kind="service_campaign")
    running = campaign(client, manager, ends_on=today().isoformat(), kind="service_campaign")
    for number in (later, over, running):
        post(client, f"/campaigns/{number}/vins", manager, {"vins": [vin]})
    found = get(client, f"/vehicles/{vin}/campaigns", manager, wait_for=head(client))
    assert numbers(found["open_campaigns"]) == [running]


def test_the_work_order_shows_the_car_files_open_campaigns_read_in_one_statement(
        client: TestClient, auth: Auth, store_id: str, container: Container) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    vin = new_vin()
    post(client, "/vehicles", manager, {"store_id": store_id, "vin": vin}, 201)
    # Running ones in start-day order (one ending today, one with remedy parts), and three the
    # desk is not offered: not started, over, closed.
    earlier = campaign(client, manager, starts_on=(today() - timedelta(days=9)).isoformat(),
                       ends_on=today().isoformat(), kind="service_campaign",
                       parts=["06H-115-562"])
    running = campaign(client, manager)
    later = campaign(client, manager, starts_on=(today() + timedelta(days=3)).isoformat())
    over = campaign(client, manager, starts_on=(today() - timedelta(days=30)).isoformat(),
                    ends_on=(today() - timedelta(days=1)).isoformat())
    closed = campaign(client, manager)
    for number in (running, earlier, later, over, closed):
        post(client, f"/campaigns/{number}/vins", manager, {"vins": [vin]})
    post(client, f"/campaigns/{closed}/close", manager, {"reason": "the OEM closed it"})
    car = get(client, f"/vehicles/{vin}/campaigns", advisor, wait_for=head(client))
    assert numbers(car["open_campaigns"]) == [earlier, running]
    assert car["open_campaigns"][0]["ends_on"] == today().isoformat()
    opened = post(client, "/work-orders", advisor, {  # once the view has the closing
        "store_id": store_id, "customer": {"name": "李娜", "phone": "13800000004"},
        "vehicle": {"vin": vin, "plate": "沪C12345"}, "mileage": 12000,
        "complaints": ["recall letter"]}, 201)
    read = get(client, f"/work-orders/{opened['id']}", advisor, wait_for=head(client))
    # the same objects, field by field and in order, as the car file and the opening show
    assert read["open_campaigns"] == car["open_campaigns"] == opened["open_campaigns"]
    assert [list(c) for c in read["open_campaigns"]] == [list(c) for c in car["open_campaigns"]]

    # The document and the car's campaigns come in one statement (one round trip).
    reading = work_order_with_campaigns(uuid.UUID(opened["id"]), [store_id], today())
    statements = next(reading)
    assert len(statements) == 1
    with container.pool.connection() as conn, pytest.raises(StopIteration) as done:
        reading.send([rows(conn, *statements[0])])
    assert numbers(done.value.value["open_campaigns"]) == [earlier, running]
    # a work order of a store the caller does not hold: none, campaigns or not
    other = work_order_with_campaigns(uuid.UUID(opened["id"]), ["S99"], today())
    with container.pool.connection() as conn, pytest.raises(StopIteration) as done:
        other.send([rows(conn, *next(other)[0])])
    assert done.value.value is None


def test_the_campaigns_view_rebuilt_equals_the_live_one(
        client: TestClient, auth: Auth, store_id: str, container: Container,
        database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    number = campaign(client, manager)
    vins = [new_vin() for _ in range(3)]
    post(client, f"/campaigns/{number}/vins", manager, {"vins": vins})
    settled(client, auth, store_id, vins[0], number)
    post(client, f"/campaigns/{number}/close", manager, {"reason": "the OEM closed it"})
    wait_for_projection(container, "campaigns")
    tables = ("campaigns", "campaign_vins", "campaign_visits", "campaign_lines",
              "campaign_done")

    def content() -> list[str]:
        with container.pool.connection() as conn:
            return [row[0] for table in tables for row in conn.execute(
                f"SELECT t::text FROM {table} t ORDER BY t::text").fetchall()]

    live = content()
    assert sum(number in row for row in live) >= 3 + 1 + 1 + 1
    for name, value in (("DATABASE_URL", database_url), ("SERVICECORE_JWT_SECRET", JWT_SECRET),
                        ("SERVICECORE_DATA_DIR", str(tmp_path)),
                        ("SERVICECORE_PROJECTION_BATCH_SIZE", "3")):
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert cli.main(["projections", "rebuild", "--name", "campaigns"]) == 0
    assert content() == live
    assert cli.main(["audit", "views", "--view", "campaigns"]) == 0
    assert '"ok": true' in capsys.readouterr().out
