"""Online booking over HTTP: the mini program's backend (a `booking_channel` token) reads the
free slots and requests one, the desk confirms it, the car arrives and its work order opens;
the channel may do nothing else; the customer's link shows and cancels the request, and a
client sending unknown links is turned away."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from servicecore import cli
from servicecore.container import Container
from tests.conftest import JWT_SECRET
from tests.e2e.test_front_desk_api import car, get, head, post
from tests.e2e.test_parts_api import Auth
from tests.integration.test_parts_support import wait_for_projection

SHANGHAI = "Asia/Shanghai"


def _days() -> tuple[str, str]:
    today = datetime.now(ZoneInfo(SHANGHAI)).date()
    return today.isoformat(), (today + timedelta(days=1)).isoformat()


def _store(client: TestClient, auth: Auth, store_id: str) -> dict[str, dict[str, str]]:
    """Today and tomorrow planned with one bay; the tokens of the channel and the desk."""
    today, tomorrow = _days()
    manager = auth("manager", "mgr-" + store_id, [store_id])
    post(client, "/appointments/capacity", manager, {
        "store_id": store_id, "from_day": today, "to_day": tomorrow, "opens": "08:00",
        "closes": "18:00", "bays": 1, "skill_hours": {"maintenance": 8}})
    return {"channel": auth("booking_channel", "mini-program-" + store_id, [store_id]),
            "advisor": auth("advisor", "adv-" + store_id, [store_id]), "manager": manager}


def _asked(store_id: str, **extra: Any) -> dict[str, Any]:
    return {"store_id": store_id, "name": "王芳", "phone": "13700001111", "plate": "沪A54321",
            "day": _days()[1], "arrival": "09:00",
            "services": [{"description": "oil change, a squeak at the front"}],
            "note": "will wait", **extra}


def test_a_request_from_the_mini_program_becomes_an_appointment_a_visit_and_a_conversion(
        client: TestClient, auth: Auth, store_id: str) -> None:
    tokens = _store(client, auth, store_id)
    channel, advisor = tokens["channel"], tokens["advisor"]
    today, tomorrow = _days()
    vin, _ = car(store_id)
    # The channel reads tomorrow's free slots: slots only, no hours, bays or bookings.
    free = get(client, "/online-bookings/availability", channel, store_id=store_id,
               from_day=tomorrow, to_day=tomorrow, wait_for=head(client))
    assert set(free) == {"store_id", "hours", "days"} and free["hours"] == "1.00"
    assert set(free["days"][0]) == {"day", "slots"} and "09:00" in free["days"][0]["slots"]
    # It requests 09:00 with its own request id; a retry answers the first answer.
    keyed = {**channel, "Idempotency-Key": "mp-" + store_id}
    made = client.post("/online-bookings", headers=keyed, json=_asked(store_id))
    assert made.status_code == 201, made.text
    again = client.post("/online-bookings", headers=keyed, json=_asked(store_id))
    assert again.json()["booking_id"] == made.json()["booking_id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    booking = made.json()
    # The bay is held: 09:00 is no longer offered, and a second request for it is 409 with
    # the free slots instead.
    free = get(client, "/online-bookings/availability", channel, store_id=store_id,
               from_day=tomorrow, to_day=tomorrow, wait_for=head(client))
    assert "09:00" not in free["days"][0]["slots"] and "10:00" in free["days"][0]["slots"]
    taken = client.post("/online-bookings", headers=channel, json=_asked(store_id))
    assert taken.status_code == 409, taken.text
    assert taken.json()["alternatives"] == free["days"][0]["slots"]
    assert "problems" not in taken.json()
    # The customer's link shows the request, none of the store's figures.
    shown = get(client, f"/booking/{booking['token']}", {})
    assert (shown["status"], shown["day"], shown["arrival"]) == ("requested", tomorrow, "09:00")
    # The desk's list: the customer's details, and the conversion so far.
    listed = client.get("/online-bookings", headers=advisor, params={
        "store_id": store_id, "status": "requested", "wait_for": head(client)}).json()
    [item] = listed["items"]
    assert (item["name"], item["phone"], item["plate"]) == ("王芳", "13700001111", "沪A54321")
    assert listed["conversion"]["requests"] == 1 and listed["conversion"]["confirmed"] == 0
    # Confirmed with the car's VIN: a customer registered, the appointment booked.
    done = post(client, f"/online-bookings/{booking['booking_id']}/confirmation", advisor,
                {"vin": vin})
    assert done["registered"] is True and done["status"] == "confirmed"
    assert get(client, f"/booking/{booking['token']}", {})["status"] == "confirmed"
    appointment = get(client, f"/appointments/{done['appointment_id']}", advisor,
                      wait_for=done["notification_id"])
    assert (appointment["customer_id"], appointment["vin"]) == (done["customer_id"], vin)
    # The customer comes a day early: moved to today, the car arrives, its work order opens.
    post(client, f"/appointments/{done['appointment_id']}/reschedule", advisor,
         {"day": today, "arrival": "08:00"})
    arrived = post(client, f"/appointments/{done['appointment_id']}/arrival", advisor,
                   {"mileage": 12000}, 201)
    work_order = get(client, f"/work-orders/{arrived['work_order_id']}", advisor,
                     wait_for=arrived["notification_id"])
    assert work_order["customer"]["id"] == done["customer_id"]
    assert work_order["customer"]["name"] == "王芳"
    listed = get(client, "/online-bookings", advisor, store_id=store_id,
                 wait_for=head(client))
    assert listed["items"][0]["work_order_id"] == arrived["work_order_id"]
    figures = listed["conversion"]
    assert (figures["requests"], figures["confirmed"], figures["arrived"]) == (1, 1, 1)
    assert Decimal(str(figures["confirmation_rate"])) == Decimal(str(figures["arrival_rate"])) == 1


def test_the_channel_token_books_online_and_does_nothing_else(
        client: TestClient, auth: Auth, store_id: str) -> None:
    tokens = _store(client, auth, store_id)
    channel = tokens["channel"]
    booking = post(client, "/online-bookings", channel, _asked(store_id), 201)
    for method, path in (("GET", "/work-orders"), ("GET", "/appointments"),
                         ("GET", "/customers"), ("GET", "/online-bookings"),
                         ("GET", f"/appointments/availability?store_id={store_id}"),
                         ("POST", f"/online-bookings/{booking['booking_id']}/confirmation"),
                         ("POST", "/appointments"), ("GET", "/parts")):
        refused = client.request(method, path, headers=channel, json={})
        assert refused.status_code == 403, (path, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
    # staff may not request on the channel's behalf; another store's channel is refused
    assert client.post("/online-bookings", headers=tokens["advisor"],
                       json=_asked(store_id, arrival="11:00")).status_code == 403
    elsewhere = auth("booking_channel", "mp-elsewhere", [store_id + "X"])
    assert client.post("/online-bookings", headers=elsewhere,
                       json=_asked(store_id, arrival="11:00")).status_code == 403
    # bad input names its field, and stores nothing
    before = head(client)
    for extra, field in (({"arrival": "09:15"}, "arrival"), ({"arrival": "9am"}, "arrival"),
                         ({"day": "2020-01-01"}, "day"), ({"phone": "call me"}, "phone")):
        bad = client.post("/online-bookings", headers=channel, json=_asked(store_id, **extra))
        assert bad.status_code == 422, bad.text
        assert bad.json()["field"] == field, bad.text
    assert head(client) == before


def test_the_customer_cancels_through_the_link_and_unknown_links_are_turned_away(
        container: Container, auth: Auth, store_id: str) -> None:
    with TestClient(create_app(container.api_context())) as own:  # its own count of attempts
        tokens = _store(own, auth, store_id)
        booking = post(own, "/online-bookings", tokens["channel"], _asked(store_id), 201)
        link = f"/booking/{booking['token']}"
        # a bearer token opens no link, a link token is no bearer token
        assert own.get("/online-bookings", headers={
            "Authorization": f"Bearer {booking['token']}"}).status_code == 401
        cancelled = post(own, f"{link}/cancel", {}, {"reason": "cannot come"})
        assert cancelled["status"] == "cancelled" and cancelled["cancellable"] is False
        # pressed again (or retried without a key after a lost answer): the same answer, and
        # nothing more is stored
        stored = head(own)
        again = own.post(f"{link}/cancel", json={})
        assert again.status_code == 200 and again.json() == cancelled, again.text
        assert head(own) == stored
        # the slot is free again; the desk can no longer confirm the request
        tomorrow = _days()[1]
        free = get(own, "/online-bookings/availability", tokens["channel"], store_id=store_id,
                   from_day=tomorrow, to_day=tomorrow, wait_for=head(own))
        assert "09:00" in free["days"][0]["slots"]
        assert own.post(f"/online-bookings/{booking['booking_id']}/confirmation",
                        headers=tokens["advisor"], json={"vin": car(store_id)[0]}
                        ).status_code == 409
        # unknown links: 404 as problem+json, counted; past 20 from one address, 429
        forged = booking["token"][:-4] + ("AAAA" if not booking["token"].endswith("AAAA")
                                          else "BBBB")
        for n in range(20):
            unknown = own.get(f"/booking/{forged if n % 2 else 'nonsense'}")
            assert unknown.status_code == 404, unknown.text
            assert unknown.headers["content-type"].startswith("application/problem+json")
        busy = own.get(link)
        assert busy.status_code == 429 and int(busy.headers["Retry-After"]) > 0


def test_a_rebuild_of_the_online_bookings_view_equals_the_live_one(
        client: TestClient, auth: Auth, container: Container, database_url: str,
        store_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    tokens = _store(client, auth, store_id)
    first = post(client, "/online-bookings", tokens["channel"], _asked(store_id), 201)
    second = post(client, "/online-bookings", tokens["channel"],
                  _asked(store_id, arrival="11:00", vin=car(store_id)[0], plate=None), 201)
    third = post(client, "/online-bookings", tokens["channel"],
                 _asked(store_id, arrival="14:00"), 201)
    post(client, f"/online-bookings/{first['booking_id']}/decline", tokens["advisor"],
         {"reason": "closed for stocktaking"})
    post(client, f"/online-bookings/{second['booking_id']}/confirmation", tokens["advisor"])
    post(client, f"/booking/{third['token']}/cancel", {})
    wait_for_projection(container, "online_bookings")

    def table() -> list[str]:
        with container.pool.connection() as conn:
            return [row[0] for row in conn.execute(
                "SELECT t::text FROM online_bookings t ORDER BY t::text").fetchall()]

    live = table()
    assert len(live) >= 3
    for name, value in (("DATABASE_URL", database_url), ("SERVICECORE_JWT_SECRET", JWT_SECRET),
                        ("SERVICECORE_DATA_DIR", str(tmp_path)),
                        ("SERVICECORE_PROJECTION_BATCH_SIZE", "2")):
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert cli.main(["projections", "rebuild", "--name", "online_bookings"]) == 0
    assert table() == live
    assert cli.main(["audit", "views", "--view", "online_bookings"]) == 0
    assert '"ok": true' in capsys.readouterr().out
