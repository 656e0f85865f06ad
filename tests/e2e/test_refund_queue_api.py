"""The manager's queue of refunds waiting for a decision: `GET /refunds?status=requested`,
paged, the longest waiting first, over the manager's stores (`store_id`: one of them;
another store's: none). The decision needs the refund's id, which the manager had to get
from the cashier."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import head, post
from tests.e2e.test_refund_decision_api import refunds_asked

Auth = Callable[..., dict[str, str]]


def _refunds(client: TestClient, headers: dict[str, str], **params: Any) -> Any:
    response = client.get("/refunds", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_manager_lists_the_refunds_waiting_for_a_decision(
        client: TestClient, auth: Auth, store_id: str) -> None:
    other = store_id + "B"
    manager = auth("manager", "mgr-" + store_id, [store_id, other])
    wo_id, (first, second) = refunds_asked(client, auth, store_id)
    _, (third, fourth) = refunds_asked(client, auth, other)
    post(client, f"/refunds/{second}/decision", manager, {"approve": True})

    waiting = _refunds(client, manager, status="requested", wait_for=head(client))
    assert waiting["total"] == 3
    assert [r["refund_id"] for r in waiting["items"]] == [first, third, fourth]
    mine = waiting["items"][0]
    assert (mine["store_id"], mine["work_order_id"], mine["amount"], mine["reason"],
            mine["requested_by"], mine["method"], mine["status"]) == (
        store_id, wo_id, "10.00", "goodwill", "cash-" + store_id, "alipay", "requested")
    assert mine["work_order_number"].startswith(f"WO-{store_id}-")
    # Paged; one store of the manager's; the decided one with its status.
    paged = _refunds(client, manager, status="requested", limit=2, offset=2)
    assert (paged["total"], [r["refund_id"] for r in paged["items"]]) == (3, [fourth])
    assert [r["refund_id"] for r in _refunds(client, manager, status="requested",
                                              store_id=other)["items"]] == [third, fourth]
    assert [(r["refund_id"], r["status"]) for r in _refunds(
        client, manager, store_id=store_id)["items"]] == [(first, "requested"),
                                                          (second, "approved")]
    # Another store's manager sees none of them, naming the store or not.
    stranger = auth("manager", "mgr-x", [store_id + "X"])
    assert _refunds(client, stranger, status="requested")["total"] == 0
    assert _refunds(client, stranger, store_id=store_id)["items"] == []


def test_the_settlements_list_takes_one_store_of_the_callers(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """The cashier of two stores lists one store's settlements (`store_id`), as the refunds,
    payments and receivables desks do; another store's: none."""
    other = store_id + "S"
    cashier = auth("cashier", "cash-two-" + store_id, [store_id, other])
    mine, _ = refunds_asked(client, auth, store_id)
    theirs, _ = refunds_asked(client, auth, other)
    at = head(client)

    def listed(headers: dict[str, str], **params: Any) -> list[tuple[str, str]]:
        response = client.get("/settlements", headers=headers,
                              params={"wait_for": at, "limit": 500, **params})
        assert response.status_code == 200, response.text
        return [(s["work_order_id"], s["store_id"]) for s in response.json()["items"]]

    assert {mine, theirs} <= {wo for wo, _ in listed(cashier)}
    assert listed(cashier, store_id=other) == [(theirs, other)]
    assert listed(cashier, store_id=store_id) == [(mine, store_id)]
    stranger = auth("cashier", "cash-x", [store_id + "X"])
    assert listed(stranger, store_id=store_id) == []


def test_a_clerk_lists_the_refunds_paid_out_on_a_day(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """`date_from` / `date_to`: the refunds paid out on those business days (the approved
    ones, dated as the day report dates them); a waiting refund has no day."""
    manager = auth("manager", "mgr-day-" + store_id, [store_id])
    finance = auth("finance", "fin-day-" + store_id, [store_id])
    _, (waiting, paid) = refunds_asked(client, auth, store_id)
    post(client, f"/refunds/{paid}/decision", manager, {"approve": True})
    listed = _refunds(client, finance, store_id=store_id, wait_for=head(client))["items"]
    assert {r["refund_id"]: r["business_date"] for r in listed}.get(waiting, "") is None
    day = date.fromisoformat(next(r["business_date"] for r in listed if r["refund_id"] == paid))

    def paid_out(**days: date) -> list[str]:
        return [r["refund_id"] for r in _refunds(
            client, finance, store_id=store_id, **{k: v.isoformat() for k, v in days.items()}
        )["items"]]

    assert paid_out(date_from=day, date_to=day) == [paid]
    assert paid_out(date_from=day) == paid_out(date_to=day) == [paid]
    assert paid_out(date_to=day - timedelta(days=1)) == []
    assert paid_out(date_from=day + timedelta(days=1)) == []
    for bad in ({"date_from": "2026-13-01"}, {"date_to": "yesterday"},
                {"date_from": day.isoformat(), "date_to": (day - timedelta(days=1)).isoformat()}):
        answer = client.get("/refunds", headers=finance, params=bad)
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        found = answer.json()
        named = found["field"] if "field" in found else found["errors"][0]["loc"][-1]
        assert named == ("date_to" if "date_to" in bad else "date_from"), found
