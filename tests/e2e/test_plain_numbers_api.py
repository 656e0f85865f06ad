"""Numbers in one plain grammar wherever they enter: a JSON body's quantities, amounts, rates
and hours (as strings), a map's values, a query's limits and offsets, a path's job number,
the If-Match version. Python's int() and Decimal() took `1_000`, `+5`, ` 12 `, `1e2` and
non-ASCII digits (`１２`, `١٢`); each is now 422 naming the field, nothing stored, and the
value is not echoed back. JSON numbers are taken as before, exponents included."""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel, BeforeValidator

from api.json_bodies import api_routes
from api.numbers import plain
from tests.e2e.test_api_contract import log_head, open_one, opening, problem
from tests.e2e.test_request_limits import next_week

Auth = Callable[..., dict[str, str]]
LABOR = {"op_code": "BRK-PAD", "description": "replace front pads", "hours": "1.5",
         "hourly_rate": "300.00"}
# What a client never means by a number, each of which Decimal() reads as one.
LENIENT = {
    "underscore": "1_5", "plus": "+1.5", "spaces": " 1.5 ", "tab": "1.5\t",
    "no-break-space": "\u00a01.5", "full-width": "１.５", "arabic-indic": "١.٥",
    "devanagari": "१", "exponent": "1e2", "exponent-upper": "15E-1", "leading-point": ".5",
    "trailing-point": "1.", "negative-zero": "-0.00",
}


def refused_at(response: Any, loc: list[str | int]) -> None:
    """A 422 whose errors name `loc` as not a plain number, and never quote what was sent."""
    body = problem(response, 422, "invalid-input")
    assert {"loc": loc, "type": "plain_number"} in [
        {"loc": e["loc"], "type": e["type"]} for e in body["errors"]], body
    assert "input" not in str(body["errors"])


@pytest.mark.parametrize("text", LENIENT.values(), ids=LENIENT.keys())
def test_a_leniently_written_hours_or_rate_is_422_naming_it(client: TestClient, auth: Auth,
                                                           store_id: str, text: str) -> None:
    Decimal(text.strip())  # Python reads it (the no-break space aside)
    advisor = auth("advisor", "adv-li", [store_id])
    work_order = open_one(client, auth, store_id)
    before = log_head(client)
    lines = f"/work-orders/{work_order['id']}/jobs/1/labor-lines"
    refused_at(client.post(lines, json={**LABOR, "hours": text}, headers=advisor),
               ["body", "hours"])
    refused_at(client.post(lines, json={**LABOR, "hourly_rate": text}, headers=advisor),
               ["body", "hourly_rate"])
    refused_at(client.post(lines, json={**LABOR, "vat_rate": text}, headers=advisor),
               ["body", "vat_rate"])
    assert log_head(client) == before


@pytest.mark.parametrize("text", ["4_2000", "+42000", " 42000", "４２０００", "42000\n"])
def test_a_leniently_written_mileage_is_422(client: TestClient, auth: Auth, store_id: str,
                                           text: str) -> None:
    before = log_head(client)
    refused_at(client.post("/work-orders", json=opening(store_id, mileage=text),
                           headers=auth("advisor", "adv-li", [store_id])), ["body", "mileage"])
    assert log_head(client) == before


def test_true_is_not_a_number(client: TestClient, auth: Auth, store_id: str) -> None:
    """pydantic read `true` as 1 km, 1 CSI point."""
    before = log_head(client)
    refused_at(client.post("/work-orders", json=opening(store_id, mileage=True),
                           headers=auth("advisor", "adv-li", [store_id])), ["body", "mileage"])
    assert log_head(client) == before


def test_amounts_quantities_and_map_values_in_other_bodies_are_checked_alike(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", "mgr-wu", [store_id])
    part = "PN-" + store_id
    before = log_head(client)
    refused_at(client.post("/parts", headers=manager, json={
        "part_number": part, "name": "pads", "unit": "set", "category": "brake",
        "list_price": "1_000.00"}), ["body", "list_price"])
    refused_at(client.post("/appointments/capacity", headers=manager, json={
        "store_id": store_id, "from_day": next_week(), "to_day": next_week(),
        "opens": "08:30", "closes": "17:30", "bays": 4, "skill_hours": {"engine": "+8"}}),
        ["body", "skill_hours", "engine"])
    assert log_head(client) == before
    assert client.post("/parts", headers=manager, json={
        "part_number": part, "name": "pads", "unit": "set", "category": "brake",
        "list_price": "10.00"}).status_code == 201
    before = log_head(client)
    refused_at(client.post(f"/stock/{store_id}/{part}/receipts", headers=manager, json={
        "qty": "٤", "unit_cost": "3.00", "supplier": "FAW-VW Parts", "supplier_doc": "DN-1"}),
        ["body", "qty"])
    assert log_head(client) == before


@pytest.mark.parametrize("value", ["1_0", "+5", " 5", "5 ", "５", "5.", "1e1"])
def test_a_leniently_written_limit_or_offset_is_422_naming_it(client: TestClient, auth: Auth,
                                                             store_id: str, value: str) -> None:
    advisor = auth("advisor", "adv-li", [store_id])
    for name in ("limit", "offset"):
        response = client.get(f"/work-orders?{name}={quote(value)}",
                              headers=advisor)
        refused_at(response, ["query", name])
    assert client.get("/work-orders?limit=5&offset=0",
                      headers=advisor).status_code == 200


def test_a_leniently_written_job_number_in_the_path_is_422(client: TestClient, auth: Auth,
                                                          store_id: str) -> None:
    advisor = auth("advisor", "adv-li", [store_id])
    work_order = open_one(client, auth, store_id)
    before = log_head(client)
    response = client.post(f"/work-orders/{work_order['id']}/jobs/{quote('+1')}/labor-lines",
                           json=LABOR, headers=advisor)
    refused_at(response, ["path", "job_no"])
    assert log_head(client) == before


def test_what_clients_send_today_is_still_taken(client: TestClient, auth: Auth,
                                                store_id: str) -> None:
    """Strings such as "120.00" (leading zeros too), JSON numbers (with an exponent too: 1e2
    hours are 100), and the ETag forms of If-Match."""
    advisor = auth("advisor", "adv-li", [store_id])
    work_order = open_one(client, auth, store_id)
    lines = f"/work-orders/{work_order['id']}/jobs/1/labor-lines"
    start = '{"op_code": "BRK-PAD", "description": "replace front pads", '
    etag = None
    for body in ('"hours": "1.50", "hourly_rate": "0300.00"}',
                 '"hours": 1e2, "hourly_rate": 300}',
                 '"hours": 2.5, "hourly_rate": "300", "vat_rate": 0.13}'):
        headers = {"Content-Type": "application/json"}
        if etag is not None:
            headers["If-Match"] = "W/" + etag
        last = client.post(lines, content=start + body, headers={**advisor, **headers})
        assert last.status_code == 200, last.text
        etag = last.headers["ETag"]
    detail = client.get(f"/work-orders/{work_order['id']}?wait_for="
                        f"{last.json()['notification_id']}", headers=advisor).json()
    assert [(Decimal(ln["hours"]), Decimal(ln["unit_price"])) for ln in detail["lines"]] == [
        (Decimal("1.5"), Decimal(300)), (Decimal(100), Decimal(300)),
        (Decimal("2.5"), Decimal(300))]


def unchecked_under(annotation: Any, metadata: list[Any], where: str, seen: set[type], *,
                    leaves: tuple[type, ...], checks: tuple[Any, ...]) -> list[str]:
    """Where a value of one of the `leaves` types under `annotation` would be read without a
    `BeforeValidator` whose function is one of `checks` (its grammar)."""
    if any(isinstance(m, BeforeValidator) and m.func in checks for m in metadata):
        return []
    if typing.get_origin(annotation) is typing.Annotated:
        base, *extra = typing.get_args(annotation)
        return unchecked_under(base, [*metadata, *extra], where, seen, leaves=leaves,
                               checks=checks)
    if annotation in leaves:
        return [where]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return []
        seen.add(annotation)
        return [found for name, field in annotation.model_fields.items()
                for found in unchecked_under(field.annotation, field.metadata,
                                             f"{where}.{name}", seen, leaves=leaves,
                                             checks=checks)]
    return [found for arg in typing.get_args(annotation) if not isinstance(arg, str | int)
            for found in unchecked_under(arg, [], where, seen, leaves=leaves, checks=checks)]


def _unchecked(annotation: Any, metadata: list[Any], where: str,
               seen: set[type]) -> list[str]:
    """Where a number under `annotation` would be read without the plain grammar."""
    return unchecked_under(annotation, metadata, where, seen, leaves=(int, float, Decimal),
                           checks=(plain,))


def route_params(client: TestClient) -> Iterator[tuple[APIRoute, Any]]:
    """Every route of the API with each of its body, query, path and header parameters, its
    dependencies' included."""
    routes = list(api_routes(client.app.routes))  # type: ignore[attr-defined]
    assert len(routes) > 100
    for route in routes:
        pending = [route.dependant]
        while pending:
            dependant = pending.pop()
            pending += dependant.dependencies
            for param in (*dependant.query_params, *dependant.path_params,
                          *dependant.header_params, *dependant.body_params):
                yield route, param


def test_every_number_a_route_takes_is_read_in_the_plain_grammar(client: TestClient) -> None:
    """Every body field, map value, query, path and header parameter typed as a number goes
    through `api.numbers.plain`: a new `int` or `Decimal` field must be `Whole` or `Number`."""
    unchecked: list[str] = []
    for route, param in route_params(client):
        info = param.field_info
        unchecked += _unchecked(info.annotation, list(info.metadata),
                                f"{route.path} {param.name}", set())
    assert unchecked == []


@pytest.mark.parametrize("month", ["2026-5", "２０２６-05", "２０２６-０５", "2026-13"])
def test_a_ledger_month_not_in_ascii_digits_is_422_not_an_empty_ledger(client: TestClient,
                                                                       auth: Auth,
                                                                       month: str) -> None:
    """strptime took "2026-5" and "２０２６-05"; no stored month matched: an empty ledger."""
    finance = auth("finance", "fin-1")
    for path in ("/ledger", "/ledger/trial-balance"):
        response = client.get(f"{path}?month={quote(month)}", headers=finance)
        body = problem(response, 422, "invalid-input")
        assert [e["loc"] for e in body["errors"]] == [["query", "month"]]
    assert client.get("/ledger?month=2026-05", headers=finance).status_code == 200
