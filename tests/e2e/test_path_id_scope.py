"""Every route that names a record in its path reads that kind of record only, in the token's
stores only: the id of another kind of stream (a customer's id where an insurer's goes) and
the right kind in a store the token does not name are 404 alike (a value of the wrong shape
422), with none of the customer's name, phone, plate or VIN in the answer; `?as_of=` too.
Commands with a path id: the id of another kind of stream stores nothing."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.auth import PERMISSIONS
from api.json_bodies import api_routes
from api.main import create_app
from api.progress_guard import Attempts
from domain.common import CUSTOMER_ROLE
from servicecore.container import Container
from tests.e2e.scope_dataset import (
    NAME,
    OTHER_NAME,
    OTHER_PHONE,
    PHONE,
    Dataset,
    build,
    event_count,
    leaked,
    problem_of,
)
from tests.unit.test_readme_routes import _actions

Auth = Callable[..., dict[str, str]]
PARAM = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")
# The kind of stream a parameter names (those not listed name no stream: a VIN, a part
# number, a store, a code, a day...).
KIND = {"work_order_id": "WorkOrder", "customer_id": "Customer", "settlement_id": "Settlement",
        "appointment_id": "Appointment", "follow_up_id": "FollowUp",
        "complaint_id": "Complaint", "order_id": "PurchaseOrder", "transfer_id": "Transfer",
        "links_id": "ProgressLinks", "insurer": "Insurer", "statement_id": "Statement",
        "failed_part_id": "FailedPart", "booking_id": "OnlineBooking",
        "lost_sale_id": "LostSale", "grievance_id": "Grievance"}
# Records of the whole group, not of a store: the part master, the insurer master, the OEM's
# campaigns and their histories (the cars of one not done: those on the token's stores'
# files), the KPI catalogue, the progress page and the online booking's link (its token is the key), a
# command's outcome, the day-end close of the token's own stores.
GROUP = {"/parts/{part_number}", "/parts/{part_number}/history", "/insurers/{insurer}",
         "/campaigns/{campaign_no}", "/campaigns/{campaign_no}/not-done",
         "/campaigns/{campaign_no}/history",
         "/insurers/{insurer}/history", "/analytics/kpis/{name}", "/progress/{token}",
         "/progress/{token}.json", "/commands/{command_id}", "/day-end/{business_date}",
         "/booking/{booking_token}"}
PERSONAL = (NAME, PHONE, OTHER_NAME, OTHER_PHONE)  # an auditor shown one: the read is recorded
# What a route answers its own store where that is not only 200: the KPIs read the analytic
# snapshot, 404 until some test of the session has published one; the visit has no warranty
# line to claim, so no claim at the OEM and no history of one.
OWN_STATUS = {"/analytics/kpis/{name}": (200, 404),
              "/work-orders/{work_order_id}/warranty-claim": (409,),
              "/work-orders/{work_order_id}/warranty-claim/history": (404,),
              "/work-orders/{work_order_id}/warranty-claim/submissions": (404,)}
# Commands: sent by a technician where one may (who clocks on without naming whom), else by
# the manager, else by the first role that may; the ids inside the path beside the stream's;
# the bodies whose documented example names a day now past.
COMMAND_ROLES = ("technician", "manager", "advisor", "cashier", "finance", "parts_clerk",
                 "qc_inspector", "auditor", "analyst")
COMMAND_IDS = {"job_no": "1", "line_id": "L1", "line_no": "1", "evidence_id": "E1", "tag": "vip",
               "request_id": "Q1", "count_id": "C1", "write_off_id": "WO-1"}
# A refund and a write-off are named by an id of their own (kept in the settlement's stream).
ROWS = {"refund_id", "write_off_id"}
# Path values that name a store's record beside the streams': a car, a store's stock, a
# technician on a store's roster, an op code of a store's labor-operation master (a part and an
# insurer are the group's).
STORE_BOUND = {"vin", "store_id", "user_id", "op_code"}
# Reads that name their store in the query beside the path (a labor operation is a store's op
# code): sent with the dataset's store, by its own token and by another store's.
STORE_QUERY = {"/labor-operations/{op_code}", "/labor-operations/{op_code}/history",
               "/day-end/{business_date}/history"}
# A cashier's day is named by its store, its cashier and its date: the dataset's cashier.
CASHIER_QUERY = {"/day-end/{business_date}/history"}
BODIES = {"/appointments/{appointment_id}/reschedule": {
    "day": datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()}}
# The customer's pages are public and count unknown links per address: past a few, 429.
PUBLIC = {"/progress/{token}", "/progress/{token}.json", "/booking/{booking_token}"}


@pytest.fixture(scope="module")
def http(container: Container) -> Iterator[TestClient]:
    """An app of its own: the unknown progress links sent here are counted against its
    address, not the shared app's."""
    with TestClient(create_app(container.api_context())) as own:
        yield own


@pytest.fixture(scope="module")
def dataset(http: TestClient, auth: Auth, container: Container) -> Dataset:
    return build(http, auth, container, "ID" + uuid.uuid4().hex[:5].upper())


def path_routes(http: TestClient, method: str) -> list[APIRoute]:
    return [r for r in api_routes(http.app.routes)  # type: ignore[attr-defined]
            if method in (r.methods or ()) and PARAM.search(r.path)]


def roles(route: APIRoute) -> list[str]:
    """Every role that may call the route, the auditor first (a public route: the advisor's
    token, which it ignores)."""
    actions = _actions(route.dependant, set())
    allowed = set().union(*(PERMISSIONS[a] for a in actions)) if actions else {"advisor"}
    allowed.discard(CUSTOMER_ROLE)
    return sorted(allowed, key=lambda role: (role != "auditor", role))


def own_values(route: APIRoute, dataset: Dataset) -> dict[str, str]:
    """The values naming the store's own records (the progress links: of the visit that has
    them)."""
    if route.path.endswith("/progress-links"):
        return {**dataset.values, "work_order_id": dataset.values["shared_work_order_id"]}
    return dataset.values


def url(route: APIRoute, values: dict[str, str]) -> str:
    return PARAM.sub(lambda m: values[m.group(1)], route.path)


def as_of_variants(route: APIRoute, dataset: Dataset) -> Iterator[dict[str, str]]:
    store = {"store_id": dataset.store_id} if route.path in STORE_QUERY else {}
    if route.path in CASHIER_QUERY:
        store["cashier"] = f"cash-{dataset.store_id}"
    yield store
    if any(q.name == "as_of" for q in route.dependant.query_params):
        yield {**store, "as_of": dataset.values["business_date"]}


def test_every_route_with_a_path_id_has_the_dataset_value(http: TestClient,
                                                          dataset: Dataset) -> None:
    """The walk below covers every such route: a new parameter needs a value here first."""
    names = {n for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
             for r in path_routes(http, method) for n in PARAM.findall(r.path)}
    ids = {"job_no", "line_id", "line_no", "evidence_id", "tag", "request_id", "count_id",
           "refund_id", "write_off_id"}
    assert names - ids - set(dataset.values) == set()


def test_no_get_route_reads_another_kind_or_another_store(
        http: TestClient, auth: Auth, container: Container, dataset: Dataset) -> None:
    store = dataset.store_id
    routes = path_routes(http, "GET")
    failures: list[str] = []
    calls = 0
    for route in routes:
        params = PARAM.findall(route.path)
        values = own_values(route, dataset)
        if route.path in PUBLIC:  # each public page's walk starts with no unknown links seen
            http.app.state.progress_attempts = Attempts()  # type: ignore[attr-defined]
        for role in roles(route):
            mine, foreign = auth(role, f"{role}-{store}", [store]), auth(
                role, f"{role}-elsewhere", [store + "X"])
            for query in as_of_variants(route, dataset):
                own = url(route, values)
                before = event_count(container)
                answer = http.get(own, headers=mine, params=query)
                calls += 1
                if answer.status_code not in OWN_STATUS.get(route.path, (200,)):
                    failures.append(f"{role} {own} {query}: {answer.status_code} for its own "
                                    f"store {answer.text[:200]}")
                personal = leaked(PERSONAL, own, answer.text)
                if role == "auditor" and personal and event_count(container) == before:
                    failures.append(f"auditor {own} {query}: shown {personal}, no read "
                                    "recorded")
                if route.path not in GROUP:
                    calls += 1
                    elsewhere = http.get(own, headers=foreign, params=query)
                    shown = leaked(dataset.markers, own, elsewhere.text)
                    if elsewhere.status_code != 404 or shown:
                        failures.append(f"{role} of another store {own} {query}: "
                                        f"{elsewhere.status_code} {shown} "
                                        f"{elsewhere.text[:200]}")
                for param in params:
                    for kind, stream_id in dataset.streams.items():
                        if KIND.get(param) == kind:
                            continue
                        asked = url(route, {**values, param: stream_id})
                        calls += 1
                        other = http.get(asked, headers=mine, params=query)
                        shown = leaked(dataset.markers, asked, other.text)
                        refused = (404, 422, 429) if route.path in PUBLIC else (404, 422)
                        if other.status_code not in refused or shown:
                            failures.append(f"{role} {asked} {query} ({kind} as {param}): "
                                            f"{other.status_code} {shown} {other.text[:200]}")
    assert not failures, f"{len(failures)} of {calls} calls:\n" + "\n".join(failures)
    assert len(routes) >= 37 and calls > 3500


def _body(route: APIRoute) -> dict[str, Any]:
    """The route's own body example (it validates as it stands), or an empty one."""
    field = route.body_field
    if field is None:
        return {}
    model = field.field_info.annotation
    extra = getattr(model, "model_config", {}).get("json_schema_extra") or {}
    examples = extra.get("examples") or [extra.get("example") or {}]
    return dict(examples[0]) if isinstance(examples[0], dict) else {}


def test_no_command_changes_another_kind_of_stream_or_another_stores(
        http: TestClient, auth: Auth, container: Container, dataset: Dataset) -> None:
    """Each command naming a stream or a refund in its path, sent with the id of every other
    kind of stream, and each naming a store's record, sent with its own value by a token of
    another store (its body as documented): refused, and the log is as it was."""
    store = dataset.store_id
    failures: list[str] = []
    calls = 0
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        for route in path_routes(http, method):
            names = PARAM.findall(route.path)
            params = [p for p in names if p in KIND or p in ROWS]
            bound = [p for p in names if p in STORE_BOUND or KIND.get(p, "Insurer") != "Insurer"]
            if not params and not bound:
                continue
            role = next(r for r in COMMAND_ROLES if r in roles(route))
            body = {**_body(route), **BODIES.get(route.path, {})}
            asks = [(auth(role, f"{role}-{store}", [store]), param, kind, stream_id)
                    for param in params for kind, stream_id in dataset.streams.items()
                    if KIND.get(param) != kind]
            asks += [(auth(role, f"{role}-elsewhere", [store + "X"]), param, "its own",
                      dataset.values[param]) for param in bound[:1]]
            for headers, param, kind, stream_id in asks:
                asked = url(route, {**own_values(route, dataset), param: stream_id,
                                    **COMMAND_IDS})
                before = event_count(container)
                answer = http.request(method, asked, headers=headers, json=body)
                calls += 1
                stored = event_count(container) - before
                if answer.status_code not in (403, 404, 409, 422) or stored:
                    failures.append(f"{method} {asked} ({kind} as {param}): "
                                    f"{answer.status_code} stored {stored} "
                                    f"{problem_of(answer).get('detail')}")
    assert not failures, f"{len(failures)} of {calls} calls:\n" + "\n".join(failures)
    assert calls > 750


def test_no_list_finds_another_stores_record_by_its_id(
        http: TestClient, auth: Auth, dataset: Dataset) -> None:
    """Each list or search taking a query parameter that names a record (a customer, a visit,
    a lot, a VIN, a number, a phone, a request's correlation id...), given this store's value
    by every role that may call it with a token of another store: nothing of the record."""
    store = dataset.store_id
    failures: list[str] = []
    calls = 0
    for route in api_routes(http.app.routes):  # type: ignore[attr-defined]
        if "GET" not in (route.methods or ()) or PARAM.search(route.path):
            continue
        for query in route.dependant.query_params:
            if query.name not in dataset.values or query.name == "store_id":
                continue
            asked = {query.name: dataset.values[query.name]}
            for role in roles(route):
                answer = http.get(route.path, params=asked,
                                  headers=auth(role, f"{role}-elsewhere", [store + "X"]))
                calls += 1
                shown = leaked(dataset.markers, str(asked), answer.text)
                if shown:
                    failures.append(f"{role} of another store {route.path} {asked}: "
                                    f"{answer.status_code} {shown} {answer.text[:200]}")
    assert not failures, f"{len(failures)} of {calls} calls:\n" + "\n".join(failures)
    assert calls > 50


# Reads of a store's figures that name the store in the query (store_id, or a region of it):
# the KPIs and the monthly report, with what else each needs.
STORE_FIGURES = {"/analytics/kpis/{name}": {"name": "csi"},
                 "/analytics/reports/monthly": {"month": datetime.now(
                     ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")}}


def test_no_figures_of_another_store_are_read_by_naming_it(
        http: TestClient, auth: Auth, dataset: Dataset) -> None:
    """Every role that may read the store's figures, with a token of another store, asking
    for this store's: 403 problem+json, none of its figures."""
    store = dataset.store_id
    seen: set[str] = set()
    for route in api_routes(http.app.routes):  # type: ignore[attr-defined]
        if route.path not in STORE_FIGURES or "GET" not in (route.methods or ()):
            continue
        seen.add(route.path)
        extra = STORE_FIGURES[route.path]
        query = {k: v for k, v in extra.items() if "{" + k + "}" not in route.path}
        for role in roles(route):
            answer = http.get(url(route, extra), params={**query, "store_id": store},
                              headers=auth(role, f"{role}-elsewhere", [store + "X"]))
            assert answer.status_code == 403, (route.path, role, answer.text)
            assert problem_of(answer)["status"] == 403
    assert seen == set(STORE_FIGURES)
