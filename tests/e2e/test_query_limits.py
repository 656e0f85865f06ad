"""A read's text filters are bounded (api/deps.py: an id 64 characters, a name or free text
200): a longer value is a 422 naming the parameter, and nothing a command can store is
refused as a filter."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from api.deps import ID_MAX, TEXT_MAX
from tests.e2e.test_api_contract import problem

Auth = Callable[..., dict[str, str]]
HUGE = "S" * 20_000


@pytest.mark.parametrize("url", [
    "/dispatch/board?store_id={}",
    "/audit/sanbao?store_id={}",
    "/audit/warranty-claims?from=2026-03-01&to=2026-03-02&store_id={}",
    "/audit/serial-conflicts?from=2026-03-01&to=2026-03-02&store_id={}",
    "/audit/repair-records?date=2026-03-01&store_id={}",
    "/stock?store_id={}",
    "/technicians?store_id={}",
    "/reminders/due?store_id={}",
    "/appointments/availability?store_id={}&from_day=2026-03-01&to_day=2026-03-02",
    "/failed-parts?store_id={}",
    "/online-bookings?store_id={}",
    "/online-bookings/availability?store_id={}&from_day=2026-03-01&to_day=2026-03-02",
    "/grievances?store_id={}",
    "/audit/grievances/overdue?store_id={}",
])
def test_a_20_kb_store_id_is_422_naming_it_and_not_echoed(client: TestClient, auth: Auth,
                                                          url: str) -> None:
    """The dispatch board, the 三包 report and the claims report answered 200 with the
    20 kB store id in their body."""
    response = client.get(url.format(HUGE), headers=auth("manager", "mgr-wu"))
    body = problem(response, 422, "invalid-input")
    assert [(e["loc"], e["type"]) for e in body["errors"]] == [
        (["query", "store_id"], "string_too_long")]
    assert len(response.content) < 1000


@pytest.mark.parametrize(("url", "name", "longest"), [
    ("/work-orders?technician={}", "technician", ID_MAX),
    ("/work-orders?plate={}", "plate", ID_MAX),
    ("/purchase-orders?supplier={}", "supplier", TEXT_MAX),
    ("/stock/movements?supplier={}", "supplier", TEXT_MAX),
    ("/stock/movements?lot_id={}", "lot_id", TEXT_MAX),
    ("/payments?cashier={}", "cashier", ID_MAX),
    ("/ledger?month=2026-03&account={}", "account", ID_MAX),
])
def test_a_filter_at_its_bound_is_served_one_past_it_is_422(client: TestClient, auth: Auth,
                                                            url: str, name: str,
                                                            longest: int) -> None:
    headers = auth("auditor", "aud-zhao")
    served = client.get(url.format("x" * longest), headers=headers)
    assert served.status_code == 200, served.text
    assert served.json()["items"] == []
    body = problem(client.get(url.format("x" * (longest + 1)), headers=headers), 422,
                   "invalid-input")
    assert [e["loc"] for e in body["errors"]] == [["query", name]]


ACCOUNT = "/customers/7d3f1a52-4c1e-4b8e-9a51-2f7f0c1d9e11/account/statement"


@pytest.mark.parametrize(("url", "name"), [
    (f"{ACCOUNT}?month=99999-01", "month"), (f"{ACCOUNT}?month=2026-13", "month"),
    (f"{ACCOUNT}?month=2026-00", "month"), (f"{ACCOUNT}?month=", "month"),
    (f"{ACCOUNT}?month=2026-1", "month"), (f"{ACCOUNT}?month=0000-01", "month"), (f"{ACCOUNT}?month=%EF%BC%92026-01", "month"),
    (f"{ACCOUNT}?limit=0", "limit"), (f"{ACCOUNT}?offset=9223372036854775808", "offset"),
    ("/online-bookings/availability?store_id=S01&from_day=99999-01-01&to_day=2026-03-02",
     "from_day"),
    ("/online-bookings/availability?store_id=S01&from_day=2026-03-01&to_day=2026-02-30",
     "to_day"),
    ("/campaigns/RC1/not-done?limit=501", "limit"),
    ("/transfers/suggestions?to_store=S01&offset=-1", "offset"),
])
def test_a_month_day_or_page_past_the_calendar_or_its_bound_is_422_naming_it(
        client: TestClient, auth: Auth, url: str, name: str) -> None:
    """Year 0000 fits the month's pattern but is no month of the calendar: the ledger refused
    it, the account statement answered a statement of it."""
    body = problem(client.get(url, headers=auth("manager", "mgr-wu")), 422, "invalid-input")
    named = [e["loc"][-1] for e in body["errors"]] if "errors" in body else [body["field"]]
    assert named == [name]


def test_what_a_command_stores_is_never_refused_as_a_filter(client: TestClient, auth: Auth,
                                                            store_id: str) -> None:
    """The longest id a request body takes, a technician's user id (64), is found by the
    filters that name it; a store id (20), a part number (40), a VIN (17) are shorter."""
    technician_id = "t" * 64
    manager = auth("manager", "mgr-wu", [store_id])
    saved = client.post(f"/technicians/{technician_id}/profile", headers=manager, json={
        "store_id": store_id, "name": "李师傅", "skills": {"engine": 3}, "hourly_cost": "80"})
    assert saved.status_code == 200, saved.text
    wait_for = saved.json()["notification_id"]
    listed = client.get("/technicians", headers=manager,
                        params={"store_id": store_id, "wait_for": wait_for})
    assert [t["user_id"] for t in listed.json()["items"]] == [technician_id]
    kpi = client.get("/technicians/kpi", headers=manager, params={
        "from_day": "2026-03-01", "to_day": "2026-03-02", "user_id": technician_id})
    assert kpi.status_code == 200, kpi.text
    orders = client.get("/work-orders", headers=manager, params={"technician": technician_id})
    assert orders.status_code == 200, orders.text
