"""The API documentation as a new user meets it: /docs and /redoc without internet, an
Authorize button instead of a text field on every operation, the problems each operation can
answer, and an example (with a valid VIN) on every request body, enums where the domain has
a closed set of values."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Route, sync_playwright
from pydantic import BaseModel

from api import schemas, schemas_crm, schemas_money, schemas_stock, schemas_warranty
from api.main import create_app
from api.schemas import Body
from domain import (
    aftercare,
    appointment,
    customer,
    follow_up,
    part,
    purchase_order,
    reconciliation,
    settlement_state,
    skills,
    stock_approvals,
    technician,
    transfer,
    vehicle,
    work_order_evidence,
    work_order_lines,
    work_order_state,
)
from domain.vehicle_ids import normalise_vin
from servicecore.container import Container
from tests.e2e.test_dashboard_browser import CHROMIUM_FLAGS, PNG_SIGNATURE, chromium
from tests.live_server import serving

Auth = Callable[..., dict[str, str]]
ASSET_TYPES = {".js": ("text/javascript", "application/javascript"), ".css": ("text/css",),
               ".png": ("image/png",)}


@pytest.fixture(scope="module")
def document(client: TestClient) -> dict[str, Any]:
    answer = client.get("/openapi.json")
    assert answer.status_code == 200
    return answer.json()  # type: ignore[no-any-return]


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


# -- /docs and /redoc without internet ----------------------------------------------------------

@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_only_assets_the_server_serves(client: TestClient, page: str) -> None:
    answer = client.get(page)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    # The browser may load nothing from another host, whatever the bundles ask for.
    assert answer.headers["content-security-policy"].startswith("default-src 'self' ")
    html = answer.text
    # Nothing is fetched from another host: no absolute URL anywhere in the page.
    assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.IGNORECASE), html
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assets = [url for url in urls if url.startswith("/docs/assets/")]
    assert urls and set(urls) == set(assets), urls
    assert len(assets) >= 2  # the script, and the stylesheet or the icon
    for url in assets:
        served = client.get(url)
        assert served.status_code == 200, url
        kind = served.headers["content-type"].split(";")[0]
        assert kind in ASSET_TYPES[url[url.rindex("."):]], (url, kind)
        if url.endswith(".js"):
            assert len(served.content) > 500_000  # the whole bundle, not a stub
    # The page reads the document from this server.
    assert "/openapi.json" in html


def test_the_swagger_page_loads_its_script_and_styles(client: TestClient) -> None:
    html = client.get("/docs").text
    assert 'src="/docs/assets/swagger-ui-bundle.js"' in html
    assert 'href="/docs/assets/swagger-ui.css"' in html
    assert '"validatorUrl": null' in html  # no badge from the public validator
    assert client.get("/docs/oauth2-redirect").status_code == 200
    missing = client.get("/docs/assets/nothing.js")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


# -- the bearer scheme --------------------------------------------------------------------------

PUBLIC = {("get", "/health"), ("get", "/health/live"), ("get", "/health/ready"),
          ("get", "/analytics/dashboard/login"), ("post", "/analytics/dashboard/session"),
          ("post", "/analytics/dashboard/logout"), ("get", "/progress/{token}"),
          ("get", "/progress/{token}.json"), ("post", "/progress/{token}/decisions"),
          ("get", "/booking/{booking_token}"), ("post", "/booking/{booking_token}/cancel")}


def test_a_bearer_scheme_replaces_the_authorization_parameter(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    assert scheme["bearerFormat"] == "JWT"
    secured = 0
    for method, path, operation in operations(document):
        headers = [p["name"].lower() for p in operation.get("parameters", [])
                   if p["in"] == "header"]
        assert "authorization" not in headers, (method, path)
        if (method, path) in PUBLIC:
            assert "security" not in operation, (method, path)
            continue
        assert operation.get("security") == [{"bearer": []}], (method, path)
        assert {"401", "403"} <= operation["responses"].keys(), (method, path)
        secured += 1
    assert secured > 140


def test_tokens_are_judged_as_before(client: TestClient, auth: Auth, store_id: str) -> None:
    """The scheme only documents: a missing, non-Bearer, empty or bad token is the same 401
    problem, a role that may not is 403."""
    for header in (None, "Basic YWRtaW46YWRtaW4=", "Bearer ", "Bearer not-a-jwt", "bearer"):
        headers = {"Authorization": header} if header is not None else {}
        answer = client.get("/work-orders", headers=headers)
        assert answer.status_code == 401, header
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["WWW-Authenticate"] == "Bearer"
        assert answer.json()["type"].endswith("/unauthenticated")
    refused = client.post("/customers", json={}, headers=auth("technician", "t1", [store_id]))
    assert refused.status_code == 403 and refused.json()["type"].endswith("/forbidden")
    assert client.get("/work-orders", headers=auth("technician", "t1", [store_id])
                      ).status_code == 200
    # The scheme is case-blind as before.
    token = auth("advisor", "a1", [store_id])["Authorization"].split()[1]
    assert client.get("/work-orders", headers={"Authorization": f"bearer {token}"}
                      ).status_code == 200


# -- the problems each operation answers -------------------------------------------------------

def test_every_operation_documents_its_problems(document: dict[str, Any]) -> None:
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail"} <= set(problem["required"])
    assert all("description" in p for p in problem["properties"].values())
    counted = 0
    for method, path, operation in operations(document):
        responses = operation["responses"]
        expected = {"422", "503"}
        if operation.get("security"):
            expected |= {"401", "403"}
        if method != "get":
            expected |= {"400", "404", "413", "415"}
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        if "if-match" in headers:
            expected |= {"409", "412"}
        if any(p["in"] == "path" for p in operation.get("parameters", [])):
            expected.add("404")
        assert expected <= responses.keys(), (method, path, sorted(responses))
        for status, answer in responses.items():
            if int(status) < 400:
                continue
            media = answer["content"]["application/problem+json"]
            assert media["schema"] == {"$ref": "#/components/schemas/Problem"}, (path, status)
            if status in expected:
                assert media["example"]["status"] == int(status)
            assert answer["description"]
            counted += 1
    assert counted > 1000


# -- examples and enums in the request bodies --------------------------------------------------

def body_models() -> dict[str, type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    pending: list[type[BaseModel]] = [Body]
    while pending:
        for model in pending.pop().__subclasses__():
            found[model.__name__] = model
            pending.append(model)
    return found


def vins(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "vin":
                yield item
            yield from vins(item)
    elif isinstance(value, list):
        for item in value:
            yield from vins(item)


def test_every_request_body_has_a_valid_example(document: dict[str, Any]) -> None:
    models = body_models()
    components = document["components"]["schemas"]
    bodies = 0
    for method, path, operation in operations(document):
        for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
            if media_type.startswith("application/vnd.openxmlformats"):
                continue  # a workbook has no example that JSON could carry
            schema = media["schema"]
            refs = [schema.get("$ref")] + [b.get("$ref") for b in schema.get("anyOf", [])]
            names = [ref.rsplit("/", 1)[1] for ref in refs if ref]
            if not names:  # a file in the body
                assert media.get("example"), (method, path, media_type)
                bodies += 1
                continue
            (name,) = names
            examples = components[name].get("examples")
            assert examples, f"{method} {path}: {name} has no example"
            for example in examples:
                models[name].model_validate(example)  # raises if the example is wrong
                for vin in vins(example):
                    assert normalise_vin(vin) == vin
            bodies += 1
    assert bodies > 75


def test_the_example_visit_can_be_opened_as_it_stands(client: TestClient, auth: Auth,
                                                      store_id: str,
                                                      document: dict[str, Any]) -> None:
    """A new user's first requests: the examples, sent as Swagger UI would, are accepted."""
    components = document["components"]["schemas"]
    advisor = auth("advisor", "adv-docs", [store_id])
    for name, path in (("CustomerRegisterIn", "/customers"), ("WorkOrderOpen", "/work-orders")):
        (example,) = components[name]["examples"]
        answer = client.post(path, json={**example, "store_id": store_id}, headers=advisor)
        assert answer.status_code == 201, answer.text


ENUMS: dict[tuple[type[BaseModel], str], tuple[Any, ...]] = {
    (schemas.WorkOrderOpen, "kind"): work_order_state.KINDS,
    (schemas_crm.BookIn, "kind"): work_order_state.KINDS,
    (schemas.CustomerIn, "kind"): customer.KINDS,
    (schemas_crm.CustomerRegisterIn, "kind"): customer.KINDS,
    (schemas_crm.ConsentIn, "channel"): customer.CHANNELS,
    (schemas_crm.ServiceIn, "skill"): skills.SKILLS,
    (schemas_crm.AutoDispatchIn, "skill"): skills.SKILLS,
    (schemas_crm.CapacityIn, "skill_hours"): skills.SKILLS,  # the map's keys
    (schemas_crm.ProfileIn, "skills"): skills.SKILLS,  # the map's keys
    (schemas_crm.AttendanceIn, "status"): technician.ATTENDANCE,
    (schemas_crm.ReminderIn, "outcome"): vehicle.REMINDER_OUTCOMES,
    (schemas_crm.ReminderIn, "channel"): vehicle.REMINDER_CHANNELS,
    (schemas.LaborLineIn, "pay_type"): work_order_lines.PAY_TYPES,
    (schemas.AuthorizationIn, "channel"): tuple(
        c for c in work_order_lines.AUTH_CHANNELS if c != "customer_page"),  # the page's own
    (schemas_money.PaymentIn, "method"): settlement_state.METHODS,
    (schemas_money.PaymentIn, "bill"): settlement_state.BILL_KINDS,
    (schemas_money.DiscountIn, "bill"): settlement_state.BILL_KINDS,
    (schemas_money.StatementIn, "source"): reconciliation.SOURCES,
    (schemas_money.DeliveryIn, "method"): aftercare.ACK_METHODS,
    (schemas_money.AttemptIn, "outcome"): follow_up.OUTCOMES,
    (schemas_stock.PartIn, "category"): part.CATEGORIES,
    (schemas_stock.PartChangeIn, "category"): part.CATEGORIES,
    (schemas_warranty.RemovedPartIn, "disposition"): work_order_evidence.DISPOSITIONS,
    (schemas_warranty.EvidenceIn, "kind"): work_order_evidence.EVIDENCE_KINDS,
}


def enum_of(schema: dict[str, Any], components: dict[str, Any]) -> list[Any] | None:
    """The closed set a property's schema allows (a map's keys for a map), or None."""
    if "$ref" in schema:
        return enum_of(components[schema["$ref"].rsplit("/", 1)[1]], components)
    if "enum" in schema:
        return list(schema["enum"])
    if "propertyNames" in schema:
        return enum_of(schema["propertyNames"], components)
    for branch in schema.get("anyOf", []):
        if branch.get("type") != "null":
            return enum_of(branch, components)
    return None


def test_fields_with_a_closed_set_in_the_domain_are_enums(document: dict[str, Any]) -> None:
    components = document["components"]["schemas"]
    for (model, field), values in ENUMS.items():
        schema = components[model.__name__]["properties"][field]
        assert enum_of(schema, components) == list(values), (model.__name__, field)
        assert "description" in schema or "$ref" in schema, (model.__name__, field)
    assert len(ENUMS) >= 20
    # The aliases the schemas share are the domain's sets too.
    assert get_args(schemas.WorkOrderKind) == work_order_state.KINDS
    assert get_args(schemas.PartCategory) == part.CATEGORIES
    assert get_args(schemas.Skill) == skills.SKILLS
    assert get_args(schemas.CustomerKind) == customer.KINDS


# Every list filter on a closed set: (method path, parameter) -> the domain's set.
FILTERS: dict[tuple[str, str], tuple[str, ...]] = {
    ("/appointments", "status"): appointment.STATUSES,
    ("/follow-ups", "status"): follow_up.STATUSES,
    ("/complaints", "status"): follow_up.COMPLAINT_STATUSES,
    ("/settlements", "status"): settlement_state.STATUSES,
    ("/purchase-orders", "status"): purchase_order.PO_STATUSES,
    ("/stock/transfers", "status"): transfer.STATUSES,
    ("/stock/approvals", "status"): stock_approvals.APPROVAL_STATUSES,
    ("/payments", "method"): settlement_state.METHODS,
    ("/receivables", "kind"): settlement_state.BILL_KINDS,
}


def test_list_filters_on_a_closed_set_are_enums_and_refuse_other_values(
        document: dict[str, Any], client: TestClient, auth: Auth) -> None:
    components = document["components"]["schemas"]
    manager = auth("manager", "mgr-1", ["S01"])
    for (path, name), values in FILTERS.items():
        (param,) = [p for p in document["paths"][path]["get"]["parameters"]
                    if p["name"] == name and p["in"] == "query"]
        assert enum_of(param["schema"], components) == list(values), (path, name)
        answer = client.get(path, params={name: "not-a-" + name}, headers=manager)
        assert answer.status_code == 422, (path, name, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert client.get(path, params={name: values[-1]}, headers=manager).status_code == 200


# List filters on a closed set that take several values separated by commas: the schema's
# pattern names exactly the domain's set.
SEVERAL: dict[tuple[str, str], tuple[str, ...]] = {
    ("/work-orders", "status"): work_order_state.STATUSES,
}


def test_list_filters_taking_several_of_a_closed_set_document_it_and_refuse_others(
        document: dict[str, Any], client: TestClient, auth: Auth) -> None:
    manager = auth("manager", "mgr-1", ["S01"])
    for (path, name), values in SEVERAL.items():
        (param,) = [p for p in document["paths"][path]["get"]["parameters"]
                    if p["name"] == name and p["in"] == "query"]
        [pattern] = [b["pattern"] for b in param["schema"]["anyOf"] if "pattern" in b]
        one = "|".join(values)
        assert pattern == rf"^({one})(,({one}))*$", (path, name)
        for wrong in ("not-a-" + name, f"{values[0]},not-a-{name}", f"{values[0]},"):
            answer = client.get(path, params={name: wrong}, headers=manager)
            assert answer.status_code == 422, (path, name, wrong, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
        for right in (values[-1], f"{values[0]},{values[-1]}"):
            assert client.get(path, params={name: right}, headers=manager).status_code == 200


def test_the_main_fields_say_what_they_are(document: dict[str, Any]) -> None:
    """Most fields of the request bodies, and the command answer's, carry a description."""
    components = document["components"]["schemas"]
    names = set(body_models()) & components.keys()
    fields = [(name, field, schema) for name in names
              for field, schema in components[name].get("properties", {}).items()]
    described = [f for f in fields if "description" in f[2] or "$ref" in f[2]]
    assert len(fields) > 250 and len(described) / len(fields) > 0.7, \
        sorted(f"{n}.{f}" for n, f, s in fields if (n, f, s) not in described)
    for name in ("CommandAccepted", "WorkOrderOpen", "PaymentIn", "PartIn", "BookIn"):
        assert all("description" in p or "$ref" in p
                   for p in components[name]["properties"].values()), name


# -- in a real browser, with no way out of this machine ----------------------------------------

@pytest.fixture(scope="module")
def live_url(container: Container) -> Iterator[str]:
    with serving(create_app(container.api_context())) as url:
        yield url


def test_swagger_ui_works_offline_and_signs_in_with_authorize(
        live_url: str, auth: Auth, store_id: str, tmp_path: Path) -> None:
    """Headless chromium whose every request off 127.0.0.1 fails: the page still renders,
    Authorize takes a token, and "Execute" on an operation sends it."""
    binary = chromium()
    token = auth("advisor", "adv-docs", [store_id])["Authorization"].removeprefix("Bearer ")
    elsewhere: list[str] = []
    refused: list[str] = []  # what the pages' Content-Security-Policy kept the browser from

    def local_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort("internetdisconnected")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary, headless=True,
                                             args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.route("**/*", local_only)
            page.on("console", lambda message: refused.append(message.text)
                    if "Content Security Policy" in message.text else None)
            page.goto(f"{live_url}/docs")
            page.wait_for_selector(".opblock-tag", timeout=60_000)
            assert "servicecore" in page.inner_text(".information-container")
            top = tmp_path / "docs-top.png"
            page.screenshot(path=str(top))

            # Authorize: one bearer token for every operation.
            page.click("button.authorize")
            page.fill(".auth-container input", token)
            page.click(".auth-btn-wrapper button.authorize")
            page.click(".auth-btn-wrapper button.btn-done")
            classes = (page.get_attribute(".auth-wrapper button.authorize", "class") or "").split()
            assert "locked" in classes, classes

            # The command's body starts from its example, with a VIN that passes the check.
            opening = page.locator(".opblock-post", has=page.locator(
                '[data-path="/work-orders"]')).first
            opening.locator(".opblock-summary").click()
            body = opening.locator("textarea.body-param__text")
            assert "LSVAU218XN2183294" in body.input_value()

            # A read, executed from the page, carries the token: 200, not 401.
            listing = page.locator(".opblock-get", has=page.locator(
                '[data-path="/work-orders"]')).first
            listing.locator(".opblock-summary").click()
            listing.locator("button.execute").click()
            status = listing.locator(".live-responses-table tbody .response-col_status").first
            status.wait_for(timeout=30_000)
            assert status.inner_text().strip() == "200"
            assert "Bearer" in listing.locator(".curl-command").inner_text()
            shot = tmp_path / "docs.png"
            page.screenshot(path=str(shot), full_page=False)

            # ReDoc renders the same document, offline too.
            page.goto(f"{live_url}/redoc")
            page.wait_for_selector("h1:has-text('servicecore')", timeout=60_000)
            page.locator("h2", has_text="Open Work Order").first.wait_for(timeout=30_000)
        finally:
            browser.close()
    assert not elsewhere, elsewhere
    # Only ReDoc's decorative Redocly logo is refused; no script, style or request is.
    assert all("image" in text and "cdn.redoc.ly" in text for text in refused), refused
    for png in (top, shot):
        data = png.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000, png
