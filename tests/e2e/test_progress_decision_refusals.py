"""The customer's decisions from the progress page (JSON, as a mini program sends them) refused
as every other invalid body is: `errors[]` with `loc`, `msg` and `type`, and `field` naming the
input. The page's own parser answered `errors` as bare messages (a client reading
`errors[0].loc` met a string) and named no field for a line the work order does not have or
a line both approved and declined; nothing is stored either way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_progress_page import JSON, page_path, share, visit, wo_doc

Auth = Callable[..., dict[str, str]]


def _refused(client: TestClient, path: str, body: Any) -> dict[str, Any]:
    response = client.post(f"{path}/decisions", json=body, headers=JSON)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json", response.text
    return response.json()  # type: ignore[no-any-return]


def test_refused_decisions_name_the_input_and_store_nothing(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    wo_id = visit(client, advisor, store_id, auth("technician", "tech-1", [store_id]))
    path = page_path(share(client, advisor, wo_id))
    before = wo_doc(client, wo_id, advisor)["version"]

    # A decision that is neither: the standard error list, its place in the body.
    maybe = _refused(client, path, {"decisions": [{"line_id": "L1", "decision": "approved"},
                                                  {"line_id": "L3", "decision": "maybe"}]})
    assert maybe["errors"] == [{"loc": ["body", "decisions", 1, "decision"],
                                "msg": "Input should be 'approved' or 'declined'",
                                "type": "literal_error"}], maybe
    # Nothing to decide: the list itself is the field.
    empty = _refused(client, path, {"decisions": []})
    assert empty["field"] == "decisions", empty
    assert empty["errors"][0]["loc"] == ["body", "decisions"], empty

    # A line the estimate does not have, after one it has: named by its place.
    unknown = _refused(client, path, {"decisions": [{"line_id": "L1", "decision": "approved"},
                                                    {"line_id": "L9", "decision": "declined"}]})
    assert (unknown["field"], unknown["line_id"]) == ("decisions[1].line_id", "L9"), unknown
    # The same line both ways: the second decision is the one that contradicts.
    both = _refused(client, path, {"decisions": [{"line_id": "L2", "decision": "approved"},
                                                 {"line_id": "L2", "decision": "declined"}]})
    assert (both["field"], both["line_id"]) == ("decisions[1].decision", "L2"), both

    # L1 was in two refused requests: it still waits for the customer.
    after = wo_doc(client, wo_id, advisor)
    assert after["version"] == before
    assert [line["status"] for line in after["lines"]] == ["pending"] * 3
