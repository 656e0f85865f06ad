"""Hostile input the schema-driven fuzzing does not send: a JSON body under another Content-Type
or encoded, a member named twice, bytes that are not UTF-8 JSON, days at the ends of the
calendar. Each answer is a problem naming what is wrong, with the right status; nothing stored."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from analytics.loader import AnalyticsLoader
from servicecore.container import Container
from tests.e2e.test_api_contract import log_head, open_one, opening, problem
from tests.e2e.test_progress_page import HTML, form_fields, head, page_path, share, visit, wo_doc

Auth = Callable[..., dict[str, str]]
LABOR = {"op_code": "BRK-PAD", "description": "replace front pads", "hours": "1.5",
         "hourly_rate": "300.00"}


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/xml",
                                          "application/x-www-form-urlencoded", "text/json"])
def test_a_json_body_sent_as_something_else_is_415_and_stores_nothing(
        client: TestClient, auth: Auth, store_id: str, content_type: str | None) -> None:
    """It was 422 "Input should be a valid dictionary" at `body`: the body was fine, the
    Content-Type was not, and the answer did not say so."""
    before = log_head(client)
    headers = auth("advisor", "adv-li", [store_id])
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = client.post("/work-orders", content=json.dumps(opening(store_id)).encode(),
                           headers=headers)
    detail = problem(response, 415, "unsupported-media-type")["detail"]
    assert "application/json" in detail
    assert log_head(client) == before


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8",
                                          "Application/JSON", "application/merge-patch+json"])
def test_json_under_any_json_media_type_is_still_read(client: TestClient, auth: Auth,
                                                      store_id: str, content_type: str) -> None:
    response = client.post("/work-orders", content=json.dumps(opening(store_id)).encode(),
                           headers={**auth("advisor", "adv-li", [store_id]),
                                    "Content-Type": content_type})
    assert response.status_code == 201, response.text


def test_an_encoded_body_is_415_and_stores_nothing(client: TestClient, auth: Auth,
                                                   store_id: str) -> None:
    """No route decodes a body: gzip was read as it came, a "JSON decode error" (422) or a
    body "not UTF-8" (400), and one that happened to parse was taken as sent."""
    before = log_head(client)
    headers = {**auth("advisor", "adv-li", [store_id]), "Content-Type": "application/json",
               "Content-Encoding": "gzip"}
    body = json.dumps(opening(store_id)).encode()
    for sent in (gzip.compress(body), body):
        response = client.post("/work-orders", content=sent, headers=headers)
        assert "Content-Encoding: gzip" in problem(response, 415,
                                                   "unsupported-media-type")["detail"]
        assert response.headers["connection"] == "close"
    assert log_head(client) == before
    plain = client.post("/work-orders", content=body,
                        headers={**headers, "Content-Encoding": "identity"})
    assert plain.status_code == 201, plain.text


def test_a_member_named_twice_is_422_naming_it_and_stores_nothing(client: TestClient,
                                                                  auth: Auth,
                                                                  store_id: str) -> None:
    """The parser kept the last of the two: the request meant one store to whatever read the
    first (a proxy, a log line) and another to the route."""
    before = log_head(client)
    headers = {**auth("advisor", "adv-li", [store_id]), "Content-Type": "application/json"}
    raw = json.dumps(opening(store_id))
    twice = '{"store_id": "S99", ' + raw[1:]
    errors = problem(client.post("/work-orders", content=twice, headers=headers), 422,
                     "invalid-input")["errors"]
    assert errors == [{"loc": ["body", "store_id"], "msg": "Given more than once",
                       "type": "repeated"}]
    nested = raw.replace('"name": "', '"name": "陈静", "name": "', 1)
    errors = problem(client.post("/work-orders", content=nested, headers=headers), 422,
                     "invalid-input")["errors"]
    assert errors == [{"loc": ["body", "customer", "name"], "msg": "Given more than once",
                       "type": "repeated"}]
    in_a_list = raw[:-1] + ', "x": [1, {"a": 1, "a": 2}]}'
    errors = problem(client.post("/work-orders", content=in_a_list, headers=headers), 422,
                     "invalid-input")["errors"]
    assert [e["loc"] for e in errors] == [["body", "x", 1, "a"]]
    assert log_head(client) == before


@pytest.mark.parametrize(("body", "detail"), [
    (b'{"store_id": "\xff\xfe"}', "the body is not UTF-8 (byte 14 cannot be decoded)"),
    (b"[" * 100_000 + b"]" * 100_000, "the body is nested too deeply"),
    (b'{"mileage": 1' + b"0" * 5000 + b"}", "a number in the body has more than 4300 digits"),
], ids=["not-utf8", "nested-100000", "5000-digits"])
def test_a_body_the_parser_cannot_read_says_why(client: TestClient, auth: Auth,
                                                store_id: str, body: bytes,
                                                detail: str) -> None:
    """All three were 400 "There was an error parsing the body", whatever the reason."""
    before = log_head(client)
    response = client.post("/work-orders", content=body,
                           headers={**auth("advisor", "adv-li", [store_id]),
                                    "Content-Type": "application/json"})
    assert problem(response, 400, "http-400")["detail"] == detail
    assert log_head(client) == before


@pytest.mark.parametrize("number", ["0." + "1" * 250_000, "1." + "0" * 250_000,
                                    "1" * 4300 + "." + "1" * 4301])
def test_a_number_with_a_quarter_million_digits_is_400_before_validation(
        client: TestClient, auth: Auth, store_id: str, number: str) -> None:
    """Found by the big-input sweep: a whole-number field (the mileage, a job number, a year)
    given a JSON number with a long fraction was refused as "not a whole number" only after
    pydantic's check, whose time grows with the square of the digits: 250,000 of them (well
    under the body limit) held the GIL for seconds. Now refused by the parser, naming the
    limit; 8,600 digits, either side of the point, are still read."""
    before = log_head(client)
    raw = json.dumps(opening(store_id))[:-1] + f', "mileage": {number}}}'
    response = client.post("/work-orders", content=raw,
                           headers={**auth("advisor", "adv-li", [store_id]),
                                    "Content-Type": "application/json"})
    assert problem(response, 400, "http-400")["detail"] == \
        "a number in the body has more than 8600 significant digits"
    assert log_head(client) == before
    at_the_limit = json.dumps(opening(store_id))[:-1] + f', "mileage": 0.{"1" * 8600}}}'
    errors = problem(client.post("/work-orders", content=at_the_limit,
                                 headers={**auth("advisor", "adv-li", [store_id]),
                                          "Content-Type": "application/json"}),
                     422, "invalid-input")["errors"]
    assert [e["loc"] for e in errors] == [["body", "mileage"]]
    assert log_head(client) == before


@pytest.mark.parametrize("query", ["date_to=0001-01-01", "date_to=9999-12-31",
                                   "date_from=0001-01-01&date_to=0001-01-05"])
def test_a_dashboard_day_off_the_calendar_is_422_not_500(client: TestClient, auth: Auth,
                                                         query: str) -> None:
    """Found by fuzzing: the period before the one asked for, and the last days of the
    trend, were computed past the first or last day Python's dates hold (OverflowError)."""
    response = client.get(f"/analytics/dashboard?{query}", headers=auth("manager", "mgr-wu"))
    name = query.split("=")[0]
    assert problem(response, 422, "invalid-input")["detail"] == \
        f"{name} must be a day from 1900-01-01 to 9998-12-31"


@pytest.mark.parametrize("if_match", [
    '"' + "1" * 5000 + '"', "9" * 19, f'"{2**64}"',
    '"1', '1"', "W/1", '" 1"', '"1_0"', '"+1"',
], ids=["5000-digits", "19-digits", "2^64", "open-quote", "close-quote", "weak-unquoted",
        "blank-inside", "underscore", "plus"])
def test_an_if_match_past_any_version_or_not_an_etag_is_422_and_stores_nothing(
        client: TestClient, auth: Auth, store_id: str, if_match: str) -> None:
    """Found by hand: 5,000 digits passed the ETag pattern and failed Python's int() (over
    4,300 digits), a 500; 4,000 were echoed back whole in the 412's detail. And a number
    written other than plainly (unpaired quotes, a blank, `_`, `+`) is no ETag."""
    advisor = auth("advisor", "adv-li", [store_id])
    work_order = open_one(client, auth, store_id)
    before = log_head(client)
    response = client.post(f"/work-orders/{work_order['id']}/jobs/1/labor-lines",
                           json=LABOR, headers={**advisor, "If-Match": if_match})
    assert problem(response, 422, "invalid-input")["detail"] == \
        'If-Match must be an ETag such as "7"'
    assert log_head(client) == before
    stale = client.post(f"/work-orders/{work_order['id']}/jobs/1/labor-lines", json=LABOR,
                        headers={**advisor, "If-Match": '"999999999999999999"'})
    problem(stale, 412, "stale-version")


def test_an_empty_store_filter_on_serial_conflicts_lists_none_not_500(client: TestClient,
                                                                      auth: Auth) -> None:
    """Found by the deep fuzzing run (seed 1): `store_id=` put the filter in the query but left
    its value out of the parameters (an empty string is falsy), a 500 from psycopg."""
    response = client.get("/audit/serial-conflicts?from=2026-01-01&to=2026-01-01&store_id=",
                          headers=auth("manager", "mgr-wu"))
    assert response.status_code == 200, response.text
    assert response.json()["count"] == 0 and response.json()["store_id"] == ""


def test_a_quantity_in_exponent_notation_is_kept_in_plain_notation(client: TestClient,
                                                                   auth: Auth,
                                                                   store_id: str) -> None:
    """Found by hand: "1e2" flat-rate hours were accepted as 100 and stored, shown (and
    printed on the bill) as "1E+2". Such a string is now refused (tests/e2e/
    test_plain_numbers_api.py); the JSON number 1e2 is still taken, in plain notation."""
    advisor = auth("advisor", "adv-li", [store_id])
    work_order = open_one(client, auth, store_id)
    body = json.dumps(LABOR).replace('"1.5"', "1e2")  # as JSON writes it: not 100.0
    added = client.post(f"/work-orders/{work_order['id']}/jobs/1/labor-lines", content=body,
                        headers={**advisor, "Content-Type": "application/json"})
    assert added.status_code == 200, added.text
    detail = client.get(f"/work-orders/{work_order['id']}?wait_for="
                        f"{added.json()['notification_id']}", headers=advisor).json()
    # JSON's numbers are read exactly (api/json_bodies.py): 1e2 is 100, as "100" would be
    assert [line["hours"] for line in detail["lines"]] == ["100"]


@pytest.mark.parametrize(("body", "detail"), [
    ((b'{"decisions": [{"line_id": "L1", "decision": "declined"}], '
      b'"decisions": [{"line_id": "L1", "decision": "approved"}]}'),
     "a member is named more than once: decisions"),
    (b'{"decisions": [{"line_id": "L1", "decision": "declined", "decision": "approved"}]}',
     "a member is named more than once: decisions.0.decision"),
], ids=["top", "nested"])
def test_a_customer_decision_naming_a_member_twice_is_422(client: TestClient, body: bytes,
                                                          detail: str) -> None:
    """The progress page's decisions are read by the route itself, whose parser kept the
    last of the two."""
    before = log_head(client)
    response = client.post(f"/progress/{'A' * 80}/decisions", content=body,
                           headers={"Content-Type": "application/json"})
    assert problem(response, 422, "invalid-input")["detail"] == detail
    assert log_head(client) == before


def test_a_customer_form_giving_a_field_twice_is_refused_on_the_page(client: TestClient,
                                                                     auth: Auth,
                                                                     store_id: str) -> None:
    """The form took the first value: `line_id=L1&line_id=L2` decided L1 alone."""
    advisor = auth("advisor", "adv-sun", [store_id])
    wo_id = visit(client, advisor, store_id, auth("technician", "tech-2", [store_id]))
    issued = share(client, advisor, wo_id)
    fields = form_fields(client.get(page_path(issued), headers=HTML).text, "L1")
    version = wo_doc(client, wo_id, advisor, wait_for=head(client))["version"]
    form = urlencode({**fields, "decision": "approved"}) + "&line_id=L2"
    response = client.post(f"{page_path(issued)}/decisions", content=form.encode(),
                           headers={**HTML, "Content-Type": "application/x-www-form-urlencoded"},
                           follow_redirects=False)
    assert response.status_code == 422
    assert "a form field is given more than once: line_id" in response.text
    assert wo_doc(client, wo_id, advisor, wait_for=head(client))["version"] == version


def test_a_number_with_a_huge_scale_never_stops_a_view(client: TestClient, auth: Auth,
                                                       store_id: str) -> None:
    """Found by hand: a part's minimum stock of "0E-1000000" (a zero with a million decimals)
    passed every check, was stored in the event, and stopped the stock view for good
    (PostgreSQL: value overflows numeric format); so would "1.5" followed by 20,000 zeros.
    Trailing zeros are now dropped to what the figure takes; other digits past it refused.
    (An exponent in a string is refused now: the zero is written out, 20,000 decimals.)"""
    manager = auth("manager", "mgr-wu", [store_id])
    part = "PN-" + store_id
    registered = client.post("/parts", headers=manager, json={
        "part_number": part, "name": "coolant", "unit": "L", "category": "fluid",
        "list_price": "10.00", "min_stock": "0." + "0" * 20_000})
    assert registered.status_code == 201, registered.text
    changed = client.post(f"/parts/{part}/details", headers=manager,
                          json={"reorder_qty": "1.5" + "0" * 20_000, "reason": "bulk pack"})
    assert changed.status_code == 200, changed.text
    shown = client.get(f"/parts/{part}?wait_for={changed.json()['notification_id']}",
                       headers=manager)
    assert shown.status_code == 200, shown.text
    assert (shown.json()["min_stock"], shown.json()["reorder_qty"]) == ("0", "1.5")
    refused = client.post(f"/parts/{part}/details", headers=manager,
                          json={"reorder_qty": "1.5" + "0" * 20_000 + "1",
                                "reason": "bulk pack"})
    assert problem(refused, 422, "invalid-input")["detail"] == \
        "reorder qty has more than 12 decimals"  # not echoed: it was, all 20,002 digits

    advisor = auth("advisor", "adv-li", [store_id])
    work_order = open_one(client, auth, store_id)
    added = client.post(f"/work-orders/{work_order['id']}/jobs/1/labor-lines", headers=advisor,
                        json={**LABOR, "vat_rate": "0.13" + "0" * 20_000})
    assert added.status_code == 200, added.text
    detail = client.get(f"/work-orders/{work_order['id']}?wait_for="
                        f"{added.json()['notification_id']}", headers=advisor).json()
    assert [line["vat_rate"] for line in detail["lines"]] == ["0.1300"]


@pytest.mark.parametrize("query", ["date_to=0001-01-01", "date_from=0001-01-01",
                                   "date_to=9999-12-31"])
def test_a_kpi_day_off_the_calendar_is_422_naming_it(client: TestClient, container: Container,
                                                     auth: Auth, query: str) -> None:
    """Found by hand: parts turnover without `date_from` looks back a year from `date_to`, and
    from 0001-01-01 that left Python's calendar (OverflowError, 500)."""
    loader = AnalyticsLoader(container.app, container.settings.analytics_path)
    try:
        loader.catch_up()
        loader.publish(force=True)
    finally:
        loader.close()
    response = client.get(f"/analytics/kpis/parts_turnover?{query}",
                          headers=auth("analyst", "ana-1"))
    errors = problem(response, 422, "invalid-input")["errors"]
    assert [e["loc"] for e in errors] == [["query", query.split("=")[0]]]
