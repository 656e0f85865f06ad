"""A yes-or-no of a JSON body is a JSON true or false (api/booleans.py). Pydantic took `0`,
`1`, `1.0` and the strings "true", "yes", "off", … as one: a quality check sent as
`"passed": "no"` or `"passed": 0` was taken on a guess at what the client meant. Each is now
422 naming the field, nothing stored, the Idempotency-Key still new; every body of every route
is walked, so a new body model cannot bring the lax reading back unseen."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any
from uuid import UUID

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from httpx import Response
from pydantic import TypeAdapter

from api.json_bodies import BodyField, Where, api_routes, body_fields, takes_json
from domain.common import ROLES
from tests.e2e.test_api_contract import log_head, problem
from tests.e2e.test_parts_api import get, post

Auth = Callable[..., dict[str, str]]
LAX = (0, 1, 0.0, "true", "yes")
# The body fields that take a boolean today; the walk finds every one of them, and any new.
KNOWN = {"QualityCheckIn.passed", "ConsentIn.granted", "RefundDecisionIn.approve",
         "DecisionIn.approve", "FromSuggestionsIn.after_transfers"}


def _boolean(found: BodyField) -> list[bool | None] | None:
    """What a boolean field takes (true, false, and null where optional), as its schema in
    the OpenAPI document says; None for a field that is no boolean."""
    schema = TypeAdapter(found.field.rebuild_annotation()).json_schema()
    kinds = {kind.get("type") for kind in schema.get("anyOf", [schema])}
    if "boolean" not in kinds:
        return None
    return [True, False, *([None] if "null" in kinds else [])]


def _at(where: Where, value: Any) -> Any:
    """A body holding `value` where the field stands, nothing else."""
    for step in reversed(where):
        value = [value] if isinstance(step, int) else {step: value}
    return value


def _send(client: TestClient, auth: Auth, route: APIRoute, store_id: str,
          body: Any) -> Response:
    """The route called with `body` and a new Idempotency-Key by a role it lets in (a
    manager's first), its path filled with ids of the store's (no such document)."""
    path = route.path.format(**{
        param.name: store_id if param.name == "store_id" else
        uuid.uuid4() if param.field_info.annotation is UUID else "1"
        for param in route.dependant.path_params})
    (method,) = route.methods
    for role in ("manager", *sorted(ROLES - {"manager"})):
        response = client.request(method, path, json=body, headers={
            **auth(role, f"{role}-{store_id}", [store_id]),
            "Idempotency-Key": str(uuid.uuid4())})
        if response.status_code not in (401, 403):
            return response
    raise AssertionError(f"no role may call {method} {route.path}")


def _errors_at(response: Response, loc: list[Any]) -> list[dict[str, Any]]:
    if response.status_code != 422:
        return []
    return [e for e in response.json().get("errors", []) if e["loc"] == loc]


def test_every_boolean_of_every_body_takes_true_or_false_only(client: TestClient, auth: Auth,
                                                            store_id: str) -> None:
    """0, 1, 0.0, "true" and "yes" are 422 `plain_boolean` naming the field (a field of a
    nested model by its place: ["body", "items", 0, "flag"]), the value not echoed; true and
    false (null where the field may be left out) are no error of that field."""
    fields = [(route, found, taken) for route in api_routes(
        client.app.routes)  # type: ignore[attr-defined]
        if takes_json(route) for found in body_fields(route)
        if (taken := _boolean(found)) is not None]
    assert {f"{found.model.__name__}.{found.name}" for _, found, _ in fields} >= KNOWN
    before = log_head(client)
    for route, found, taken in fields:
        loc = ["body", *found.where]
        for value in LAX:
            response = _send(client, auth, route, store_id, _at(found.where, value))
            refused = problem(response, 422, "invalid-input")
            assert [e["type"] for e in _errors_at(response, loc)] == ["plain_boolean"], (
                route.path, value, refused)
            assert "input" not in str(refused["errors"])
        assert log_head(client) == before, route.path
        for value in taken:
            response = _send(client, auth, route, store_id, _at(found.where, value))
            assert _errors_at(response, loc) == [], (route.path, value, response.text)


def test_a_consent_given_as_yes_is_refused_and_its_key_stays_new(client: TestClient,
                                                                auth: Auth,
                                                                store_id: str) -> None:
    """`"granted": "yes"` was taken as given, `0` as withdrawn. Refused, nothing is recorded
    and the key is free for the request the advisor meant."""
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    customer = post(client, "/customers", advisor, {
        "store_id": store_id, "name": "陈静", "phones": ["13912345678"]}, 201)
    url = f"/customers/{customer['id']}/consents"
    keyed = {**advisor, "Idempotency-Key": str(uuid.uuid4())}
    before = log_head(client)
    for value in ("yes", "true", 1, 0, "off"):
        refused = client.post(url, headers=keyed, json={"channel": "wechat", "granted": value})
        errors = problem(refused, 422, "invalid-input")["errors"]
        assert [(e["loc"], e["type"]) for e in errors] == [(["body", "granted"],
                                                            "plain_boolean")]
        assert errors[0]["msg"].startswith("Must be true or false")
    assert log_head(client) == before
    given = client.post(url, headers=keyed, json={"channel": "wechat", "granted": True})
    assert given.status_code == 200, given.text
    assert "Idempotent-Replayed" not in given.headers
    shown = get(client, f"/customers/{customer['id']}", advisor,
                wait_for=given.json()["notification_id"])
    assert shown["consent"]["wechat"]["granted"] is True
