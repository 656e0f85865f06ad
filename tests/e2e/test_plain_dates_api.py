"""Days and moments in one plain grammar wherever they enter (api/dates.py): a body's days
(`from_day`, `day`, `sale_date`, `business_date`) and moments (`promised_at`), a query's days
(`from_day`, `date_from`, `aged_on`, `from`), moments (`opened_from`, `at_from`) and `as_of`,
a path's `/day-end/{business_date}`. pydantic (lax mode) and fromisoformat() read `20260501`,
`1777593600` (a unix timestamp: 2026-05-01), `2026-05-01 10:00`, a moment without its zone;
each is now 422 naming the field, nothing stored, and the value not echoed back."""

from __future__ import annotations

import typing
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from pydantic import BeforeValidator

from api import dates
from tests.e2e.test_api_contract import VIN, log_head, open_one, problem
from tests.e2e.test_plain_numbers_api import route_params, unchecked_under
from tests.e2e.test_request_limits import next_week

Auth = Callable[..., dict[str, str]]
# What a client never means by a day, each of which pydantic or fromisoformat() reads.
LENIENT_DAYS = {
    "digits-only": "20260501", "unix-seconds": "1777593600", "unix-number": 1777593600,
    "no-zero-padding": "2026-5-1", "full-width": "２０２６-05-01", "week-date": "2026-W18-5",
    "with-time": "2026-05-01T00:00:00", "blank": " 2026-05-01",
}
LENIENT_MOMENTS = {
    "no-zone": "2026-05-01T17:00:00", "space-for-T": "2026-05-01 17:00:00+08:00",
    "unix-seconds": "1777593600", "unix-number": 1777593600, "digits-only": "20260501T170000Z",
    "a-day": "2026-05-01", "full-width": "２０２６-05-01T17:00:00Z", "zone-without-colon":
    "2026-05-01T17:00:00+0800",
}
CHECKED = (dates.day, dates.day_text, dates.moment, dates.query_moment,
           dates.day_or_moment_text)


def refused_at(response: Any, loc: list[str | int], kind: str) -> None:
    """A 422 whose errors name `loc` with `kind`, and never quote what was sent."""
    body = problem(response, 422, "invalid-input")
    assert {"loc": loc, "type": kind} in [
        {"loc": e["loc"], "type": e["type"]} for e in body["errors"]], body
    assert "input" not in str(body["errors"])


def capacity(store_id: str, **days: Any) -> dict[str, Any]:
    return {"store_id": store_id, "from_day": next_week(), "to_day": next_week(),
            "opens": "08:30", "closes": "17:30", "bays": 4, "skill_hours": {"engine": "8"},
            **days}


@pytest.mark.parametrize("value", LENIENT_DAYS.values(), ids=LENIENT_DAYS.keys())
def test_a_leniently_written_day_in_a_body_is_422_naming_it(client: TestClient, auth: Auth,
                                                            store_id: str, value: Any) -> None:
    manager = auth("manager", "mgr-wu", [store_id])
    before = log_head(client)
    for name in ("from_day", "to_day"):
        refused_at(client.post("/appointments/capacity", headers=manager,
                               json=capacity(store_id, **{name: value})),
                   ["body", name], "plain_day")
    refused_at(client.post("/vehicles", headers=auth("advisor", "adv-li", [store_id]), json={
        "store_id": store_id, "vin": VIN, "sale_date": value}), ["body", "sale_date"],
        "plain_day")
    refused_at(client.post("/day-end", headers=auth("cashier", "cash-1", [store_id]), json={
        "store_id": store_id, "counted_cash": "0", "business_date": value}),
        ["body", "business_date"], "plain_day")
    assert log_head(client) == before


@pytest.mark.parametrize("value", LENIENT_MOMENTS.values(), ids=LENIENT_MOMENTS.keys())
def test_a_leniently_written_promised_time_is_422_naming_it(client: TestClient, auth: Auth,
                                                           store_id: str, value: Any) -> None:
    work_order = open_one(client, auth, store_id)
    before = log_head(client)
    refused_at(client.post(f"/work-orders/{work_order['id']}/check-in",
                           headers=auth("advisor", "adv-li", [store_id]),
                           json={"mileage_in": 30_005, "fuel_level": 50,
                                 "promised_at": value}), ["body", "promised_at"],
               "plain_moment")
    assert log_head(client) == before


@pytest.mark.parametrize("value", [v for v in LENIENT_DAYS.values() if isinstance(v, str)])
def test_a_leniently_written_day_in_a_query_or_path_is_422_naming_it(
        client: TestClient, auth: Auth, store_id: str, value: str) -> None:
    """`from_day=20260501` (how a day is often written in China) was a unix timestamp."""
    manager = auth("manager", "mgr-wu", [store_id])
    auditor = auth("auditor", "aud-1", [store_id])
    asked = quote(value)
    for url, loc, who in (
            ((f"/appointments/availability?store_id={store_id}&from_day={asked}"
              f"&to_day={next_week()}"), ["query", "from_day"], manager),
            (f"/appointments?day={asked}", ["query", "day"], manager),
            (f"/payments?date_from={asked}", ["query", "date_from"], manager),
            (f"/receivables?aged_on={asked}", ["query", "aged_on"], manager),
            (f"/technicians?from_day={asked}", ["query", "from_day"], manager),
            (f"/technicians/kpi?from_day={asked}&to_day=2026-05-01", ["query", "from_day"],
             manager),
            (f"/audit/serial-conflicts?from={asked}&to=2026-05-01", ["query", "from"],
             auditor),
            (f"/day-end/{asked}", ["path", "business_date"], manager)):
        refused_at(client.get(url, headers=who), loc, "plain_day")


@pytest.mark.parametrize("value", [v for v in LENIENT_MOMENTS.values() if isinstance(v, str)])
def test_a_leniently_written_moment_in_a_query_is_422_naming_it(
        client: TestClient, auth: Auth, store_id: str, value: str) -> None:
    manager = auth("manager", "mgr-wu", [store_id])
    asked = quote(value)
    for url, name in ((f"/work-orders?opened_from={asked}", "opened_from"),
                      (f"/stock/movements?at_to={asked}", "at_to")):
        refused_at(client.get(url, headers=manager), ["query", name], "plain_moment")


@pytest.mark.parametrize("value", ["20260501", "1777593600", "2026-5-1", "２０２６-05-01",
                                   "2026-05-01 10:00:00+08:00", "2026-05-01T10:00:00",
                                   "20260501T100000Z"])
def test_as_of_and_the_audit_periods_take_the_same_grammar(
        client: TestClient, auth: Auth, store_id: str, value: str) -> None:
    auditor = auth("auditor", "aud-1", [store_id])
    work_order = open_one(client, auth, store_id)
    for url, name in ((f"/work-orders/{work_order['id']}?as_of={quote(value)}", "as_of"),
                      (f"/audit/log?from={quote(value)}", "from"),
                      (f"/audit/log?to={quote(value)}", "to")):
        refused_at(client.get(url, headers=auditor), ["query", name], "plain_day_or_moment")


def test_what_clients_send_today_is_still_taken(client: TestClient, auth: Auth,
                                                store_id: str) -> None:
    """ISO days; moments with `Z` or an offset, with or without seconds and fractions; an
    unencoded `+08:00` in a query string (it arrives as ` 08:00`)."""
    manager = auth("manager", "mgr-wu", [store_id])
    advisor = auth("advisor", "adv-li", [store_id])
    assert client.post("/appointments/capacity", headers=manager,
                       json=capacity(store_id)).status_code == 200
    work_order = open_one(client, auth, store_id)
    checked_in = client.post(f"/work-orders/{work_order['id']}/check-in", headers=advisor,
                             json={"mileage_in": 30_005, "fuel_level": 50,
                                   "promised_at": "2026-05-01T17:30+08:00"})
    assert checked_in.status_code == 200, checked_in.text
    for query in ("opened_from=2026-05-01T00:00:00Z",
                  "opened_from=2026-05-01T00:00:00.5+08:00",
                  "opened_from=2026-05-01T00:00:00 08:00", "opened_to=2999-01-01T00:00-05:00"):
        answered = client.get(f"/work-orders?{query}", headers=advisor)
        assert answered.status_code == 200, (query, answered.text)
    auditor = auth("auditor", "aud-1", [store_id])
    for as_of in ("2026-01-01", "2026-01-01T10:00:00+08:00", "2026-01-01T10:00:00 08:00",
                  "2026-01-01T02:00Z"):
        answered = client.get(f"/work-orders/{work_order['id']}?as_of={as_of}",
                              headers=auditor)
        assert answered.status_code == 404, (as_of, answered.text)  # not opened yet
    assert client.get(f"/technicians/kpi?from_day={date.today()}&to_day={date.today()}",
                      headers=manager).status_code == 200


def _checked(metadata: list[Any]) -> bool:
    return any(isinstance(m, BeforeValidator) and m.func in CHECKED for m in metadata)


def _unchecked(annotation: Any, metadata: list[Any], where: str, seen: set[type]) -> list[str]:
    """Where a day or moment under `annotation` would be read without the grammar."""
    return unchecked_under(annotation, metadata, where, seen, leaves=(date, datetime),
                           checks=CHECKED)


# Text parameters that carry a day or a moment, read by the route itself.
DAY_TEXT = {"as_of", "from", "to"}


def test_every_day_and_moment_a_route_takes_is_read_in_the_plain_grammar(
        client: TestClient) -> None:
    """Every body field, query, path and header parameter typed as a date or datetime goes
    through api/dates.py (a new one must be `Day`, `PlainDay`, `Moment`, ...), and so do
    the text parameters `as_of`, `from` and `to` where they are not numbers."""
    unchecked: list[str] = []
    for route, param in route_params(client):
        info = param.field_info
        where = f"{route.path} {param.alias}"
        unchecked += _unchecked(info.annotation, list(info.metadata), where, set())
        base = typing.get_args(info.annotation) or (info.annotation,)
        if param.alias in DAY_TEXT and str in base and not _checked(list(info.metadata)):
            unchecked.append(where)
    assert unchecked == []


@pytest.mark.parametrize("clock", ["０８:３０", "٠٨:٣٠"])
def test_a_wall_clock_time_in_other_digits_is_422_naming_it(client: TestClient, auth: Auth,
                                                           store_id: str, clock: str) -> None:
    """The pattern's \\d took full-width digits; the domain then refused them, quoting them,
    without naming the field."""
    before = log_head(client)
    body = problem(client.post("/appointments/capacity", headers=auth(
        "manager", "mgr-wu", [store_id]), json=capacity(store_id, opens=clock)), 422,
        "invalid-input")
    assert [e["loc"] for e in body["errors"]] == [["body", "opens"]]
    assert clock not in str(body)
    assert log_head(client) == before
