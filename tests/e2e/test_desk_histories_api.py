"""The streams the desk, the workshop and finance keep beside the visits, each a page of its
events with who, when and why like every `/history`: a workshop day's capacity and the holds
on it (`GET /appointments/capacity/history?store_id=&day=`), an online booking request
(`GET /online-bookings/{id}/history`), the store's roster (`GET /stores/{store}/roster/history`),
a service plan (`GET /reminders/plans/history?brand=&model=`) and a bank statement
(`GET /reconciliation/statements/{id}/history`, an auditor's read of its payers recorded).
Another store's stream, another kind of stream and none are the same 404; a role without the
right 403."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from domain.data_access import DataAccess
from projections import audit
from servicecore.container import Container
from tests.e2e.history_checks import history, refused
from tests.e2e.test_parts_api import Auth, head, on_roster, post

NAME, PHONE, PAYER = "王芳", "13700001111", "赵敏"


def test_a_workshop_day_and_an_online_booking_have_their_histories(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    day = (datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=1)).isoformat()
    plan = {"store_id": store_id, "from_day": day, "to_day": day, "opens": "08:00",
            "closes": "18:00", "bays": 2, "skill_hours": {"maintenance": 8}}
    post(client, "/appointments/capacity", manager, plan)
    post(client, "/appointments/capacity", manager,
         {**plan, "bays": 3, "reason": "a lift back from repair"})
    booking = post(client, "/online-bookings", auth("booking_channel", "mp-1", [store_id]), {
        "store_id": store_id, "name": NAME, "phone": PHONE, "plate": "沪C22222", "day": day,
        "arrival": "10:00", "services": [{"description": "oil change"}]}, 201)
    url = f"/online-bookings/{booking['booking_id']}/history"
    post(client, f"/online-bookings/{booking['booking_id']}/decline", advisor,
         {"reason": "the workshop is closed for stocktaking"})

    capacity = "/appointments/capacity/history"
    for role in ("auditor", "manager", "advisor"):
        headers = auth(role, f"{role}-1", [store_id])
        items = history(client, capacity, headers, ["WorkshopDay.Planned",
                        "WorkshopDay.Replanned", "WorkshopDay.Reserved", "WorkshopDay.Released"],
                        store_id=store_id, day=day)
        assert items[1]["reason"] == "a lift back from repair"
        assert items[1]["changes"]["bays"] == 3
        assert items[2]["changes"]["appointment_id"] == booking["booking_id"]
        assert items[0]["actor"]["user_id"] == "mgr-" + store_id
        assert items[2]["actor"]["role"] == "booking_channel"

        answer = client.get(url, headers=headers)
        items = history(client, url, headers, ["OnlineBooking.Requested",
                                               "OnlineBooking.Declined"])
        assert items[1]["reason"] == "the workshop is closed for stocktaking"
        assert items[1]["actor"]["user_id"] == "adv-" + store_id
        assert items[0]["changes"]["day"] == day
        assert "link_nonce" not in items[0]["changes"]  # no help to rebuild the link
        assert NAME not in answer.text and PHONE not in answer.text  # sealed as stored

    auditor = auth("auditor", "aud-" + store_id, [store_id])
    other = auth("auditor", "aud-o", ["O" + store_id[1:]])
    refused(client, capacity, other, 404, store_id=store_id, day=day)
    refused(client, capacity, auditor, 404, store_id=store_id, day="2020-01-01")
    refused(client, capacity, auditor, 422, store_id=store_id, day="tomorrow")
    refused(client, url, other, 404)
    refused(client, f"/online-bookings/{uuid.uuid4()}/history", auditor, 404)
    customer = post(client, "/customers", advisor, {
        "store_id": store_id, "name": "李强", "phones": ["13700002222"]}, 201)["id"]
    refused(client, f"/online-bookings/{customer}/history", auditor, 404)  # another kind
    for role in ("technician", "cashier", "booking_channel"):
        headers = auth(role, f"{role}-1", [store_id])
        refused(client, url, headers, 403)
        refused(client, capacity, headers, 403, store_id=store_id, day=day)


def test_the_roster_and_a_service_plan_have_their_histories(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    for technician in ("stays", "goes"):
        on_roster(client, manager, store_id, f"{technician}-{store_id}")
    post(client, f"/technicians/goes-{store_id}/roster-exit", manager, {"reason": "moved away"})
    roster = f"/stores/{store_id}/roster/history"
    for role in ("auditor", "manager"):
        items = history(client, roster, auth(role, f"{role}-1", [store_id]),
                        ["Roster.Started", "Roster.Joined", "Roster.Joined", "Roster.Left"])
        assert [i["changes"].get("user_id") for i in items[1:]] == [
            f"stays-{store_id}", f"goes-{store_id}", f"goes-{store_id}"]
        assert items[3]["reason"] == "moved away"
        assert items[3]["actor"]["user_id"] == "mgr-" + store_id
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    refused(client, roster, auth("auditor", "aud-o", ["O" + store_id[1:]]), 404)
    refused(client, f"/stores/N{store_id[1:]}/roster/history",
            auth("auditor", "aud-all", ["*"]), 404)
    for role in ("advisor", "technician", "analyst"):
        refused(client, roster, auth(role, f"{role}-1", [store_id]), 403)

    brand = "Brand " + uuid.uuid4().hex[:6]
    post(client, "/reminders/plans", manager, {"brand": brand, "model": "*", "months": 12,
                                               "km": 10000})
    post(client, "/reminders/plans", manager, {"brand": brand, "model": "*", "months": 6,
                                               "km": 10000, "reason": "OEM bulletin 2027-3"})
    plans = "/reminders/plans/history"
    for role in ("auditor", "manager", "advisor"):
        # a plan is the group's: read with any store's token, its brand typed any way
        headers = auth(role, f"{role}-1", ["O" + store_id[1:]])
        items = history(client, plans, headers, ["ServicePlan.Set", "ServicePlan.Changed"],
                        brand=f"  {brand.upper()} ", model="*")
        assert (items[0]["changes"]["months"], items[1]["changes"]["months"]) == (12, 6)
        assert items[1]["reason"] == "OEM bulletin 2027-3"
        assert items[1]["actor"]["user_id"] == "mgr-" + store_id
    refused(client, plans, auditor, 404, brand=brand, model="Golf")
    refused(client, plans, auditor, 422, brand=brand)
    for role in ("technician", "cashier", "analyst"):
        refused(client, plans, auth(role, f"{role}-1", [store_id]), 403, brand=brand,
                model="*")


def test_a_bank_statements_history_shows_its_payers_and_records_an_auditors_read(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    finance = auth("finance", "fin-" + store_id, [store_id])
    imported = post(client, "/reconciliation/statements", finance, {
        "store_id": store_id, "source": "bank", "account": "工行 " + store_id,
        "csv": "date,amount,reference,counterparty\n"
               f"2026-05-01,1010.00,R{uuid.uuid4().hex[:8]},{PAYER}\n2026-05-01,-2.00,F1,\n"},
        201)
    url = f"/reconciliation/statements/{imported['id']}"
    post(client, f"{url}/lines/2/explanation", finance,
         {"kind": "bank_fee", "reason": "the bank's monthly fee"})

    for role in ("auditor", "finance", "manager", "cashier"):
        before = head(client)
        items = history(client, f"{url}/history", auth(role, f"{role}-1", [store_id]),
                        ["Statement.Imported", "Statement.LineExplained"])
        assert [ln["counterparty"] for ln in items[0]["changes"]["lines"]] == [PAYER, ""]
        assert items[1]["reason"] == "the bank's monthly fee"
        assert items[1]["changes"]["line_no"] == 2
        assert items[1]["actor"]["user_id"] == "fin-" + store_id
        reads = [event for _, event in audit.events_at(container.app, range(
            before + 1, (container.app.recorder.max_notification_id() or 0) + 1))
            if isinstance(event, DataAccess.PersonalDataRead)]
        if role == "auditor":  # the first page shows 赵敏's line (recorded), the second none
            assert [(r.statement_id, r.statement_lines, r.purpose) for r in reads] == [
                (uuid.UUID(imported["id"]), [1], "bank statement history")]
        else:
            assert reads == []

    auditor = auth("auditor", "aud-" + store_id, [store_id])
    refused(client, f"{url}/history", auth("auditor", "aud-o", ["O" + store_id[1:]]), 404)
    refused(client, f"/reconciliation/statements/{uuid.uuid4()}/history", auditor, 404)
    refused(client, f"/reconciliation/statements/{_work_order(client, auth, store_id)}/history",
            auditor, 404)
    for role in ("advisor", "technician", "analyst"):
        refused(client, f"{url}/history", auth(role, f"{role}-1", [store_id]), 403)


def _work_order(client: TestClient, auth: Auth, store_id: str) -> str:
    return str(post(client, "/work-orders", auth("advisor", "adv-1", [store_id]), {
        "store_id": store_id, "customer": {"name": "王伟", "phone": "13800000002"},
        "vehicle": {"vin": "LSVAU218XN2183294", "plate": "沪B12345"}, "mileage": 30000,
        "complaints": ["brake noise"]}, 201)["id"])
