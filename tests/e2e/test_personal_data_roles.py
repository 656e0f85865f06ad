"""Customers' personal data (name, phones, WeChat id; an owner's name) is shown only to the
roles that may read customers (`customers.read`: advisor, manager, cashier, auditor), as the
receivables show it: for every other role the same read has those fields null, nothing of
them in the answer, no read recorded, an ETag of its own, and no search by phone."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.auth import ALL, PERMISSIONS
from api.json_bodies import api_routes
from domain.common import CUSTOMER_ROLE
from servicecore.container import Container
from tests.e2e.scope_dataset import NAME, PHONE, Dataset, build, event_count, leaked
from tests.e2e.test_path_id_scope import PARAM, PERSONAL, as_of_variants, own_values, roles, url

Auth = Callable[..., dict[str, str]]
SEES = PERMISSIONS["customers.read"] - {CUSTOMER_ROLE}
MASKED = sorted(ALL - SEES)  # the staff's roles (the booking channel reads none of these)


@pytest.fixture(scope="module")
def dataset(client: TestClient, auth: Auth, container: Container) -> Dataset:
    return build(client, auth, container, "PD" + uuid.uuid4().hex[:5].upper())


def _asks(route: APIRoute, dataset: Dataset) -> list[tuple[str, dict[str, str]]]:
    """The route asked about the dataset's records: by its path values (and `as_of`), or, for
    a list, bare and with each query parameter that names one of them."""
    if PARAM.search(route.path):
        own = url(route, own_values(route, dataset))
        return [(own, query) for query in as_of_variants(route, dataset)]
    names = [q.name for q in route.dependant.query_params if q.name in dataset.values]
    return [(route.path, {})] + [(route.path, {n: dataset.values[n]}) for n in names]


def test_no_read_shows_personal_data_to_a_role_that_may_not_read_customers(
        client: TestClient, auth: Auth, container: Container, dataset: Dataset) -> None:
    """Every GET route, asked about the store's records by each role that may call it but may
    not read customers: none of the customers' names or phones, and no read recorded."""
    assert MASKED == ["analyst", "finance", "parts_clerk", "qc_inspector", "technician"]
    store = dataset.store_id
    failures: list[str] = []
    calls = 0
    for route in api_routes(client.app.routes):  # type: ignore[attr-defined]
        if "GET" not in (route.methods or ()):
            continue
        for role in (r for r in roles(route) if r in MASKED):
            headers = auth(role, f"{role}-{store}", [store])
            for path, query in _asks(route, dataset):
                before = event_count(container)
                answer = client.get(path, headers=headers, params=query)
                calls += 1
                shown = leaked(PERSONAL, path + str(query), answer.text)
                if shown or event_count(container) != before:
                    failures.append(f"{role} {path} {query}: {answer.status_code} {shown} "
                                    f"recorded {event_count(container) - before}")
    assert not failures, f"{len(failures)} of {calls} calls:\n" + "\n".join(failures)
    assert calls > 200


def _reads(client: TestClient, headers: dict[str, str], dataset: Dataset) -> dict[str, Any]:
    values, wait = dataset.values, {"wait_for": "0"}
    wo = f"/work-orders/{values['work_order_id']}"
    appointment = f"/appointments/{values['appointment_id']}"
    vin = values["vin"]

    def get(path: str, **query: str) -> Any:
        answer = client.get(path, headers=headers, params=query)
        assert answer.status_code == 200, (path, answer.text[:300])
        return answer.json()

    return {"work order": get(wo), "work order as of": get(wo, as_of=values["business_date"]),
            "work orders": get("/work-orders", number=values["number"], **wait)["items"][0],
            "appointment": get(appointment),
            "appointments": get("/appointments", customer_id=values["customer_id"])["items"][0],
            "vehicle": get(f"/vehicles/{vin}"),
            "vehicle as of": get(f"/vehicles/{vin}", as_of=values["business_date"]),
            "vehicles": get("/vehicles", q=vin)["items"][0]}


def _personal(reads: dict[str, Any]) -> dict[str, Any]:
    """Where each read shows the customer's name and phone (an owner's name)."""
    return {
        **{f"{key}: customer": [reads[key]["customer"][k] for k in ("name", "phone")]
           for key in ("work order", "work order as of")},
        "acknowledged_by": reads["work order"]["delivery"]["acknowledgement"]["acknowledged_by"],
        "work orders": [reads["work orders"][k] for k in ("customer_name", "customer_phone")],
        **{key: [reads[key]["customer_name"], reads[key]["customer_phones"]]
           for key in ("appointment", "appointments")},
        **{key: [reads[key]["owner_name"], *(o["name"] for o in reads[key].get("owners", ()))]
           for key in ("vehicle", "vehicle as of", "vehicles")}}


def test_each_role_is_shown_the_customer_or_nulls_in_the_same_shape(
        client: TestClient, auth: Auth, dataset: Dataset) -> None:
    store = dataset.store_id
    for role in sorted(ALL):
        reads = _reads(client, auth(role, f"{role}-{store}", [store]), dataset)
        personal = _personal(reads)
        if role in SEES:
            assert personal["work order: customer"] == [NAME, PHONE], role
            assert personal["work orders"] == [NAME, PHONE], role
            assert personal["appointment"] == [NAME, [PHONE]], role
            for key in ("vehicle", "vehicle as of"):  # the owner now, then every owner
                assert personal[key][0] == NAME and NAME in personal[key][1:], (role, key)
                assert None not in personal[key], (role, key)
            assert personal["vehicles"] == [NAME], role
        else:
            nulls = {key: [None] * len(v) if isinstance(v, list) else None
                     for key, v in personal.items()}
            assert personal == nulls, role
        # what the job needs stays: the car, the jobs, the lines, the totals
        for key in ("work order", "work order as of"):
            doc = reads[key]
            assert doc["vehicle"]["vin"] == dataset.values["vin"], (role, key)
            assert doc["customer"]["id"] == dataset.values["customer_id"], (role, key)
            assert doc["jobs"] and doc["lines"] and doc["totals"], (role, key)
        assert reads["vehicle"]["plate"] and reads["vehicles"]["vin"] == dataset.values["vin"]


def test_a_masked_work_order_has_an_etag_of_its_own(
        client: TestClient, auth: Auth, dataset: Dataset) -> None:
    """A cache keyed by the ETag never serves one role's answer to another: the answer without
    personal data is `"<version>-masked"`; it still names the version for If-Match."""
    store = dataset.store_id
    path = f"/work-orders/{dataset.values['work_order_id']}"
    tags = {}
    for role in ("advisor", "technician"):
        for query in ({}, {"wait_for": "0"}, {"wait_for": "0", "x": "1"}):
            answer = client.get(path, params=query,
                              headers=auth(role, f"{role}-{store}", [store]))
            if "x" in query:  # an unknown parameter: FastAPI's route, not the hot read
                assert answer.status_code in (200, 422)
                continue
            tags.setdefault(role, set()).add(answer.headers["ETag"])
    version = client.get(path, headers=auth("advisor", stores=[store])).json()["version"]
    assert tags == {"advisor": {f'"{version}"'}, "technician": {f'"{version}-masked"'}}


def test_only_the_roles_that_may_read_customers_search_by_phone(
        client: TestClient, auth: Auth, dataset: Dataset) -> None:
    store = dataset.store_id
    for role in sorted(ALL):
        answer = client.get("/work-orders", params={"customer_phone": PHONE},
                          headers=auth(role, f"{role}-{store}", [store]))
        if role in SEES:
            assert answer.status_code == 200, role
            assert {i["customer_name"] for i in answer.json()["items"]} == {NAME}, role
        else:
            assert answer.status_code == 403, role
            assert answer.json()["field"] == "customer_phone"
            assert PHONE not in answer.json()["detail"]
        plain = client.get("/work-orders", params={"vin": dataset.values["vin"]},
                         headers=auth(role, f"{role}-{store}", [store]))
        assert plain.status_code == 200 and plain.json()["items"], role
