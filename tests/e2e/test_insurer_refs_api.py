"""An insurer is named in the path by its code or its id, on every `/insurers/{insurer}` route:
the detail, its history, rename, aliases and deactivation. A reference that names no insurer —
an unknown code or id, a name that is no code ("平安", "PICC.CN"), the id of another kind of
stream — is 404 problem+json on each, and changes nothing; a malformed one (over 40
characters, control characters) is 422.

The master is shared by every store (and every test of the run): the insurers are named after
the test's store.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import Auth, get, head, post

CHANGES: list[tuple[str, str, dict[str, Any]]] = [
    ("PATCH", "", {"short_name": "新名", "reason": "renamed"}),
    ("POST", "/aliases", {"add": ["另一个名"], "reason": "typed on claims"}),
    ("POST", "/deactivation", {"reason": "contract ended"}),
]


def _answer(client: TestClient, method: str, url: str, headers: dict[str, str],
            body: Any = None) -> tuple[int, dict[str, Any]]:
    response = client.request(method, url, headers=headers, json=body)
    assert response.headers["content-type"] == "application/problem+json", response.text
    return response.status_code, response.json()


def test_a_reference_that_names_no_insurer_is_404_on_every_route(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    post(client, "/insurers", manager, {"code": "REF" + store_id, "name": f"平安{store_id}",
                                        "short_name": f"平安{store_id}"}, 201)
    # A customer's stream: its history is no insurer's.
    customer = post(client, "/customers", advisor, {
        "store_id": store_id, "name": "王芳", "phones": ["13700001111"]}, 201)
    stored = head(client)
    unknown = [f"平安{store_id}", "PICC.CN", "NOSUCH" + store_id, "A" * 21, str(uuid.uuid4()),
               customer["id"]]
    for ref in unknown:
        for method, path, body in [("GET", "", None), ("GET", "/history", None), *CHANGES]:
            status, problem = _answer(client, method, f"/insurers/{ref}{path}", manager, body)
            assert (status, problem["status"]) == (404, 404), (method, ref, path, problem)
            assert problem["type"].endswith("not-found"), problem
    for ref in ("A" * 41, "PINGAN%01"):
        for method, path, body in [("GET", "", None), ("GET", "/history", None), *CHANGES]:
            status, problem = _answer(client, method, f"/insurers/{ref}{path}", manager, body)
            assert status == 422, (method, ref, path, problem)
    assert head(client) == stored  # nothing stored by any refusal


def test_an_insurer_is_changed_by_its_id_as_by_its_code(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    code = "IDS" + store_id
    made = post(client, "/insurers", manager, {"code": code, "name": f"太平洋{store_id}",
                                               "short_name": f"太保{store_id}"}, 201)
    by_id = f"/insurers/{made['id']}"
    renamed = client.patch(by_id, headers=manager,
                           json={"short_name": f"太保财险{store_id}", "reason": "new brand"})
    assert renamed.status_code == 200, renamed.text
    post(client, f"{by_id}/aliases", manager, {"add": [f"CPIC {store_id}"], "reason": "claims"})
    post(client, f"/insurers/{code.lower()}/deactivation", manager, {"reason": "ended"})
    found = get(client, by_id, manager, wait_for=head(client))
    assert (found["code"], found["short_name"], found["aliases"], found["active"]) == (
        code, f"太保财险{store_id}", [f"CPIC {store_id}"], False)
    history = get(client, f"{by_id}/history", manager)["items"]
    assert [e["event"] for e in history] == ["Insurer.Registered", "Insurer.Renamed",
                                            "Insurer.AliasesChanged", "Insurer.Deactivated"]
