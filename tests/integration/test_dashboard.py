"""The manager's dashboard: day buckets and date filters in the store's time zone, the
comparison with the previous period, technician names, and its sign-in (a session cookie; no
token in a URL). The numbers are worked out in tests/integration/dashboard_scenario.py."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal as D
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient

from analytics.dashboard_data import collect, figures, trend
from analytics.kpis import Filters
from analytics.loader import AnalyticsLoader
from analytics.periods import Change
from analytics.reader import snapshot, use_zone
from api.routes.analytics import COOKIE
from servicecore.container import Container
from tests.integration.analytics_support import publish_analytics
from tests.integration.dashboard_scenario import APRIL, MASTER_NAME, dashboard_store

Auth = Callable[..., dict[str, str]]
HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture(scope="module")
def store(container: Container) -> Iterator[str]:
    """The scenario's store, loaded and published as the API's snapshot."""
    store = "DB" + uuid.uuid4().hex[:6].upper()
    dashboard_store(container, store)
    publish_analytics(container)
    yield store


@pytest.fixture
def browser(client: TestClient) -> Iterator[TestClient]:
    """The session's client with an empty cookie jar, emptied again afterwards."""
    client.cookies.clear()
    yield client
    client.cookies.clear()


@pytest.fixture
def conn(container: Container, store: str) -> Iterator[duckdb.DuckDBPyConnection]:
    with snapshot(container.settings.analytics_path, "Asia/Shanghai") as (connection, _info):
        yield connection


def test_a_visit_at_2330_utc_lands_on_the_next_shanghai_day(
        conn: duckdb.DuckDBPyConnection, store: str) -> None:
    april = Filters(date_from=APRIL.first, date_to=APRIL.last, store_id=store)
    opened = {day: n for day, n in trend(conn, "work_orders", april, APRIL) if n}
    assert opened == {date(2025, 4, 1): 1, date(2025, 4, 2): 1, date(2025, 4, 15): 1}
    # Read in UTC the same visit belongs to 31 March, outside April: the zone decides.
    use_zone(conn, "UTC")
    opened_utc = {day: n for day, n in trend(conn, "work_orders", april, APRIL) if n}
    assert opened_utc == {date(2025, 4, 2): 1, date(2025, 4, 15): 1}


def test_trends_honour_the_period_and_fill_empty_buckets(
        conn: duckdb.DuckDBPyConnection, store: str) -> None:
    days = trend(conn, "revenue", Filters(date_from=APRIL.first, date_to=APRIL.last,
                                          store_id=store), APRIL)
    assert len(days) == 30 and days[0][0] == date(2025, 4, 1) and days[-1][0] == date(2025, 4, 30)
    assert {d: v for d, v in days if v} == {date(2025, 4, 1): pytest.approx(530.97),
                                            date(2025, 4, 2): pytest.approx(132.74)}
    quarter = APRIL.__class__(date(2025, 3, 1), date(2025, 5, 31))  # 92 days: weekly buckets
    weeks = trend(conn, "work_orders", Filters(date_from=quarter.first, date_to=quarter.last,
                                               store_id=store), quarter)
    assert weeks[0][0] == date(2025, 2, 24)  # the Monday of the week of 1 March
    assert {d: v for d, v in weeks if v} == {date(2025, 3, 10): 1, date(2025, 3, 31): 2,
                                             date(2025, 4, 14): 1}


def test_figures_beside_the_previous_period(conn: duckdb.DuckDBPyConnection,
                                            store: str) -> None:
    board = collect(conn, Filters(store_id=store), APRIL)
    c = board.changes
    assert c["work_orders"] == Change(3, 1, 2.0, 2.0)
    assert (c["revenue"].value, c["revenue"].previous) == (D("663.71"), D("265.49"))
    assert c["revenue"].relative == pytest.approx(663.71 / 265.49 - 1)
    assert (c["labor_rate"].value, c["labor_rate"].previous) == (265.48, 265.49)
    assert (c["efficiency"].value, c["efficiency"].previous) == (1.0, 0.5)
    assert (c["labor_margin"].value, c["labor_margin"].previous) == (0.6949, 0.3973)
    assert (c["comeback_rate"].value, c["comeback_rate"].previous) == (pytest.approx(0.3333),
                                                                       0.0)
    assert c["comeback_rate"].relative is None  # from zero: no ratio, the change in points
    assert (c["csi"].value, c["csi"].previous, c["csi"].delta) == (1.0, 0.0, 1.0)
    assert (c["repair_hours"].value, c["repair_hours"].previous) == (2.75, 3.5)
    assert c["fill_rate"] == Change(None, None, None, None)  # no part lines at all
    # Named technicians by name, the others by user id.
    shop_t2 = next(name for name, _ in board.efficiency if name != MASTER_NAME)
    assert dict(board.efficiency) == {MASTER_NAME: 1.0, shop_t2: 1.0}
    assert shop_t2.startswith("t2-")
    # In UTC the visit of 31 March 23:30 would count for March.
    use_zone(conn, "UTC")
    utc = figures(conn, Filters(date_from=date(2025, 3, 2), date_to=date(2025, 3, 31),
                                store_id=store))
    assert utc["work_orders"] == 2


# -- the page and its sign-in ------------------------------------------------------------------

def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def test_sign_in_sets_an_httponly_strict_cookie_and_the_page_accepts_it(
        browser: TestClient, auth: Auth, store: str) -> None:
    client = browser
    manager = auth("manager", "mgr-dash", [store])
    signed = client.post("/analytics/dashboard/session", data={"token": _token(manager),
                                                               "lang": "en"},
                         follow_redirects=False)
    assert signed.status_code == 303, signed.text
    assert signed.headers["location"] == "/analytics/dashboard?lang=en"
    cookie = signed.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie and "Path=/analytics/dashboard" in cookie
    max_age = int(re.search(r"Max-Age=(\d+)", cookie).group(1))  # type: ignore[union-attr]
    assert 12 * 3600 - 60 < max_age <= 12 * 3600  # as long as the token lives
    assert client.cookies[COOKIE] == _token(manager)  # kept by the client like a browser
    page = client.get("/analytics/dashboard?date_from=2025-04-01&date_to=2025-04-30&lang=en")
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    assert "Work orders opened" in page.text and "2025-03-02 – 2025-03-31" in page.text
    assert MASTER_NAME in page.text and store in page.text

    # The Authorization header works as well (scripts); the same page in Chinese.
    client.cookies.clear()
    zh = client.get("/analytics/dashboard?date_from=2025-04-01&date_to=2025-04-30",
                    headers={**manager, "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert zh.status_code == 200 and "开单数" in zh.text and '<html lang=zh-CN>' in zh.text
    en = client.get("/analytics/dashboard", headers={**manager, "Accept-Language": "en-US"})
    assert "<html lang=en>" in en.text
    other = client.get("/analytics/dashboard", headers={**manager, "Accept-Language": "fr"})
    assert "<html lang=zh-CN>" in other.text  # neither named: Chinese, the store's language


def test_a_token_in_the_url_is_refused(browser: TestClient, auth: Auth, store: str) -> None:
    client = browser
    token = _token(auth("manager", "mgr-dash", [store]))
    got = client.get(f"/analytics/dashboard?token={token}")
    assert got.status_code == 422
    assert got.headers["content-type"] == "application/problem+json"
    assert "/analytics/dashboard/login" in got.json()["detail"]
    assert COOKIE not in got.headers.get("set-cookie", "")


def test_without_a_session_browsers_go_to_the_sign_in_page(
        browser: TestClient, auth: Auth, store: str) -> None:
    client = browser
    to_login = client.get("/analytics/dashboard?lang=en", headers=HTML, follow_redirects=False)
    assert to_login.status_code == 303
    assert to_login.headers["location"] == "/analytics/dashboard/login?lang=en"
    form = client.get("/analytics/dashboard/login", headers={"Accept-Language": "en"})
    assert form.status_code == 200 and 'type=password name=token' in form.text
    assert 'action="/analytics/dashboard/session"' in form.text
    # A script without credentials gets problem+json; an expired cookie sends a browser back.
    assert client.get("/analytics/dashboard").status_code == 401
    client.cookies.set(COOKIE, "not-a-token", path="/analytics/dashboard")
    stale = client.get("/analytics/dashboard", headers=HTML, follow_redirects=False)
    assert stale.status_code == 303 and f'{COOKIE}=""' in stale.headers["set-cookie"]


def test_sign_in_refuses_bad_tokens_roles_and_other_sites(
        browser: TestClient, auth: Auth, store: str) -> None:
    client = browser
    bad = client.post("/analytics/dashboard/session", data={"token": "nonsense", "lang": "en"},
                      follow_redirects=False)
    assert bad.status_code == 401 and "Sign-in failed" in bad.text
    assert "set-cookie" not in bad.headers
    advisor = auth("advisor", "adv-dash", [store])
    refused = client.post("/analytics/dashboard/session", headers=advisor,
                          follow_redirects=False)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    manager = auth("manager", "mgr-dash", [store])
    elsewhere = client.post("/analytics/dashboard/session",
                            headers={**manager, "Origin": "https://evil.example"},
                            follow_redirects=False)
    assert elsewhere.status_code == 403 and "set-cookie" not in elsewhere.headers
    by_header = client.post("/analytics/dashboard/session", headers=manager,
                            follow_redirects=False)
    assert by_header.status_code == 303 and "HttpOnly" in by_header.headers["set-cookie"]
    out = client.post("/analytics/dashboard/logout", follow_redirects=False)
    assert out.status_code == 303 and f'{COOKIE}=""' in out.headers["set-cookie"]


def test_filters_are_checked(browser: TestClient, auth: Auth, store: str) -> None:
    client = browser
    manager = auth("manager", "mgr-dash", [store])
    backwards = client.get("/analytics/dashboard?date_from=2025-04-30&date_to=2025-04-01",
                           headers=manager)
    assert backwards.status_code == 422, backwards.text
    assert (backwards.json()["field"], backwards.json()["detail"]) == (
        "date_to", "date_to 2025-04-01 is before date_from 2025-04-30")
    assert client.get("/analytics/dashboard?date_from=April", headers=manager
                      ).status_code == 422
    assert client.get("/analytics/dashboard?date_from=2020-01-01&date_to=2025-01-01",
                      headers=manager).status_code == 422
    assert client.get("/analytics/dashboard?lang=fr", headers=manager).status_code == 422
    assert client.get("/analytics/dashboard?store_id=ELSEWHERE", headers=manager
                      ).status_code == 403
    # An emptied date field of the form means the default (the last 30 days).
    assert client.get("/analytics/dashboard?date_from=&date_to=&store_id=", headers=manager
                      ).status_code == 200


def test_the_page_shows_one_store_and_its_quick_choices(
        browser: TestClient, auth: Auth, store: str) -> None:
    client = browser
    page = client.get("/analytics/dashboard?date_from=2025-04-01&date_to=2025-04-30&lang=en",
                      headers=auth("analyst", "ana-dash", [store]))
    text: Any = page.text
    assert f'<option value="{store}" selected>' in text
    assert "all stores</option>" not in text  # a token for one store
    for label in ("this month", "last month", "last 30 days", "last 90 days", "this year"):
        assert f">{label}</a>" in text
    assert 'data-figure=work_orders>Work orders opened<b>3</b>' in text
    assert "▲ +200.0%" in text  # 3 against 1
    assert ("data-figure=labor_margin>Labor gross margin (labor sales less the cost of clocked "
            "time, without VAT)<b>69.5%</b>") in text
    assert "<td>2025-04-01</td><td>1.00</td>" in text  # the 23:30 UTC visit, on 1 April


def test_names_reach_dim_technician_and_older_files_get_the_column(
        container: Container, store: str, tmp_path: Any) -> None:
    # A file made before names were loaded: dim_technician without its last column.
    path = tmp_path / "older.duckdb"
    with duckdb.connect(str(path)) as older:
        older.execute("CREATE TABLE dim_technician (technician_id VARCHAR, store_id VARCHAR)")
    loader = AnalyticsLoader(container.app, path)
    try:
        loader.catch_up()
        rows = loader.conn.execute("SELECT technician_id, name FROM dim_technician "
                                   "WHERE store_id = ? ORDER BY 1", [store]).fetchall()
    finally:
        loader.close()
    assert [name for _tech, name in rows] == [MASTER_NAME, None]  # t1 named, t2 not


def test_a_profile_names_the_technician_once(browser: TestClient, auth: Auth) -> None:
    store = "NM" + uuid.uuid4().hex[:6].upper()
    manager = auth("manager", "mgr-names", [store])
    profile = {"store_id": store, "skills": {"chassis": 2}, "hourly_cost": "85.00",
               "name": "  李  师傅 "}
    first = browser.post(f"/technicians/t-{store}/profile", headers=manager, json=profile)
    assert first.status_code == 200, first.text
    assert first.json()["changed"] == ["skills", "hourly_cost", "name"]
    again = browser.post(f"/technicians/t-{store}/profile", headers=manager, json=profile)
    assert again.json()["changed"] == []  # the same name (spaces aside) is no new fact
    renamed = browser.post(f"/technicians/t-{store}/profile", headers=manager,
                           json={**profile, "name": "李明"})
    assert renamed.json()["changed"] == ["name"]
    too_long = browser.post(f"/technicians/t-{store}/profile", headers=manager,
                            json={**profile, "name": "李" * 41})
    assert too_long.status_code == 422
