"""A JSON body is parsed once, before FastAPI would, and its numbers are read exactly
(api/json_bodies.py). Before, FastAPI, the repeated-name check and the idempotency fingerprint
each parsed it, as floats: `10.0000000000000000001` was taken as 10.00 where the same string
was refused, a quantity's 18th digit was lost, and two bodies differing past the 17th digit
were one request to an Idempotency-Key. NaN and Infinity, which are not JSON, are refused
wherever they stand."""

from __future__ import annotations

import itertools
import json
import typing
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from pydantic import BaseModel, TypeAdapter, ValidationError

from api.json_bodies import JsonBodyRoute, api_routes, body_fields, takes_json
from api.main import refuse_float_bodies
from tests.e2e.test_api_contract import log_head, open_one, opening, problem
from tests.unit.test_exact_json import decimal_texts, number_in, zero_texts

Auth = Callable[..., dict[str, str]]
JSON = {"Content-Type": "application/json"}
_parts = itertools.count()


def test_every_route_that_takes_json_reads_it_first(client: TestClient) -> None:
    """A router made without `route_class=JsonBodyRoute` would parse its bodies as floats."""
    routes = [route for route in api_routes(client.app.routes)  # type: ignore[attr-defined]
              if takes_json(route)]
    assert len(routes) > 50
    assert [route.path for route in routes if not isinstance(route, JsonBodyRoute)] == []


class _Thing(BaseModel):
    qty: Decimal


def _take(thing: _Thing) -> None:
    """A route taking a JSON body."""


def test_a_router_without_the_route_class_stops_the_start() -> None:
    """The app refuses to start with a JSON-body route FastAPI alone would parse."""
    plain = APIRouter(prefix="/unchecked")
    parsed = APIRouter(prefix="/checked", route_class=JsonBodyRoute)
    for router in (plain, parsed):
        router.add_api_route("/things", _take, methods=["POST"])
    app = FastAPI()
    app.include_router(parsed)
    refuse_float_bodies(app)  # every JSON route reads its body first: no complaint
    app.include_router(plain)
    with pytest.raises(RuntimeError, match="/unchecked/things"):
        refuse_float_bodies(app)


def _count_parses(monkeypatch: pytest.MonkeyPatch, body: str) -> list[str]:
    """Every parse of `body` by Python's JSON decoder, whoever asks for it."""
    parses: list[str] = []
    decode = json.JSONDecoder.decode

    def counted(self: json.JSONDecoder, s: str, *args: Any, **kwargs: Any) -> Any:
        if s == body:
            parses.append(s)
        return decode(self, s, *args, **kwargs)

    monkeypatch.setattr(json.JSONDecoder, "decode", counted)
    return parses


def test_a_command_body_is_parsed_once(client: TestClient, auth: Auth, store_id: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """It was parsed three times: by FastAPI, for names given twice, for the fingerprint."""
    body = json.dumps(opening(store_id, mileage=30_000.0))
    parses = _count_parses(monkeypatch, body)
    response = client.post("/work-orders", content=body, headers={
        **auth("advisor", "adv-li", [store_id]), **JSON, "Idempotency-Key": str(uuid.uuid4())})
    assert response.status_code == 201, response.text
    assert len(parses) == 1


def test_customer_decisions_are_parsed_once(client: TestClient,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The progress page's decisions were parsed twice (the body, then names given twice)."""
    body = '{"decisions": [{"line_id": "L1", "decision": "approved"}]}'
    parses = _count_parses(monkeypatch, body)
    response = client.post(f"/progress/{'A' * 80}/decisions", content=body, headers=JSON)
    assert response.status_code == 404  # no such link: read, then looked up
    assert len(parses) == 1


def _part(manager: dict[str, str], client: TestClient, store_id: str, **numbers: str) -> Any:
    """Register a part, its numbers written in the body as given (JSON text): measured in
    litres, so that its levels may be fractional (a part counted in pieces takes whole ones)."""
    number = f"PN-{store_id}-{next(_parts)}"
    fields = {"list_price": "10.00", "min_stock": "0", "reorder_qty": "0", **numbers}
    body = (f'{{"part_number": "{number}", "name": "coolant", "unit": "L", '
            f'"category": "fluid", '
            + ", ".join(f'"{name}": {text}' for name, text in fields.items()) + "}")
    return number, client.post("/parts", content=body, headers={**manager, **JSON})


def _shown(client: TestClient, manager: dict[str, str], number: str, registered: Any) -> Any:
    shown = client.get(f"/parts/{number}?wait_for={registered.json()['notification_id']}",
                       headers=manager)
    assert shown.status_code == 200, shown.text
    return {name: shown.json()[name] for name in ("list_price", "min_stock", "reorder_qty")}


def test_a_number_past_17_digits_is_read_exactly(client: TestClient, auth: Auth,
                                                 store_id: str) -> None:
    """`10.0000000000000000001` was the float 10.0 and registered at 10.00; the string was
    refused, as the number is now."""
    manager = auth("manager", "mgr-wu", [store_id])
    before = log_head(client)
    _, as_number = _part(manager, client, store_id, list_price="10.0000000000000000001")
    _, as_string = _part(manager, client, store_id, list_price='"10.0000000000000000001"')
    assert problem(as_number, 422, "invalid-input") == problem(as_string, 422, "invalid-input")
    assert log_head(client) == before


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=zero_texts | decimal_texts)
@example(text="-0")
@example(text="-0.0")
@example(text="-0.00")
@example(text="0")
def test_a_json_number_is_taken_as_its_string_is(client: TestClient, auth: Auth,
                                                 store_id: str, text: str) -> None:
    """Up to 30 digits, and zeros with or without a minus, as a list price, a minimum stock
    and a reorder quantity: accepted or refused alike (the same problem), and stored as the
    same decimal. `-0` and `-0.0` were stored as 0 where "-0" was refused: a negative zero is
    now 422 naming each field, as a number as as a string."""
    manager = auth("manager", "mgr-wu", [store_id])
    numbers = {"list_price": text, "min_stock": text, "reorder_qty": text}
    strings = {name: f'"{value}"' for name, value in numbers.items()}
    (n_number, as_number), (n_string, as_string) = (_part(manager, client, store_id, **kept)
                                                    for kept in (numbers, strings))
    assert as_number.status_code == as_string.status_code, (as_number.text, as_string.text)
    if text.startswith("-") and Decimal(text) == 0:
        errors = problem(as_number, 422, "invalid-input")["errors"]
        assert sorted((e["loc"], e["type"]) for e in errors) == [
            (["body", name], "plain_number") for name in sorted(numbers)]
        assert all("negative zero" in e["msg"] for e in errors)
    if as_number.status_code != 201:
        assert as_number.json() == as_string.json()
        return
    assert _shown(client, manager, n_number, as_number) == \
        _shown(client, manager, n_string, as_string)


LABOR = ('{"op_code": "BRK-PAD", "description": %s, "hours": %s, "hourly_rate": "300.00", '
         '"vat_rate": %s}')


@pytest.mark.parametrize(("constant", "place"), [
    ("NaN", "hours"), ("Infinity", "hours"), ("-Infinity", "vat_rate"), ("NaN", "description"),
])
def test_nan_or_infinity_is_422_naming_where_it_stands(client: TestClient, auth: Auth,
                                                       store_id: str, constant: str,
                                                       place: str) -> None:
    """Not JSON, though Python's parser takes them: a text field answered "Input should be a
    valid string", as if a number had been sent."""
    advisor = auth("advisor", "adv-li", [store_id])
    work_order = open_one(client, auth, store_id)
    before = log_head(client)
    values = {"description": '"pads"', "hours": "1.5", "vat_rate": "0.13", place: constant}
    body = LABOR % (values["description"], values["hours"], values["vat_rate"])
    response = client.post(f"/work-orders/{work_order['id']}/jobs/1/labor-lines",
                           content=body, headers={**advisor, **JSON})
    errors = problem(response, 422, "invalid-input")["errors"]
    assert [(e["loc"], e["type"]) for e in errors] == [(["body", place], "finite_number")]
    assert "not JSON" in errors[0]["msg"]
    assert log_head(client) == before


def test_nan_nested_or_as_the_body_is_422_naming_where(client: TestClient, auth: Auth,
                                                       store_id: str) -> None:
    headers = {**auth("advisor", "adv-li", [store_id]), **JSON}
    before = log_head(client)
    nested = json.dumps(opening(store_id)).replace('"13611112222"', "NaN")
    for body, loc in ((nested, ["body", "customer", "phone"]), ("Infinity", ["body"])):
        errors = problem(client.post("/work-orders", content=body, headers=headers), 422,
                         "invalid-input")["errors"]
        assert [(e["loc"], e["type"]) for e in errors] == [(loc, "finite_number")]
    decided = client.post(f"/progress/{'A' * 80}/decisions", headers=JSON,
                          content='{"decisions": [{"line_id": NaN, "decision": "approved"}]}')
    assert problem(decided, 422, "invalid-input")["detail"] == \
        "NaN and Infinity are not JSON numbers: decisions.0.line_id"
    assert log_head(client) == before


@pytest.mark.parametrize(("field", "text"), [
    ("mileage", "1e999999999"), ("mileage", "1e5000"), ("mileage", "-1e99999999999999999999"),
])
def test_a_number_an_exponent_makes_too_long_is_400_at_once(client: TestClient, auth: Auth,
                                                           store_id: str, field: str,
                                                           text: str) -> None:
    """Read as floats these were infinite; read exactly, 1e999999999 would be a whole number
    that int() takes minutes to build. Refused as a whole number of more than 4300 digits is."""
    before = log_head(client)
    body = json.dumps(opening(store_id)).replace('"mileage": 30000', f'"{field}": {text}')
    response = client.post("/work-orders", content=body,
                           headers={**auth("advisor", "adv-li", [store_id]), **JSON})
    assert problem(response, 400, "http-400")["detail"] == \
        "a number in the body has more than 4300 digits"
    assert log_head(client) == before


@pytest.mark.parametrize(("text", "taken"), [("12", 12), ("12.0", 12), ("1e2", 100),
                                             ("12.5", None), ("12.00000000000000000001", None)])
def test_a_whole_number_is_taken_as_before_and_exactly(client: TestClient, auth: Auth,
                                                       store_id: str, text: str,
                                                       taken: int | None) -> None:
    """12, 12.0 and 1e2 km as before; 12.5 refused as before, and so is 12.00000000000000000001
    (the float 12.0 was taken)."""
    advisor = auth("advisor", "adv-li", [store_id])
    body = json.dumps(opening(store_id)).replace('"mileage": 30000', f'"mileage": {text}')
    response = client.post("/work-orders", content=body, headers={**advisor, **JSON})
    if taken is None:
        errors = problem(response, 422, "invalid-input")["errors"]
        assert [(e["loc"], e["type"]) for e in errors] == [(["body", "mileage"],
                                                            "int_from_float")]
        return
    assert response.status_code == 201, response.text
    shown = client.get(f"/work-orders/{response.json()['id']}?wait_for="
                       f"{response.json()['notification_id']}", headers=advisor)
    assert shown.json()["mileage"] == taken


def test_a_malformed_body_is_fastapis_422(client: TestClient, auth: Auth,
                                          store_id: str) -> None:
    response = client.post("/work-orders", content='{"store_id": 1.5.5}',
                           headers={**auth("advisor", "adv-li", [store_id]), **JSON})
    errors = problem(response, 422, "invalid-input")["errors"]
    assert errors == [{"loc": ["body", 16], "msg": "JSON decode error", "type": "json_invalid"}]


def test_a_retry_is_matched_by_its_exact_numbers(client: TestClient, auth: Auth,
                                                 store_id: str) -> None:
    """`1.5` and `1.50` hours are the same request, as they were. A minimum stock of
    `1234.5670000000000000001` was one request with `1234.567` to the key (the float could
    not tell them apart), answered with the first's answer: now it is another request."""
    manager = auth("manager", "mgr-wu", [store_id])
    number, registered = _part(manager, client, store_id)
    assert registered.status_code == 201, registered.text
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first, same, other = (client.post(f"/parts/{number}/details", headers={
        **manager, **JSON, **key}, content=f'{{"min_stock": {text}, "reason": "fleet demand"}}') for text in (
        "1234.567", "1234.5670", "1234.5670000000000000001"))
    assert first.status_code == 200, first.text
    assert same.status_code == 200 and same.headers["Idempotent-Replayed"] == "true"
    assert same.json() == first.json()
    problem(other, 422, "idempotency-key-reused")
    advisor = auth("advisor", "adv-li", [store_id])
    work_order = open_one(client, auth, store_id)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    lines = [client.post(f"/work-orders/{work_order['id']}/jobs/1/labor-lines",
                         headers={**advisor, **JSON, **key},
                         content=LABOR % ('"pads"', hours, "0.13")) for hours in ("1.5", "1.50")]
    assert lines[0].status_code == 200, lines[0].text
    assert lines[1].headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("depth", [100_000, 2_000, 900, 400])
def test_a_deeply_nested_body_is_a_clear_4xx_with_a_key_too(client: TestClient, auth: Auth,
                                                            store_id: str, depth: int) -> None:
    """Past the parser's depth it is 400 "nested too deeply"; within it, the NaN at the bottom
    is found where it stands (the walk has a stack of its own), never a 500; the fingerprint
    is never reached."""
    before = log_head(client)
    body = ('{"store_id": "S01", "x": ' + "[" * depth + "NaN" + "]" * depth + "}").encode()
    response = client.post("/work-orders", content=body, headers={
        **auth("advisor", "adv-li", [store_id]), **JSON, "Idempotency-Key": str(uuid.uuid4())})
    if response.status_code == 400:
        assert problem(response, 400, "http-400")["detail"] == "the body is nested too deeply"
    else:
        errors = problem(response, 422, "invalid-input")["errors"]
        assert [e["loc"] for e in errors] == [["body", "x", *[0] * depth]]
    assert log_head(client) == before


def _validated(adapter: TypeAdapter[Any], value: Any) -> Any:
    try:
        read = adapter.validate_python(value)
    except ValidationError as exc:
        return [(e["type"], e["loc"]) for e in exc.errors()]
    return type(read), read


ZEROS = ("0", "-0", "0.0", "-0.0", "-0.00", "0.000")


def test_every_body_field_takes_a_number_a_float_held_as_it_did(client: TestClient) -> None:
    """No body field is typed float, and none answers a Decimal otherwise than the float it
    was: the same value (of the same type) or the same errors, for numbers a float holds. And
    every number field (one that reads 1 as it reads "1") reads each zero as its string: `-0`
    and `-0.0` refused as "-0" and "-0.0" are (they were taken as 0)."""
    fields = {f"{found.model.__name__}.{found.name}": found.field
              for route in api_routes(client.app.routes)  # type: ignore[attr-defined]
              for found in body_fields(route)}
    assert len(fields) > 200
    differ = []
    numeric = 0
    for where, field in fields.items():
        adapter = TypeAdapter(field.rebuild_annotation())
        for text in ("1.0", "0.0", "-0.0", "1.5", "12.0", "0.13", "1e2", "-3.25", "3E4",
                     "2026.0", "1700000000.0", "0.5e-3", "-0e2"):
            as_float, exact = (_validated(adapter, v) for v in (float(text), number_in(text)))
            if as_float != exact:
                differ.append((where, text, as_float, exact))
        one = _validated(adapter, 1)
        if one != _validated(adapter, "1") or bool in (field.annotation,
                                                       *typing.get_args(field.annotation)):
            continue  # not a number (pydantic reads 1 and "1" as true, 0 as false)
        numeric += not isinstance(one, list)
        for text in ZEROS:
            as_number, as_string = (_validated(adapter, v) for v in (number_in(text), text))
            if as_number != as_string:
                differ.append((where, text, as_number, as_string))
    assert numeric > 50
    assert differ == []
