"""Lost sales over HTTP: recorded at the parts counter or the desk (a part the master does not
hold too), listed with totals per part, a retry stored once, refusals as problems; a wrong
entry voided by a manager, listed as voided and out of the totals, once only; the parts
fill rate counting them and the emergency purchases beside the approved part lines, figured
by hand; the lost-sales view rebuilt from the events equals the live one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from servicecore import cli
from servicecore.container import Container
from tests.conftest import JWT_SECRET
from tests.e2e.test_parts_api import (
    Auth,
    get,
    head,
    new_part,
    post,
    ready_visit,
    received_part,
)
from tests.integration.analytics_support import publish_analytics
from tests.integration.test_parts_support import wait_for_projection
from tests.scratch_systems import ServedScratch, served_module

served, container, client = served_module("sc_lost_sales", projections=True)


def listed(client: TestClient, headers: dict[str, str], store_id: str,
           **query: Any) -> dict[str, Any]:
    return get(client, f"/stores/{store_id}/lost-sales", headers, wait_for=head(client),  # type: ignore[no-any-return]
               **query)


def test_lost_sales_are_listed_latest_first_with_totals_per_part(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    stocked = new_part(client, clerk, min_stock=0)
    url = f"/stores/{store_id}/lost-sales"
    # At the counter: 2 of a stocked part out of stock, retried with the same key.
    retry = {**clerk, "Idempotency-Key": "ls-" + stocked}
    first = post(client, url, retry, {"part_number": stocked, "qty": "2",
                                      "reason": "out_of_stock"}, 201)
    again = post(client, url, retry, {"part_number": stocked, "qty": "2",
                                      "reason": "out_of_stock"}, 201)
    assert again["id"] == first["id"]
    # At the desk, on a visit: a part the group never stocked (no master record), as typed.
    wo, _ = ready_visit(client, auth, store_id, stocked)
    post(client, url, advisor, {"part_number": "8w0 071 679", "qty": 1,
                                "reason": "not_stocked", "work_order_id": wo.rsplit("/")[-1],
                                "note": "roof bars"}, 201)
    post(client, url, advisor, {"part_number": stocked, "qty": "1.5", "reason": "price"}, 201)
    found = listed(client, clerk, store_id)
    assert found["total"] == 3  # the retry stored nothing
    assert [(r["part_number"], r["qty"], r["reason"], r["recorded_by"]) for r in found["items"]
            ] == [(stocked, "1.5", "price", "adv-" + store_id),
                  ("8W0071679", "1", "not_stocked", "adv-" + store_id),
                  (stocked, "2", "out_of_stock", "clerk-" + store_id)]
    assert found["items"][1]["work_order_id"] == wo.rsplit("/")[-1]
    assert found["items"][1]["note"] == "roof bars"
    assert (found["parts"], found["by_part"]) == (2, [
        {"part_number": stocked, "lines": 2, "qty": "3.5"},
        {"part_number": "8W0071679", "lines": 1, "qty": "1"}])
    # A page of one still totals every lost sale; the filters narrow both.
    paged = listed(client, clerk, store_id, limit=1, offset=1)
    assert [r["part_number"] for r in paged["items"]] == ["8W0071679"]
    assert paged["by_part"] == found["by_part"]
    assert listed(client, advisor, store_id, reason="price")["by_part"] == [
        {"part_number": stocked, "lines": 1, "qty": "1.5"}]
    assert listed(client, advisor, store_id, part_number="8w0071679")["total"] == 1


def test_refusals_are_problems_and_store_nothing(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id])
    other = store_id + "X"
    theirs, _ = ready_visit(client, auth, other, received_part(
        client, auth("parts_clerk", "c", [other]), other, 1))
    url = f"/stores/{store_id}/lost-sales"
    good = {"part_number": "5Q0698151", "qty": 1, "reason": "price"}
    for bad, status in (({"reason": "weather"}, 422), ({"qty": 0}, 422),
                        ({"part_number": "a b/c"}, 422), ({"note": "x" * 501}, 422),
                        ({"work_order_id": theirs.rsplit("/")[-1]}, 404),
                        ({"customer_id": "6f1c1c52-0000-4000-8000-000000000000"}, 404)):
        answer = client.post(url, headers=clerk, json={**good, **bad})
        assert answer.status_code == status, (bad, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    # another store's: the command 403, the list 404; roles outside the counter and desk 403
    assert client.post(f"/stores/{other}/lost-sales", headers=clerk,
                       json=good).status_code == 403
    assert client.get(f"/stores/{other}/lost-sales", headers=clerk).status_code == 404
    for role in ("technician", "cashier"):
        assert client.post(url, headers=auth(role, "x", [store_id]),
                           json=good).status_code == 403
    assert listed(client, clerk, store_id)["total"] == 0


def test_a_wrong_entry_is_voided_by_a_manager_and_leaves_the_totals(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    url = f"/stores/{store_id}/lost-sales"
    post(client, url, clerk, {"part_number": "5Q0698151", "qty": "2", "reason": "price"}, 201)
    typo = post(client, url, clerk, {"part_number": "5Q0698151", "qty": "20",
                                     "reason": "price"}, 201)
    void = f"{url}/{typo['id']}/void"
    body = {"reason": "typed 20 for 2"}
    # Not the clerk's to void; a reason is needed; only this store's lost sale.
    mark = head(client)
    assert client.post(void, headers=clerk, json=body).status_code == 403
    for bad_url, bad_body, status in (
            (void, {"reason": " "}, 422), (void, {}, 422),
            (f"{url}/6f1c1c52-0000-4000-8000-000000000000/void", body, 404),
            (f"/stores/{store_id}X/lost-sales/{typo['id']}/void", body, 404)):
        answer = client.post(bad_url, headers=auth("manager", "m", [store_id, store_id + "X"]),
                             json=bad_body)
        assert answer.status_code == status, (bad_url, bad_body, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    assert head(client) == mark  # nothing stored
    keyed = {**manager, "Idempotency-Key": "void-" + typo["id"]}
    done = post(client, void, keyed, body)
    assert (done["id"], done["voided_by"], done["void_reason"]) == (
        typo["id"], "mgr-" + store_id, "typed 20 for 2")
    assert post(client, void, keyed, body)["notification_id"] == done["notification_id"]
    again = client.post(void, headers=manager, json={"reason": "once more"})
    assert again.status_code == 409, again.text
    assert again.headers["content-type"] == "application/problem+json"
    # Listed, marked as voided; the totals count the other one only.
    found = get(client, url, clerk, wait_for=done["notification_id"])
    assert found["total"] == 2
    assert [(r["qty"], r["voided"], r["voided_by"], r["void_reason"]) for r in found["items"]
            ] == [("20", True, "mgr-" + store_id, "typed 20 for 2"), ("2", False, None, None)]
    assert found["items"][0]["voided_at"] and found["items"][1]["voided_at"] is None
    assert (found["parts"], found["by_part"]) == (1, [
        {"part_number": "5Q0698151", "lines": 1, "qty": "2"}])


def test_the_fill_rate_counts_lost_sales_and_emergency_purchases(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id])
    analyst = auth("analyst", "ana-" + store_id, [store_id])
    # Two approved part lines: one reserved from stock, one special order (none held).
    ready_visit(client, auth, store_id, received_part(client, clerk, store_id, 3))
    never_held = new_part(client, clerk, min_stock=0)
    ready_visit(client, auth, store_id, never_held)
    # One lost sale at the counter.
    post(client, f"/stores/{store_id}/lost-sales", clerk,
         {"part_number": "WHT003858", "qty": 4, "reason": "customer_declined_wait"}, 201)
    # The special-ordered part bought in an emergency (the order's flag), and a normal order
    # of two lines (one line says emergency, but the order is never sent: no purchase).
    rush = post(client, "/purchase-orders", clerk, {
        "store_id": store_id, "supplier": "FAW-VW Parts", "emergency": True,
        "lines": [{"part_number": never_held, "qty": 1, "unit_cost": "300.00"}]}, 201)
    post(client, f"/purchase-orders/{rush['id']}/send", clerk)
    normal = post(client, "/purchase-orders", clerk, {
        "store_id": store_id, "supplier": "FAW-VW Parts",
        "lines": [{"part_number": never_held, "qty": 2, "unit_cost": "300.00"}]}, 201)
    post(client, f"/purchase-orders/{normal['id']}/send", clerk)
    post(client, "/purchase-orders", clerk, {
        "store_id": store_id, "supplier": "FAW-VW Parts",
        "lines": [{"part_number": never_held, "qty": 1, "unit_cost": "300.00",
                   "emergency": True}]}, 201)
    order = get(client, f"/purchase-orders/{rush['id']}", clerk, wait_for=head(client))
    assert [line["emergency"] for line in order["lines"]] == [True]
    publish_analytics(container)
    kpi = get(client, "/analytics/kpis/parts_fill_rate", analyst, store_id=store_id)
    # demand = 2 approved lines + 1 lost sale = 3; (3 − 1 emergency − 1 lost) ÷ 3
    assert kpi["rows"] == [{
        "demand": 3, "emergency_purchases": 1, "lost_sales": 1, "fill_rate": "0.3333",
        "part_lines_demanded": 2, "filled_from_stock": 1, "back_ordered": 0,
        "special_orders": 1, "reserved_at_approval_rate": "0.5000"}]
    # by pay type: only the approved lines (the customer's) count; neither has a pay type
    by_pay_type = get(client, "/analytics/kpis/parts_fill_rate", analyst, store_id=store_id,
                      pay_type="customer")["rows"][0]
    assert (by_pay_type["demand"], by_pay_type["fill_rate"]) == (2, "1.0000")


def test_a_rebuild_of_the_lost_sales_view_equals_the_live_one(
        client: TestClient, auth: Auth, container: Container, served: ServedScratch,
        store_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id])
    for n, reason in enumerate(("price", "out_of_stock", "not_stocked")):
        last = post(client, f"/stores/{store_id}/lost-sales", clerk,
                    {"part_number": f"RB{n % 2}", "qty": n + 1, "reason": reason}, 201)
    post(client, f"/stores/{store_id}/lost-sales/{last['id']}/void",
         auth("manager", "mgr-" + store_id, [store_id]), {"reason": "a duplicate"})
    wait_for_projection(container, "lost_sales")

    def table() -> list[str]:
        with container.pool.connection() as conn:
            return [row[0] for row in conn.execute(
                "SELECT t::text FROM lost_sales t ORDER BY id").fetchall()]

    live = table()
    assert len(live) >= 3
    for name, value in (("DATABASE_URL", served.app_url), ("SERVICECORE_JWT_SECRET", JWT_SECRET),
                        ("SERVICECORE_DATA_DIR", str(tmp_path)),
                        ("SERVICECORE_PROJECTION_BATCH_SIZE", "2")):
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert cli.main(["projections", "rebuild", "--name", "lost_sales"]) == 0
    assert '"projection": "lost_sales"' in capsys.readouterr().out
    assert table() == live
    assert cli.main(["audit", "views", "--view", "lost_sales"]) == 0
    assert '"ok": true' in capsys.readouterr().out
