"""The front desk and the workshop over HTTP: customer and car on file, one-key lookup, a booked
visit that becomes a work order, auto-dispatch and the manager's override, the board, KPIs,
loyalty points, the customer 360, the due list, and erasure."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from domain.days import add_months
from domain.pii import ERASED
from servicecore.demo import make_vin
from tests.e2e.desk_clock import commands_at, this_morning
from tests.e2e.test_parts_api import head

Auth = Callable[..., dict[str, str]]
SHANGHAI = ZoneInfo("Asia/Shanghai")


def post(client: TestClient, path: str, headers: dict[str, str], body: Any = None,
         status: int = 200) -> dict[str, Any]:
    response = client.post(path, json=body if body is not None else {}, headers=headers)
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


def get(client: TestClient, path: str, headers: dict[str, str], status: int = 200,
        **params: Any) -> Any:
    response = client.get(path, headers=headers, params=params)
    assert response.status_code == status, response.text
    return response.json()


def car(seed: str) -> tuple[str, str]:
    """A VIN with a valid check digit and a plate of our own for this test."""
    rng = random.Random(seed)
    plate = "沪B" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(5))
    return make_vin(rng), plate


def test_a_booked_visit_from_lookup_to_kpis(client: TestClient, auth: Auth,
                                            store_id: str) -> None:
    advisor = auth("advisor", "adv-li", [store_id])
    manager = auth("manager", "mgr-wang", [store_id])
    cashier = auth("cashier", "cash-he", [store_id])
    today = datetime.now(SHANGHAI).date()
    phone = f"139{random.Random(store_id).randrange(10**8):08d}"
    vin, plate = car(store_id)

    # The advisor puts 王芳 on file: two phones, WeChat, consent for SMS and WeChat, a tag.
    customer = post(client, "/customers", advisor, {
        "store_id": store_id, "name": "王芳", "phones": [phone, "021-5555 1234"],
        "wechat_id": "wf_88", "consents": ["sms", "wechat"], "tags": ["Prefers mornings"]}, 201)
    cid = customer["id"]
    post(client, "/vehicles", advisor, {
        "store_id": store_id, "vin": vin, "plate": plate, "brand": "Volkswagen",
        "model": "Lavida", "year": 2022, "sale_date": "2022-06-01", "owner_id": cid}, 201)

    # One key finds her: the phone, its last four digits, the plate, the VIN, her name.
    wait = head(client)
    for key in (phone, phone[-4:], plate, vin, "王芳"):
        found = get(client, "/customers", advisor, q=key, wait_for=wait)
        assert cid in [c["id"] for c in found["items"]], key
    hit = next(c for c in get(client, "/customers", advisor, q=phone)["items"] if c["id"] == cid)
    assert hit["phones"] == [phone, "02155551234"] and hit["plates"] == [plate]
    assert hit["tags"] == ["prefers-mornings"]

    # The manager plans today's and tomorrow's workshop, and three technicians' shifts.
    post(client, "/appointments/capacity", manager, {
        "store_id": store_id, "from_day": today.isoformat(),
        "to_day": (today + timedelta(days=1)).isoformat(), "opens": "08:00", "closes": "18:00",
        "bays": 1, "skill_hours": {"chassis": 3, "maintenance": 8}})
    for user, skills in (("ta", {"chassis": 2}), ("tb", {"chassis": 4, "engine": 3}),
                         ("tc", {"maintenance": 1})):
        tech = f"{user}-{store_id}"
        post(client, f"/technicians/{tech}/profile", manager,
             {"store_id": store_id, "skills": skills, "hourly_cost": "85.00"})
        post(client, f"/technicians/{tech}/shifts", manager, {"shifts": [
            {"day": today.isoformat(), "start": "00:00", "end": "23:59", "break_minutes": 60}]})
    ta, tb = f"ta-{store_id}", f"tb-{store_id}"

    # She books brake work for two hours; a second car wanting two chassis hours gets a 409.
    booking = {"store_id": store_id, "customer_id": cid, "vehicle": {"vin": vin},
               "day": today.isoformat(), "arrival": "09:00", "kind": "maintenance",
               "services": [{"description": "brake noise", "op_code": "BRK01", "hours": "2"}]}
    with commands_at(this_morning()):  # booked before its slot
        booked = post(client, "/appointments", advisor, booking, 201)
    aid = booked["id"]
    assert booked["free"]["chassis"] == "1.00"
    with commands_at(this_morning()):
        refused = client.post("/appointments", headers=advisor,
                              json={**booking, "arrival": "14:00"})
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["problems"][0]["skill"] == "chassis"
    # Moving her to tomorrow frees today's hours; she then takes the 08:00 slot today.
    post(client, f"/appointments/{aid}/reschedule", advisor,
         {"day": (today + timedelta(days=1)).isoformat(), "arrival": "10:00"})
    free = get(client, "/appointments/availability", advisor, store_id=store_id,
               from_day=today.isoformat(), to_day=today.isoformat(),
               wait_for=head(client))["items"]
    assert free[0]["skills"]["chassis"]["free"] == "3.00"
    post(client, f"/appointments/{aid}/reschedule", advisor,
         {"day": today.isoformat(), "arrival": "08:00", "reason": "customer can come today"})
    free = get(client, "/appointments/availability", advisor, store_id=store_id,
               from_day=today.isoformat(), to_day=today.isoformat(),
               wait_for=head(client))["items"]
    assert free[0]["skills"]["chassis"]["free"] == "1.00"
    assert free[0]["free_bays"]["08:00"] == 0 and free[0]["free_bays"]["10:00"] == 1

    # She arrives: the work order opens, linked both ways.
    answer = client.post(f"/appointments/{aid}/arrival", headers=advisor,
                         json={"mileage": 30_000, "complaints": ["rattle from the rear door"]})
    # created like `POST /work-orders`: 201, and where the work order is
    assert answer.status_code == 201, answer.text
    arrived = answer.json()
    wo_id = arrived["work_order_id"]
    wo = f"/work-orders/{wo_id}"
    assert answer.headers["Location"] == wo
    doc = get(client, wo, advisor, wait_for=arrived["notification_id"])
    assert doc["appointment_id"] == aid and doc["customer"]["name"] == "王芳"
    assert [j["complaint"] for j in doc["jobs"]] == ["brake noise", "rattle from the rear door"]
    appointment = get(client, f"/appointments/{aid}", advisor, wait_for=head(client))
    assert (appointment["status"], appointment["work_order_id"]) == ("arrived", wo_id)
    assert appointment["work_order_number"] == doc["number"]

    # Check-in and an approved brake job: the board proposes ta (least load, closest level).
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 30_010, "fuel_level": 60})
    line = post(client, f"{wo}/jobs/1/labor-lines", advisor, {
        "op_code": "BRK01", "description": "replace pads", "hours": "1.5",
        "hourly_rate": "300.00"})
    post(client, f"{wo}/lines/{line['line_id']}/authorization", advisor,
         {"decision": "approved", "channel": "in_person"})
    board = get(client, "/dispatch/board", advisor, store_id=store_id, wait_for=head(client))
    waiting = next(j for j in board["waiting"] if j["work_order_id"] == wo_id)
    assert waiting["need"] == {"chassis": 1} and waiting["proposed"] == ta
    assert "lacks chassis 1" in waiting["excluded"][f"tc-{store_id}"]

    # Auto-dispatch re-checks on the aggregates and says why.
    dispatched = post(client, "/dispatch/auto", advisor,
                      {"work_order_id": wo_id, "job_no": 1, "proposed": ta})
    assert dispatched["technician_id"] == ta and "chassis" in dispatched["reason"]
    # Only a manager overrides, and only with a reason.
    assert client.post("/dispatch/override", headers=advisor, json={
        "work_order_id": wo_id, "job_no": 1, "technician_id": tb,
        "reason": "tb knows this car"}).status_code == 403
    assert client.post("/dispatch/override", headers=manager, json={
        "work_order_id": wo_id, "job_no": 1, "technician_id": tb,
        "reason": ""}).status_code == 422
    over = post(client, "/dispatch/override", manager, {
        "work_order_id": wo_id, "job_no": 1, "technician_id": tb, "reason": "tb knows this car"})
    assert over["previous"] == ta and over["reason"].startswith("manager override")
    history = get(client, f"{wo}/history", manager)["items"]
    reasons = [h["reason"] for h in history if h["event"] == "WorkOrder.JobDispatched"]
    assert reasons[0].startswith("auto-dispatch") and "tb knows this car" in reasons[1]
    # ta's history says why the job left them.
    released = get(client, f"/technicians/{ta}/history", manager)["items"][-1]
    assert released["event"] == "Technician.JobReleased"
    assert released["reason"] == f"reassigned to {tb}: tb knows this car"

    # tb works the job; QC passes; the board and the KPIs show it.
    tech = auth("technician", tb, [store_id])
    post(client, f"{wo}/jobs/1/clock-on", tech)
    board = get(client, "/dispatch/board", manager, store_id=store_id, wait_for=head(client))
    mine = next(t for t in board["technicians"] if t["user_id"] == tb)
    assert mine["open_clock"]["job_no"] == 1 and mine["open_load_hours"] == "1.50"
    post(client, f"{wo}/jobs/1/clock-off", tech)
    post(client, f"{wo}/jobs/1/complete", tech)
    post(client, f"{wo}/jobs/1/quality-check", manager, {"passed": True})
    # The rear-door rattle does not come back on the test drive: its job closes, no fault
    # found, and the visit is ready for settlement.
    closed = post(client, f"{wo}/jobs/2/close", advisor,
                  {"outcome": "no_fault_found", "reason": "no rattle on the test drive"})
    assert closed["status"] == "ready_for_settlement"
    kpi = get(client, "/technicians/kpi", manager, store_id=store_id, user_id=tb,
              from_day=today.isoformat(), to_day=today.isoformat(),
              wait_for=head(client))["items"]
    assert kpi[0]["sold_hours"] == "1.50" and kpi[0]["available_hours"] == "22.98"
    assert kpi[0]["proficiency"] == str(round(1.5 / 22.98, 4))
    board = get(client, "/dispatch/board", manager, store_id=store_id)
    assert next(t for t in board["technicians"] if t["user_id"] == tb)["queue"] == []

    # The cashier grants points on a paid bill and takes some as payment.
    earned = post(client, f"/customers/{cid}/points/earned", cashier,
                  {"paid_amount": "1000.00", "reference": "ST-1"})
    assert earned["points"] == 100
    paid = post(client, f"/customers/{cid}/points/redemption", cashier,
                {"points": 30, "reference": "PAY-1"})
    assert paid["value"] == "3.00" and paid["balance"] == 70
    too_much = client.post(f"/customers/{cid}/points/redemption", headers=cashier,
                           json={"points": 71, "reference": "PAY-2"})
    assert too_much.status_code == 409 and too_much.json()["balance"] == 70

    # The customer 360 in one read.
    view = get(client, f"/customers/{cid}", advisor, wait_for=head(client))
    assert view["name"] == "王芳" and view["consent"]["sms"]["granted"] is True
    assert [v["vin"] for v in view["vehicles"]] == [vin]
    assert view["visits"]["count"] == 1 and [w["work_order_id"]
                                             for w in view["open_work_orders"]] == [wo_id]
    assert view["points"]["balance"] == 70 and view["spend"]["total"] == "0.00"

    # The model's plan: every 6 months or 7,500 km; the car is due six months after today.
    post(client, "/reminders/plans", manager,
         {"brand": "Volkswagen", "model": "Lavida", "months": 6, "km": 7500})
    due = get(client, "/reminders/due", advisor, store_id=store_id, days=200,
              wait_for=head(client))
    mine_due = next(d for d in due["items"] if d["vin"] == vin)
    assert mine_due["due_on"] == add_months(today, 6).isoformat()
    assert mine_due["basis"] == "time" and mine_due["contact_channels"] == ["sms", "wechat"]
    # She withdraws her consent to WeChat: the list no longer offers it (PIPL art. 15)
    post(client, f"/customers/{cid}/consents", advisor,
         {"channel": "wechat", "granted": False, "note": "asked on the phone"})
    due = get(client, "/reminders/due", advisor, store_id=store_id, days=200,
              wait_for=head(client))
    assert next(d for d in due["items"] if d["vin"] == vin)["contact_channels"] == ["sms"]
    post(client, "/reminders", advisor, {"vin": vin, "store_id": store_id,
                                         "due_on": mine_due["due_on"], "outcome": "declined",
                                         "channel": "sms"}, 201)
    due = get(client, "/reminders/due", advisor, store_id=store_id, days=200,
              wait_for=head(client))
    assert vin not in [d["vin"] for d in due["items"]]
    car_file = get(client, f"/vehicles/{vin}", advisor)
    # the latest reading first, as the customer 360 lists its visits
    assert [r["km"] for r in car_file["mileage_readings"]] == [30_010, 30_000]
    assert [r["outcome"] for r in car_file["reminders"]] == ["declined"]
    assert car_file["owners"][0]["customer_id"] == cid

    # She asks to be erased: her name and phones read as erased everywhere, facts stay.
    post(client, f"/customers/{cid}/erasure", manager, {"reason": "PIPL request"})
    view = get(client, f"/customers/{cid}", advisor, wait_for=head(client))
    assert view["name"] == ERASED and view["phones"] == [ERASED] and view["wechat_id"] == ERASED
    assert view["visits"]["count"] == 1 and view["points"]["balance"] == 70
    assert get(client, "/customers", advisor, q=phone)["items"] == []
    history = get(client, f"/customers/{cid}/history", manager)["items"]
    assert history[0]["changes"]["sealed"]["name"] == ERASED
    appointments = get(client, "/appointments", advisor, store_id=store_id,
                       day=today.isoformat())
    assert {a["customer_name"] for a in appointments["items"]} == {ERASED}
    # Her car is still due for service, but she is no one to contact on any channel.
    due = get(client, "/reminders/due", advisor, store_id=store_id, days=200,
              include_handled="true")
    mine_due = next(d for d in due["items"] if d["vin"] == vin)
    assert (mine_due["owner_name"], mine_due["contact_channels"]) == (ERASED, [])


def test_bad_input_is_a_clear_problem_and_writes_nothing(client: TestClient, auth: Auth,
                                                         store_id: str) -> None:
    advisor = auth("advisor", "adv-li", [store_id])
    before = head(client)
    cases = [
        ("/customers", {"store_id": store_id, "name": "李雷", "phones": ["not a phone"]}, 422),
        ("/customers", {"store_id": "ELSEWHERE", "name": "李雷", "phones": ["13800000000"]},
         403),
        ("/vehicles", {"store_id": store_id, "vin": "LSVAU218XN2183295"}, 422),
        ("/appointments", {"store_id": store_id, "customer_id": str(uuid.uuid4()),
                           "vehicle": {"vin": "LSVAU218XN2183294"}, "day": "2020-01-01",
                           "arrival": "09:00", "services": [{"description": "x", "hours": 1,
                                                             "skill": "chassis"}]}, 422),
        ("/dispatch/auto", {"work_order_id": str(uuid.uuid4()), "job_no": 1}, 404),
        ("/appointments/capacity", {"store_id": store_id, "from_day": "2030-01-01",
                                    "to_day": "2030-01-01", "opens": "08:00", "closes": "18:00",
                                    "bays": 2, "skill_hours": {"chassis": 4}}, 403),
    ]
    for path, body, status in cases:
        response = client.post(path, headers=advisor, json=body)
        assert response.status_code == status, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert head(client) == before


def test_capacity_is_planned_only_for_days_a_booking_could_take(client: TestClient, auth: Auth,
                                                                 store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    today = datetime.now(SHANGHAI).date()
    plan = {"store_id": store_id, "opens": "08:00", "closes": "18:00", "bays": 1,
            "skill_hours": {"chassis": 8}}
    customer = post(client, "/customers", advisor, {"store_id": store_id, "name": "赵敏",
                                                    "phones": ["13900000003"]}, 201)["id"]
    booking = {"store_id": store_id, "customer_id": customer,
               "vehicle": {"vin": make_vin(random.Random(store_id))}, "arrival": "09:00",
               "services": [{"description": "pads", "skill": "chassis", "hours": 1}]}
    before = head(client)
    # Years 0001 and 9999, yesterday, a day past the booking horizon: refused for a plan as
    # for a booking, each answer naming the field.
    for day in ("0001-01-01", "9999-12-31", (today - timedelta(days=1)).isoformat(),
                (today + timedelta(days=367)).isoformat()):
        for field, days in (("from_day", {"from_day": day, "to_day": day}),
                            ("to_day", {"from_day": today.isoformat(), "to_day": day})):
            answer = client.post("/appointments/capacity", headers=manager,
                                 json={**plan, **days})
            assert answer.status_code == 422, (day, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            body = answer.json()
            assert body["type"].endswith("/invalid-input") and body["field"] == field, body
            assert body["detail"].startswith(f"{field} {day}"), body
        refused = client.post("/appointments", headers=advisor, json={**booking, "day": day})
        assert refused.status_code == 422 and refused.json()["field"] == "day", refused.text
    assert head(client) == before
    # Today and the last day a booking can take are planned.
    last = (today + timedelta(days=366)).isoformat()
    for day in (today.isoformat(), last):
        planned = post(client, "/appointments/capacity", manager,
                       {**plan, "from_day": day, "to_day": day})
        assert planned["days"] == [day]
    booked = post(client, "/appointments", advisor, {**booking, "day": last}, 201)
    assert booked["id"]


def test_a_car_opened_by_its_vin_alone_carries_the_plate_and_model_on_file(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """The desk names a registered car by its VIN only: the work order records the plate,
    brand, model and year on file, so the plate search finds the visit and the repair record
    and the warranty claim name the car (they were null)."""
    advisor = auth("advisor", "adv-li", [store_id])
    vin, plate = car(store_id + "-vin-only")
    customer = post(client, "/customers", advisor, {
        "store_id": store_id, "name": "赵磊", "phones": ["13700001234"]}, 201)
    post(client, "/vehicles", advisor, {
        "store_id": store_id, "vin": vin, "plate": plate, "brand": "Volkswagen",
        "model": "Sagitar", "year": 2024, "sale_date": "2024-05-01",
        "owner_id": customer["id"]}, 201)

    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer_id": customer["id"], "vehicle": {"vin": vin},
        "mileage": 30100, "complaints": ["wipers smear"], "kind": "repair"}, 201)
    # A plate the desk gives wins over the one on file (a plate just changed at the counter).
    other = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer_id": customer["id"],
        "vehicle": {"vin": vin, "plate": "沪C00001"}, "mileage": 30200,
        "complaints": ["door rattle"], "kind": "repair"}, 201)

    wo = get(client, f"/work-orders/{opened['id']}", advisor,
             wait_for=other["notification_id"])
    assert {k: wo["vehicle"][k] for k in ("vin", "plate", "brand", "model", "year")} == {
        "vin": vin, "plate": plate, "brand": "Volkswagen", "model": "Sagitar", "year": 2024}
    assert get(client, f"/work-orders/{other['id']}", advisor)["vehicle"]["plate"] == "沪C00001"
    found = get(client, "/work-orders", advisor, plate=plate)["items"]
    assert [item["id"] for item in found] == [opened["id"]]
