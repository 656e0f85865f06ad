"""The customer's progress page over HTTP: the advisor shares a link, the customer follows the
visit on their phone and approves work from the page; every refusal a link can meet."""

from __future__ import annotations

import json
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from fastapi.testclient import TestClient

from api.auth import PERMISSIONS
from domain.application import Request
from domain.common import CUSTOMER_ROLE, Caller
from domain.customer_progress import CustomerProgress
from domain.progress_link import ProgressLinks
from projections.audit import history
from servicecore.container import Container
from servicecore.schema import EVENTS_TABLE
from tests.conftest import JWT_SECRET
from tests.e2e.test_parts_api import head

Auth = Callable[..., dict[str, str]]
NAME, PHONE = "林晓红", "13822223333"
VIN, PLATE = "LSVAU218XN2183294", "沪C7Q8M9"
HTML = {"Accept": "text/html,application/xhtml+xml"}
JSON = {"Accept": "application/json"}


def post(client: TestClient, path: str, headers: dict[str, str], body: Any = None,
         status: int = 200) -> dict[str, Any]:
    response = client.post(path, json=body if body is not None else {}, headers=headers)
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


def visit(client: TestClient, advisor: dict[str, str], store_id: str,
          tech: dict[str, str]) -> str:
    """A car checked in, diagnosed and estimated: three customer lines awaiting a decision."""
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": NAME, "phone": PHONE},
        "vehicle": {"vin": VIN, "plate": PLATE, "brand": "Volkswagen", "model": "Lavida"},
        "mileage": 30_000, "complaints": ["异响 rattle when braking"]}, 201)
    wo = f"/work-orders/{opened['id']}"
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 30_005, "fuel_level": 50,
                                             "promised_at": "2026-05-01T09:30:00Z"})
    post(client, f"{wo}/jobs/1/diagnosis", tech, {"cause": "pads worn",
                                                  "correction": "replace pads"})
    post(client, f"{wo}/jobs/1/labor-lines", advisor, {
        "op_code": "BRK-PAD", "description": "更换前刹车片 replace front pads", "hours": "1.5",
        "hourly_rate": "300.00"})
    post(client, f"{wo}/jobs/1/part-lines", advisor, {
        "part_number": f"PAD-{store_id}", "description": "前刹车片 front pads", "qty": 1,
        "unit_price": "560.00"})
    post(client, f"{wo}/jobs/1/labor-lines", advisor, {
        "op_code": "CLEAN", "description": "清洁卡钳 clean calipers", "hours": "0.5",
        "hourly_rate": "300.00"})
    wo_doc(client, opened["id"], advisor, wait_for=head(client))  # the page reads the view
    return str(opened["id"])


def share(client: TestClient, advisor: dict[str, str], wo_id: str, status: int = 201,
          **body: Any) -> dict[str, Any]:
    return post(client, f"/work-orders/{wo_id}/progress-link", advisor, body, status)


def page_path(issued: dict[str, Any]) -> str:
    return urlsplit(issued["url"]).path


def form_fields(html: str, line_id: str) -> dict[str, str]:
    """The hidden fields of the page's form for one line, as a browser would send them."""
    form = next(f for f in re.findall(r"<form .*?</form>", html, re.DOTALL)
                if f'name="line_id" value="{line_id}"' in f)
    fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', form))
    return {k: unescape(v) for k, v in fields.items()}


def wo_doc(client: TestClient, wo_id: str, headers: dict[str, str],
           wait_for: int | None = None) -> dict[str, Any]:
    params = {"wait_for": wait_for} if wait_for else {}
    response = client.get(f"/work-orders/{wo_id}", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_the_customer_follows_and_approves_from_the_page(
        client: TestClient, auth: Auth, store_id: str, container: Container) -> None:
    advisor = auth("advisor", "adv-qian", [store_id])
    auditor = auth("auditor", "aud-1", [store_id])
    wo_id = visit(client, advisor, store_id, auth("technician", "tech-1", [store_id]))

    # The advisor shares the progress: a URL, its expiry and a QR code of it.
    issued = share(client, {**advisor, "Idempotency-Key": f"share-{wo_id}"}, wo_id)
    assert issued["url"].startswith("http://testserver/progress/")
    expires = datetime.fromisoformat(issued["expires_at"])
    assert timedelta(hours=71) < expires - datetime.now(UTC) <= timedelta(hours=72)
    assert ET.fromstring(issued["qr_svg"]).tag.endswith("svg")
    assert issued["qr_png"].startswith("data:image/png;base64,")
    token = page_path(issued).rsplit("/", 1)[1]
    assert len(token) >= 64  # 128-bit nonce and 128-bit tag inside

    # Recorded as events of the work order's links, with who and when: never the token.
    links_id = ProgressLinks.create_id(uuid.UUID(wo_id))
    events = history(container.app, links_id)
    assert [e["event"] for e in events] == ["ProgressLinks.Started", "ProgressLinks.LinkIssued"]
    assert events[1]["actor"]["user_id"] == "adv-qian"
    assert events[1]["changes"]["nonce"] == issued["link_id"]
    with container.pool.connection() as conn:
        leaked = conn.execute(f"SELECT count(*) FROM {EVENTS_TABLE} WHERE position(%s IN state) "
                              "> 0", (token.encode(),)).fetchone()
    assert leaked == (0,)
    listed = client.get(f"/work-orders/{wo_id}/progress-links", headers=auditor).json()["items"]
    assert [(x["link_id"], x["issued_by"], x["live"]) for x in listed] == [
        (issued["link_id"], "adv-qian", True)]

    # The customer scans it: the plate, the stage, the lines awaiting them, in store time.
    page = client.get(page_path(issued), headers=HTML)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    html = page.text
    assert PLATE in html and "待您确认" in html and "Waiting for your approval" in html
    assert "更换前刹车片" in html and "¥450.00" in html and "¥560.00" in html
    assert "2026-05-01 17:30" in html  # 09:30 UTC is 17:30 in Shanghai
    for secret in (NAME, PHONE, VIN, VIN[-6:], "adv-qian", "tech-1", "rattle", "pads worn"):
        assert secret not in html, secret
    data = client.get(page_path(issued) + ".json").json()
    assert client.get(page_path(issued), headers=JSON).json() == data
    assert data["stage"] == "awaiting_approval" and data["plate"] == PLATE
    assert data["stage_label"] == {"zh": "待您确认", "en": "Waiting for your approval"}
    assert data["promised_at"] == "2026-05-01T09:30:00Z"  # every answer's times are UTC
    assert [line["line_id"] for line in data["awaiting_decision"]] == ["L1", "L2", "L3"]
    assert data["approved"] == [] and data["approved_total"] == "0.00"
    for secret in (NAME, PHONE, VIN, VIN[-6:]):
        assert secret not in json.dumps(data, ensure_ascii=False), secret

    # They approve the pads' labor from the page: one form post, then back to the page.
    fields = form_fields(html, "L1")
    before = wo_doc(client, wo_id, advisor, wait_for=head(client))["version"]
    answer = client.post(f"{page_path(issued)}/decisions", data={**fields,
                         "decision": "approved"}, headers=HTML, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    back = client.get(answer.headers["location"], headers=HTML)
    assert "已记录您的选择" in back.text and "¥450.00" in back.text
    doc = wo_doc(client, wo_id, advisor, wait_for=head(client))
    line = next(x for x in doc["lines"] if x["line_id"] == "L1")
    assert line["status"] == "approved"
    assert line["authorization"]["channel"] == "customer_page"
    assert line["authorization"]["by"] == f"customer-link:{issued['link_id']}"
    assert line["authorization"]["role"] == CUSTOMER_ROLE
    assert doc["version"] == before + 1

    # A double tap sends the same form again: nothing more is recorded.
    again = client.post(f"{page_path(issued)}/decisions", data={**fields,
                        "decision": "approved"}, headers=HTML, follow_redirects=False)
    assert again.status_code == 303
    assert wo_doc(client, wo_id, advisor, wait_for=head(client))["version"] == before + 1

    # The mini-program approves the pads and declines the cleaning in one JSON call.
    mini = {"decisions": [
        {"line_id": "L2", "decision": "approved"}, {"line_id": "L3", "decision": "declined"},
        {"line_id": "L1", "decision": "approved"}]}
    key = {"Idempotency-Key": f"mini-{wo_id}"}
    decided = client.post(f"{page_path(issued)}/decisions", json=mini, headers=key)
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["decided"] == ["L2", "L3"] and body["unchanged"] == ["L1"]
    assert body["progress"]["approved_total"] == "1010.00"
    assert body["progress"]["awaiting_decision"] == []
    assert body["progress"]["stage"] == "in_repair"
    supply = wo_doc(client, wo_id, advisor, wait_for=body["notification_id"])["lines"][1]
    assert supply["supply"] == "special_order"  # the store keeps no such pads
    # The mini-program retries with its key: the first answer again, nothing recorded twice.
    version = wo_doc(client, wo_id, advisor, wait_for=body["notification_id"])["version"]
    retried = client.post(f"{page_path(issued)}/decisions", json=mini, headers=key)
    assert retried.json()["decided"] == ["L2", "L3"]
    # Changing their mind on a decided line is the advisor's job: 409, nothing recorded.
    changed = client.post(f"{page_path(issued)}/decisions", json={"decisions": [
        {"line_id": "L3", "decision": "approved"}]})
    assert changed.status_code == 409
    assert changed.headers["content-type"] == "application/problem+json"
    as_form = client.post(f"{page_path(issued)}/decisions", data={**fields, "line_id": "L3",
                          "decision": "approved"}, headers=HTML, follow_redirects=False)
    assert as_form.status_code == 409 and "未能记录您的选择" in as_form.text
    assert wo_doc(client, wo_id, advisor, wait_for=head(client))["version"] == version

    # The auditor sees who decided what, and on which channel.
    audit = client.get(f"/work-orders/{wo_id}/history", headers=auditor).json()["items"]
    by_customer = [h for h in audit if h["actor"]["role"] == CUSTOMER_ROLE]
    assert {h["changes"]["line_id"] for h in by_customer
            if h["event"] == "WorkOrder.LineAuthorized"} == {"L1", "L2", "L3"}
    assert {h["changes"]["channel"] for h in by_customer
            if h["event"] == "WorkOrder.LineAuthorized"} == {"customer_page"}


def test_forged_posts_change_nothing(client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-sun", [store_id])
    wo_id = visit(client, advisor, store_id, auth("technician", "tech-2", [store_id]))
    issued = share(client, advisor, wo_id)
    decisions = f"{page_path(issued)}/decisions"
    fields = form_fields(client.get(page_path(issued), headers=HTML).text, "L1")
    version = wo_doc(client, wo_id, advisor, wait_for=head(client))["version"]

    # Another site's form: no form token, or the right one from a foreign origin.
    no_token = client.post(decisions, data={"line_id": "L1", "decision": "approved"},
                           headers=HTML, follow_redirects=False)
    assert no_token.status_code == 403
    foreign = client.post(decisions, data={**fields, "decision": "approved"},
                          headers={**HTML, "Origin": "https://evil.example"},
                          follow_redirects=False)
    assert foreign.status_code == 403
    plain = client.post(decisions, content=b"line_id=L1&decision=approved",
                        headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415
    # A line that is not there, or not a decision.
    assert client.post(decisions, json={"decisions": [{"line_id": "L9", "decision":
                                                       "approved"}]}).status_code == 422
    assert client.post(decisions, json={"decisions": [{"line_id": "L1", "decision":
                                                       "maybe"}]}).status_code == 422
    assert client.post(decisions, json={"decisions": [
        {"line_id": "L1", "decision": "approved"},
        {"line_id": "L1", "decision": "declined"}]}).status_code == 422
    assert wo_doc(client, wo_id, advisor, wait_for=head(client))["version"] == version


def test_revoked_replaced_expired_and_tampered_links_are_refused(
        client: TestClient, auth: Auth, store_id: str, container: Container) -> None:
    advisor = auth("advisor", "adv-zhou", [store_id])
    wo_id = visit(client, advisor, store_id, auth("technician", "tech-3", [store_id]))
    first = share(client, advisor, wo_id)
    assert client.get(page_path(first)).status_code == 200

    # Issuing a new link retires the old one at once.
    second = share(client, advisor, wo_id, hours=2)
    assert second["replaced"] == first["link_id"]
    assert datetime.fromisoformat(second["expires_at"]) - datetime.now(UTC) <= timedelta(hours=2)
    gone = client.get(page_path(first), headers=HTML)
    assert gone.status_code == 410 and "此链接已失效" in gone.text
    assert "This link is no longer valid" in gone.text
    assert client.get(page_path(second)).status_code == 200

    # The advisor revokes it: page and JSON answer 410; a decision is refused and not recorded.
    version = wo_doc(client, wo_id, advisor, wait_for=head(client))["version"]
    revoked = client.delete(f"/work-orders/{wo_id}/progress-link", headers=advisor,
                            params={"reason": "customer asked"})
    assert revoked.status_code == 200 and revoked.json()["link_id"] == second["link_id"]
    as_json = client.get(page_path(second) + ".json")
    assert as_json.status_code == 410
    assert as_json.headers["content-type"] == "application/problem+json"
    assert client.get(page_path(second), headers=HTML).status_code == 410
    refused = client.post(f"{page_path(second)}/decisions", json={"decisions": [
        {"line_id": "L1", "decision": "approved"}]})
    assert refused.status_code == 410
    assert wo_doc(client, wo_id, advisor, wait_for=head(client))["version"] == version
    assert client.delete(f"/work-orders/{wo_id}/progress-link",
                         headers=advisor).status_code == 409
    listed = client.get(f"/work-orders/{wo_id}/progress-links", headers=advisor).json()["items"]
    assert [x["live"] for x in listed] == [False, False]
    assert listed[1]["revoked"]["by"] == "adv-zhou"
    assert listed[1]["revoked"]["reason"] == "customer asked"

    # A link issued 80 hours ago for 72 hours has expired.
    progress = CustomerProgress(container.app, container.work_orders, JWT_SECRET)
    then = Caller("adv-zhou", "advisor", (store_id,), datetime.now(UTC) - timedelta(hours=80),
                  "test-expired")
    old = progress.issue(Request(then), uuid.UUID(wo_id), 72)
    expired = client.get(f"/progress/{progress.token(old.body)}", headers=HTML)
    assert expired.status_code == 410 and "此链接已失效" in expired.text

    # A live link with one character changed is unknown (404), as is garbage.
    live = share(client, advisor, wo_id)
    token = page_path(live).rsplit("/", 1)[1]
    flipped = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    tampered = client.get(f"/progress/{flipped}", headers=JSON)
    assert tampered.status_code == 404
    assert tampered.headers["content-type"] == "application/problem+json"
    assert client.get(f"/progress/{flipped}", headers=HTML).status_code == 404
    assert client.get("/progress/not-a-token").status_code == 404
    assert client.post(f"/progress/{flipped}/decisions", json={"decisions": [
        {"line_id": "L1", "decision": "approved"}]}).status_code == 404
    assert client.get(page_path(live)).status_code == 200


def test_guessing_tokens_gets_an_address_turned_away(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-wu", [store_id])
    wo_id = visit(client, advisor, store_id, auth("technician", "tech-4", [store_id]))
    live = page_path(share(client, advisor, wo_id))
    guesser = TestClient(client.app, client=("203.0.113.9", 40000))
    for n in range(20):
        assert guesser.get(f"/progress/guess{n:03d}").status_code == 404
    turned_away = guesser.get(live, headers=JSON)
    assert turned_away.status_code == 429 and int(turned_away.headers["Retry-After"]) > 0
    # Other addresses are not affected.
    assert client.get(live).status_code == 200


def _customer_jwt(store_id: str) -> str:
    now = int(datetime.now(UTC).timestamp())
    return jwt.encode({"sub": "customer-link:00", "role": CUSTOMER_ROLE, "stores": [store_id],
                       "iat": now, "exp": now + 600}, JWT_SECRET, algorithm="HS256")


PUBLIC = {"/health", "/health/live", "/health/ready", "/metrics", "/docs", "/docs/oauth2-redirect",
          "/redoc", "/openapi.json"}


def test_the_customer_actor_can_do_nothing_else(client: TestClient, auth: Auth,
                                                store_id: str) -> None:
    advisor = auth("advisor", "adv-he", [store_id])
    wo_id = visit(client, advisor, store_id, auth("technician", "tech-5", [store_id]))
    token = page_path(share(client, advisor, wo_id)).rsplit("/", 1)[1]

    # Only the progress page's decisions are the customer's; no token can carry the role.
    assert [a for a, roles in PERMISSIONS.items() if CUSTOMER_ROLE in roles] == \
        ["progress.decide"]
    # The link's token is no bearer token, and a signed token claiming the role is refused,
    # on every endpoint outside the page.
    for bearer in (token, _customer_jwt(store_id)):
        headers = {"Authorization": f"Bearer {bearer}"}
        checked = 0
        for route, operations in client.get("/openapi.json").json()["paths"].items():
            if route in PUBLIC or route.startswith(("/progress", "/booking/", "/analytics/dashboard")):
                continue
            path = re.sub(r"\{[^}]+\}", lambda m: str(uuid.uuid4()) if "id" in m.group(0)
                          else "1", route)
            for method in operations:
                answer = client.request(method.upper(), path, headers=headers, json={})
                assert answer.status_code == 401, (method, route, answer.status_code)
                checked += 1
        assert checked > 100
    # Staff cannot claim to be the customer: the page's channel is not theirs.
    refused = client.post(f"/work-orders/{wo_id}/lines/L1/authorization", headers=advisor,
                          json={"decision": "approved", "channel": "customer_page"})
    assert refused.status_code == 422


@pytest.mark.parametrize("hours", [0, 721])
def test_link_lifetime_is_bounded(client: TestClient, auth: Auth, store_id: str,
                                  hours: int) -> None:
    advisor = auth("advisor", "adv-ma", [store_id])
    wo_id = visit(client, advisor, store_id, auth("technician", "tech-6", [store_id]))
    share(client, advisor, wo_id, 422, hours=hours)
    assert client.post(f"/work-orders/{wo_id}/progress-link", json={},
                       headers=auth("technician", "t", [store_id])).status_code == 403
    assert client.post(f"/work-orders/{uuid.uuid4()}/progress-link", json={},
                       headers=advisor).status_code == 404


@pytest.mark.parametrize("promised", ["9999-12-31T23:00:00-10:00", "0001-01-01T00:00:00+14:00"])
def test_a_promised_time_past_the_calendar_is_refused_and_an_old_one_still_shows(
        client: TestClient, auth: Any, store_id: str, container: Container,
        promised: str) -> None:
    """Found by the reliability audit: the check-in took any ISO moment, and one that leaves
    the calendar in the store's time zone made the customer's page a 500 for good."""
    from tests.integration.support import request

    advisor = auth("advisor", "adv-li", [store_id])
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": NAME, "phone": PHONE},
        "vehicle": {"vin": VIN, "plate": PLATE}, "mileage": 30_000,
        "complaints": ["rattle"]}, 201)
    before = head(client)
    refused = client.post(f"/work-orders/{opened['id']}/check-in", headers=advisor,
                          json={"mileage_in": 30_005, "fuel_level": 50, "promised_at": promised})
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["loc"] == ["body", "promised_at"]
    assert head(client) == before
    # a check-in stored before the API refused such times: the page is still drawn
    container.work_orders.check_in(request(store_id), uuid.UUID(opened["id"]), mileage_in=30_005,
                                   fuel_level=50, promised_at=promised)
    wo_doc(client, opened["id"], advisor, wait_for=head(client))
    path = page_path(share(client, advisor, opened["id"]))
    page = client.get(path, headers=JSON)
    assert page.status_code == 200, page.text
    assert page.json()["promised_at"] == promised  # UTC cannot name it: answered as stored
    assert client.get(path, headers=HTML).status_code == 200
