"""Online booking requests the store never answers, and the personal data of requests over
time: a stale request lapses by the clock (its bay is free for someone else, it can no longer
be confirmed or cancelled) and the retention run records the lapse; erasing a customer erases
the requests confirmed for them; the retention run shreds a request never confirmed once its
retention period has passed, and a second run shreds nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from api.routes.online_bookings import service
from domain.common import Caller
from domain.online_booking import OnlineBooking
from domain.online_bookings import OnlineBookings
from domain.pii import ERASED
from domain.session import Request
from servicecore import cli
from servicecore.booking_retention import retention
from servicecore.container import Container
from tests.conftest import JWT_SECRET
from tests.e2e.test_front_desk_api import car, get, head, post
from tests.e2e.test_online_booking_api import _asked, _days, _store
from tests.e2e.test_parts_api import Auth
from tests.integration.test_parts_support import wait_for_projection


def _bookings(container: Container) -> OnlineBookings:
    return service(container.api_context())


def _made_long_ago(container: Container, store_id: str, hours: int,
                   **asked: Any) -> dict[str, Any]:
    """A request the channel made `hours` ago (the store has not answered it since)."""
    at = datetime.now(UTC) - timedelta(hours=hours)
    caller = Caller(user_id="mini-program-" + store_id, role="booking_channel",
                    stores=(store_id,), at=at, correlation_id="long-ago")
    bookings = _bookings(container)
    body = {**_asked(store_id), **asked}
    made = bookings.request(
        Request(caller), store_id=store_id, name=body["name"], phone=body["phone"],
        vin=body.get("vin"), plate=body.get("plate"), day=body["day"],
        arrival=body["arrival"], services=body["services"], note=body["note"]).body
    return {**made, "token": bookings.token(made)}


def _listed(client: TestClient, headers: dict[str, str], store_id: str,
            **params: Any) -> list[dict[str, Any]]:
    found = client.get("/online-bookings", headers=headers, params={
        "store_id": store_id, "wait_for": head(client), **params})
    assert found.status_code == 200, found.text
    return found.json()["items"]  # type: ignore[no-any-return]


def test_the_last_bay_held_by_a_stale_request_goes_to_another_customer(
        client: TestClient, auth: Auth, container: Container, database_url: str,
        store_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    tokens = _store(client, auth, store_id)  # one bay
    # A request for tomorrow 09:00 made 25 hours ago, never answered: past its deadline.
    stale = _made_long_ago(container, store_id, 25)
    assert datetime.fromisoformat(stale["answer_by"]) < datetime.now(UTC)
    # Another customer asks for the same slot: the bay is theirs.
    free = get(client, "/online-bookings/availability", tokens["channel"], store_id=store_id,
               from_day=_days()[1], to_day=_days()[1], wait_for=head(client))
    assert "09:00" in free["days"][0]["slots"]
    fresh = post(client, "/online-bookings", tokens["channel"],
                 _asked(store_id, name="李雷", phone="13900002222"), 201)
    assert datetime.fromisoformat(fresh["answer_by"]) > datetime.now(UTC)
    # The stale request can be neither confirmed nor cancelled: 409 naming its status.
    late = client.post(f"/online-bookings/{stale['booking_id']}/confirmation",
                       headers=tokens["advisor"], json={"vin": car(store_id)[0]})
    assert late.status_code == 409, late.text
    assert "expired" in late.json()["detail"]
    withdrawn = client.post(f"/booking/{stale['token']}/cancel", json={})
    assert withdrawn.status_code == 409 and "expired" in withdrawn.json()["detail"]
    link = get(client, f"/booking/{stale['token']}", {})
    assert (link["status"], link["cancellable"]) == ("expired", False)
    # The desk's list shows it expired before any sweep, and the conversion does not wait
    # for it.
    [shown] = _listed(client, tokens["advisor"], store_id, status="expired")
    assert (shown["id"], shown["name"]) == (stale["booking_id"], "王芳")
    figures = get(client, "/online-bookings", tokens["advisor"], store_id=store_id)["conversion"]
    assert (figures["pending"], figures["expired"]) == (1, 1)
    # The retention run (a cron) records the lapse, by the system, once.
    for name, value in (("DATABASE_URL", database_url), ("SERVICECORE_JWT_SECRET", JWT_SECRET),
                        ("SERVICECORE_DATA_DIR", str(tmp_path)),
                        ("SERVICECORE_PROJECTION_BATCH_SIZE", "2")):
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert cli.main(["online-bookings", "retention"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert stale["booking_id"] in report["expired"] and report["shredded"] == []
    assert cli.main(["online-bookings", "retention"]) == 0
    assert stale["booking_id"] not in json.loads(capsys.readouterr().out)["expired"]
    lapse = [e for e in container.app.events.get(UUID(stale["booking_id"]))
             if isinstance(e, OnlineBooking.Expired)]
    assert len(lapse) == 1 and lapse[0].audit.role == "system"
    [recorded] = _listed(client, tokens["advisor"], store_id, status="expired")
    assert recorded["decided_by"] == "online-booking-retention"
    # The view rebuilt from the log equals the live one.
    wait_for_projection(container, "online_bookings")
    live = _table(container)
    assert cli.main(["projections", "rebuild", "--name", "online_bookings"]) == 0
    assert _table(container) == live


def _table(container: Container) -> list[str]:
    with container.pool.connection() as conn:
        return [row[0] for row in conn.execute(
            "SELECT t::text FROM online_bookings t ORDER BY t::text").fetchall()]


def test_erasing_a_customer_erases_the_requests_confirmed_for_them(
        client: TestClient, auth: Auth, store_id: str) -> None:
    tokens = _store(client, auth, store_id)
    made = post(client, "/online-bookings", tokens["channel"], _asked(store_id), 201)
    done = post(client, f"/online-bookings/{made['booking_id']}/confirmation",
                tokens["advisor"], {"vin": car(store_id)[0]})
    [before] = _listed(client, tokens["advisor"], store_id)
    assert (before["name"], before["phone"]) == ("王芳", "13700001111")
    post(client, f"/customers/{done['customer_id']}/erasure", tokens["manager"],
         {"reason": "the customer asked (PIPL)"})
    [after] = _listed(client, tokens["advisor"], store_id)
    assert (after["name"], after["phone"], after["note"]) == (ERASED, ERASED, ERASED)


def test_the_retention_run_shreds_a_declined_request_once(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    tokens = _store(client, auth, store_id)
    declined = post(client, "/online-bookings", tokens["channel"], _asked(store_id), 201)
    kept = post(client, "/online-bookings", tokens["channel"],
                _asked(store_id, arrival="11:00", name="李雷"), 201)
    post(client, f"/online-bookings/{declined['booking_id']}/decline", tokens["advisor"],
         {"reason": "closed for stocktaking"})
    bookings = _bookings(container)
    wait_for_projection(container, "online_bookings")  # the view proposes what a run does
    # Within its retention period nothing is shredded (the request never answered has
    # lapsed by then: that is recorded).
    soon = retention(bookings, container.pool, 30, at=datetime.now(UTC) + timedelta(days=29))
    assert declined["booking_id"] not in soon["shredded"]
    assert kept["booking_id"] in soon["expired"]
    # Past it, the declined request's name, phone and note are gone; the lapsed one is not
    # yet 30 days past its deadline.
    later = datetime.now(UTC) + timedelta(days=30, hours=2)
    first = retention(bookings, container.pool, 30, at=later)
    assert declined["booking_id"] in first["shredded"]
    assert kept["booking_id"] not in first["shredded"]
    by_id = {row["id"]: row for row in _listed(client, tokens["advisor"], store_id)}
    gone = by_id[declined["booking_id"]]
    assert (gone["name"], gone["phone"], gone["note"]) == (ERASED, ERASED, ERASED)
    assert by_id[kept["booking_id"]]["name"] == "李雷"
    # A second run shreds nothing.
    again = retention(bookings, container.pool, 30, at=later)
    assert again["shredded"] == [] and again["expired"] == []


def test_a_confirmation_stored_after_its_customers_erasure_is_erased_too(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    tokens = _store(client, auth, store_id)
    first = post(client, "/online-bookings", tokens["channel"], _asked(store_id), 201)
    done = post(client, f"/online-bookings/{first['booking_id']}/confirmation",
                tokens["advisor"], {"vin": car(store_id)[0]})
    raced = post(client, "/online-bookings", tokens["channel"],
                 _asked(store_id, arrival="11:00"), 201)
    # The desk's confirmation for the customer raced their erasure and was stored after it.
    decided: Any = container.app.repository.get(UUID(raced["booking_id"]))
    post(client, f"/customers/{done['customer_id']}/erasure", tokens["manager"],
         {"reason": "the customer asked (PIPL)"})
    decided.confirm(Caller("adv-1", "advisor", (store_id,), datetime.now(UTC), "race").audit(
        store_id), uuid4(), UUID(done["customer_id"]), False)
    container.app.save(decided)
    for row in _listed(client, tokens["advisor"], store_id):
        assert (row["status"], row["name"], row["phone"]) == ("confirmed", ERASED, ERASED)
