"""A lost COMMIT answer for the newest command families, over HTTP, as for the older ones
(tests/integration/test_lost_acknowledgements_families.py): a failed part tagged and moved, a
recall campaign registered, a chunk of its VINs at the largest size imported and the campaign
closed, an online booking requested, confirmed and declined, a lost sale recorded, a write-off
taken back, and transfers sent from the suggestions. The save reaches the server and commits;
its answer is cut off by the proxy; the client retries with the same Idempotency-Key, on the
same API process and on another: one effect, the same answer."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.testclient import TestClient

from domain.campaign import MAX_VINS_PER_IMPORT, Campaign
from servicecore.container import Container
from tests.e2e.test_parts_api import new_part, post
from tests.e2e.test_warranty_evidence_api import injector_visit
from tests.integration.audit_support import new_vin
from tests.integration.faults import FaultyProxy
from tests.integration.test_lost_acknowledgements import (  # noqa: F401  (fixtures)
    assert_replayed,
    behind,
    lost_and_retried,
    proxy,
)
from tests.integration.test_lost_acknowledgements_families import (
    Auth,
    Setup,
    applied_once,
    booking,
    count,
)
from tests.integration.test_lost_acknowledgements_newer_routes import write_off
from tests.integration.test_lost_acknowledgements_side_writes import lost_then_retried_later

ZONE = ZoneInfo("Asia/Shanghai")
Effect = tuple[str, str, dict[str, Any], str]


def failed_part_tag(container: Container, client: TestClient, auth: Auth, store_id: str
                    ) -> Effect:
    _, wo_id, line = injector_visit(client, auth, store_id, vin=new_vin())
    tag = f"WT-{uuid4().hex[:8].upper()}"
    return ("parts_clerk", "/failed-parts", {"work_order_id": wo_id, "line_id": line,
                                             "tag_number": tag, "location": "warranty cage B2"},
            f"FailedPart.Tagged|{tag}")


def failed_part_move(container: Container, client: TestClient, auth: Auth, store_id: str
                     ) -> Effect:
    role, path, body, _ = failed_part_tag(container, client, auth, store_id)
    tagged = post(client, path, auth(role, "clerk-tag", [store_id]), body, 201)
    return ("parts_clerk", f"/failed-parts/{tagged['id']}/move",
            {"location": "returns bay 3", "note": "cage full"}, f"FailedPart.Moved|{tagged['id']}")


def _campaign(client: TestClient, auth: Auth, store_id: str) -> str:
    number = "RC" + uuid4().hex[:8].upper()
    post(client, "/campaigns", auth("manager", "mgr-camp", [store_id]), {
        "campaign_no": number, "brand": "Volkswagen", "kind": "safety_recall",
        "title": "召回: 燃油泵控制单元软件升级", "starts_on": "2026-01-15"}, 201)
    return number


def campaign_registered(container: Container, client: TestClient, auth: Auth, store_id: str
                        ) -> Effect:
    number = "RC" + uuid4().hex[:8].upper()
    return ("manager", "/campaigns", {
        "campaign_no": number, "brand": "Volkswagen", "kind": "service_campaign",
        "title": "ECU software update", "starts_on": "2026-01-15",
        "op_codes": ["CAMP-ECU"]}, f"Campaign.Registered|{number}")


def campaign_vins_largest_chunk(container: Container, client: TestClient, auth: Auth,
                                store_id: str) -> Effect:
    number = _campaign(client, auth, store_id)
    vins = sorted({new_vin() for _ in range(MAX_VINS_PER_IMPORT + 50)})[:MAX_VINS_PER_IMPORT]
    return ("manager", f"/campaigns/{number}/vins", {"vins": vins},
            f"Campaign.VinsListed|{Campaign.create_id(number)}")


def campaign_close(container: Container, client: TestClient, auth: Auth, store_id: str
                   ) -> Effect:
    number = _campaign(client, auth, store_id)
    return ("manager", f"/campaigns/{number}/close", {"reason": "the OEM closed it"},
            f"Campaign.Closed|{Campaign.create_id(number)}")


def _requested(client: TestClient, auth: Auth, store_id: str, vin: str) -> dict[str, Any]:
    tomorrow = (datetime.now(ZONE).date() + timedelta(days=1)).isoformat()
    post(client, "/appointments/capacity", auth("manager", "mgr-book", [store_id]), {
        "store_id": store_id, "from_day": tomorrow, "to_day": tomorrow, "opens": "08:00",
        "closes": "18:00", "bays": 1, "skill_hours": {"maintenance": 8}})
    return {"store_id": store_id, "name": "王芳", "phone": "13700001111", "vin": vin,
            "day": tomorrow, "arrival": "09:00",
            "services": [{"description": "oil change, a squeak at the front"}]}


def booking_request(container: Container, client: TestClient, auth: Auth, store_id: str
                    ) -> Effect:
    vin = new_vin()
    return ("booking_channel", "/online-bookings", _requested(client, auth, store_id, vin),
            f"OnlineBooking.Requested|{vin}")


def _booked(client: TestClient, auth: Auth, store_id: str) -> str:
    body = _requested(client, auth, store_id, new_vin())
    made = post(client, "/online-bookings", auth("booking_channel", "mp", [store_id]), body, 201)
    return str(made["booking_id"])


def booking_confirmation(container: Container, client: TestClient, auth: Auth, store_id: str
                         ) -> Effect:
    booking_id = _booked(client, auth, store_id)
    return ("advisor", f"/online-bookings/{booking_id}/confirmation", {},
            f"OnlineBooking.Confirmed|{booking_id}")


def booking_decline(container: Container, client: TestClient, auth: Auth, store_id: str
                    ) -> Effect:
    booking_id = _booked(client, auth, store_id)
    return ("advisor", f"/online-bookings/{booking_id}/decline",
            {"reason": "the bay is closed for repairs"}, f"OnlineBooking.Declined|{booking_id}")


def lost_sale(container: Container, client: TestClient, auth: Auth, store_id: str) -> Effect:
    note = f"asked at the counter {uuid4().hex[:8]}"
    return ("parts_clerk", f"/stores/{store_id}/lost-sales",
            {"part_number": "8W0071679", "qty": "2", "reason": "out_of_stock", "note": note},
            f"LostSale.Recorded|{note}")


def write_off_reversal(container: Container, client: TestClient, auth: Auth, store_id: str
                       ) -> Effect:
    role, path, body, _ = write_off(container, client, auth, store_id)
    done = post(client, path, auth(role, "mgr-wo", [store_id]), body)
    write_off_id = done["written_off"]["write_off_id"]
    return ("manager", f"{path}s/{write_off_id}/reversal",
            {"reason": "the OEM paid after the appeal"},
            f"Settlement.WriteOffReversed|{write_off_id}")


def transfers_from_suggestions(container: Container, client: TestClient, auth: Auth,
                               store_id: str) -> Effect:
    """The store is short of a part its sister store can spare (the one unit it has over its
    minimum, so a retry that decided again would be refused: it could spare nothing more)."""
    sister = store_id + "B"
    clerk = auth("parts_clerk", "clerk-group", [store_id, sister])
    number = new_part(client, clerk, min_stock=2, reorder_qty=1)
    for store, qty in ((store_id, 1), (sister, 3)):  # one short here; one spare there
        post(client, f"/stock/{store}/{number}/receipts", clerk, {
            "qty": qty, "unit_cost": "100.00", "supplier": "FAW-VW Parts",
            "supplier_doc": "DN-1"}, 201)
    return ("parts_clerk", "/transfers/from-suggestions",
            {"to_store": store_id, "lines": [{"part_number": number, "from_store": sister,
                                              "qty": "1"}]},
            f"Transfer.Dispatched|{number}")


def grievance_registered(container: Container, client: TestClient, auth: Auth, store_id: str
                         ) -> Effect:
    customer = post(client, "/customers", auth("advisor", "adv-cr", [store_id]), {
        "store_id": store_id, "name": "周婷", "phones": ["13900002222"]}, 201)
    case_no = f"VW-CR-{uuid4().hex[:8].upper()}"
    return ("advisor", f"/stores/{store_id}/grievances", {
        "customer_id": customer["id"], "kind": "complaint", "channel": "oem_hotline",
        "oem_case_no": case_no, "category": "repair_quality", "severity": "serious",
        "words": "刹车又响了"}, f"Grievance.Registered|{case_no}")


def grievance_action(container: Container, client: TestClient, auth: Auth, store_id: str
                     ) -> Effect:
    role, path, body, _ = grievance_registered(container, client, auth, store_id)
    desk = auth(role, "adv-cr", [store_id])
    case = post(client, path, desk, body, 201)
    post(client, f"/grievances/{case['id']}/assignment", desk, {"owner": "csr-li"})
    return ("advisor", f"/grievances/{case['id']}/actions",
            {"action": "brakes re-checked with the customer"},
            f"Grievance.ActionTaken|{case['id']}")


@pytest.mark.parametrize("setup", [
    failed_part_tag, failed_part_move, grievance_registered, grievance_action, campaign_registered, campaign_vins_largest_chunk,
    campaign_close, booking_request, booking_confirmation, booking_decline, lost_sale,
    write_off_reversal])
def test_a_lost_commit_answer_of_a_newest_command_is_applied_once_and_replayed(
        setup: Setup, behind: Container, proxy: FaultyProxy,  # noqa: F811
        container: Container, client: TestClient, database_url: str, store_id: str,
        auth: Auth) -> None:
    applied_once(setup, behind, proxy, container, client, database_url, store_id, auth)


def transfers_as_the_list_proposes(container: Container, client: TestClient, auth: Auth,
                                   store_id: str) -> Effect:
    """The same without `lines`: what the list proposes now (nothing, once they were sent)."""
    role, path, _, effect = transfers_from_suggestions(container, client, auth, store_id)
    return role, path, {"to_store": store_id}, effect


@pytest.mark.parametrize("setup", [transfers_from_suggestions, transfers_as_the_list_proposes])
def test_transfers_sent_from_the_suggestions_with_a_lost_commit_answer_are_sent_once(
        setup: Setup, behind: Container, proxy: FaultyProxy,  # noqa: F811
        container: Container, client: TestClient, database_url: str, store_id: str,
        auth: Auth) -> None:
    applied_once(setup, behind, proxy, container, client, database_url,
                 store_id, auth, stores=[store_id, store_id + "B"])


def test_a_customers_cancel_through_the_link_with_a_lost_commit_answer_is_stored_once(
        behind: Container, proxy: FaultyProxy,  # noqa: F811
        container: Container, client: TestClient, database_url: str, store_id: str,
        auth: Auth) -> None:
    """The link's cancel answers the request as the link shows it (not a command's answer):
    a retry with the same key answers that again and stores nothing twice."""
    body = _requested(client, auth, store_id, new_vin())
    made = post(client, "/online-bookings", auth("booking_channel", "mp", [store_id]), body, 201)
    path = f"/booking/{made['token']}/cancel"
    keyed = {"Idempotency-Key": str(uuid4())}
    first, again, elsewhere = lost_and_retried(behind, proxy, client, path,
                                               {"reason": "plans changed"}, keyed)
    assert first.status_code == again.status_code == elsewhere.status_code == 200, first.text
    assert first.json()["status"] == "cancelled"
    assert again.json() == elsewhere.json() == first.json()
    assert count(database_url, "OnlineBooking.Cancelled", made["booking_id"]) == 1


class _TwoDaysLater(datetime):
    """The API's clock two days on: the day a booking was for has passed."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> _TwoDaysLater:
        return super().now(tz) + timedelta(days=2)


def capacity(container: Container, client: TestClient, auth: Auth, store_id: str) -> Effect:
    tomorrow = (datetime.now(ZONE).date() + timedelta(days=1)).isoformat()
    return ("manager", "/appointments/capacity", {
        "store_id": store_id, "from_day": tomorrow, "to_day": tomorrow, "opens": "08:00",
        "closes": "18:00", "bays": 2, "skill_hours": {"maintenance": 8}},
            f"WorkshopDay.Planned|{store_id}")


def reschedule(container: Container, client: TestClient, auth: Auth, store_id: str) -> Effect:
    role, path, body, _ = booking(container, client, auth, store_id)
    booked = post(client, path, auth(role, "adv-book", [store_id]), body, 201)
    return ("advisor", f"/appointments/{booked['id']}/reschedule",
            {"day": body["day"], "arrival": "14:00", "reason": "customer asked for the afternoon"},
            f"Appointment.Rescheduled|{booked['id']}")


@pytest.mark.parametrize("setup", [booking_request, booking, reschedule, capacity])
def test_a_booking_retried_after_its_day_passed_replays_its_stored_answer(
        setup: Setup, behind: Container, proxy: FaultyProxy,  # noqa: F811
        container: Container, client: TestClient, database_url: str, store_id: str,
        auth: Auth, monkeypatch: pytest.MonkeyPatch) -> None:
    """A booking (a request online, an appointment, its reschedule, the day's capacity) for
    tomorrow, its commit answer lost, retried with its key once tomorrow has passed: it was
    stored, so the retry answers what it did. Refused as a day in the past (checked before the
    remembered answer was looked up), the channel or the desk was told it had not been done,
    and the slot stayed held by a booking no one knew of."""
    role, path, body, effect = setup(container, client, auth, store_id)
    topic, needle = effect.split("|")
    headers = auth(role, f"{role}-late", [store_id], **{"Idempotency-Key": str(uuid4())})

    def days_pass(first: httpx.Response) -> None:
        assert first.status_code in (200, 201), first.text
        monkeypatch.setattr("api.deps.datetime", _TwoDaysLater)

    first, again, elsewhere = lost_then_retried_later(behind, proxy, client, path, body,
                                                      headers, days_pass)
    assert_replayed(first, again, elsewhere)
    assert count(database_url, topic, needle) == 1
