"""The history of a work order's progress links over HTTP: who shared the page and who revoked
it, when and why, linked from /audit/lookup like every stream's history, for auditors and
managers, and never a link's nonce."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from fastapi.testclient import TestClient

from domain.progress_link import ProgressLinks
from tests.e2e.test_progress_page import head, page_path, share, visit

Auth = Callable[..., dict[str, str]]


def test_the_links_history_says_who_shared_and_revoked_and_never_a_nonce(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-sun", [store_id])
    auditor = auth("auditor", "aud-1", [store_id])
    wo_id = visit(client, advisor, store_id, auth("technician", "tech-4", [store_id]))

    # The advisor shares the page, shares it again (the first link is replaced), then revokes
    # the second because the customer asked.
    first = share(client, advisor, wo_id)
    second = share(client, advisor, wo_id, hours=2)
    revoked = client.delete(f"/work-orders/{wo_id}/progress-link", headers=advisor,
                            params={"reason": f"customer asked (was {second['link_id']})"})
    assert revoked.status_code == 200
    secrets = [first["link_id"], second["link_id"],
               *(page_path(issued).rsplit("/", 1)[1] for issued in (first, second))]

    # The work-order number's lookup links the links stream's history.
    number = client.get(f"/work-orders/{wo_id}", headers=advisor).json()["number"]
    found = client.get("/audit/lookup", params={"number": number, "wait_for": head(client)},
                       headers=auditor).json()
    links_id = ProgressLinks.create_id(uuid.UUID(wo_id))
    (stream,) = [s for s in found["streams"] if s["stream_type"] == "ProgressLinks"]
    assert stream["history"] == f"/progress-links/{links_id}/history"

    answer = client.get(stream["history"], headers=auditor)
    assert answer.status_code == 200
    assert not [s for s in secrets if s in answer.text]  # no nonce, no token, anywhere
    items = answer.json()["items"]
    assert [(e["event"], e["actor"]["user_id"]) for e in items] == [
        ("ProgressLinks.Started", "adv-sun"), ("ProgressLinks.LinkIssued", "adv-sun"),
        ("ProgressLinks.LinkIssued", "adv-sun"), ("ProgressLinks.LinkRevoked", "adv-sun")]
    # Links are named by their place in issue order: 2 replaced 1, then 2 was revoked.
    issued = [(e["changes"]["link"], e["changes"]["replaces"], e["changes"]["expires_at"])
              for e in items[1:3]]
    assert issued == [(1, None, first["expires_at"]), (2, 1, second["expires_at"])]
    assert items[3]["changes"] == {"link": 2}
    assert items[3]["reason"] == "customer asked (was link 2)"
    assert all("nonce" not in e["changes"] for e in items)

    # Paged like every history, and redacted on every page.
    page = client.get(stream["history"], params={"limit": 1, "offset": 3}, headers=auditor)
    assert (page.json()["total"], [e["event"] for e in page.json()["items"]]) == (
        4, ["ProgressLinks.LinkRevoked"])
    assert not [s for s in secrets if s in page.text]

    # Auditors and managers read it; the desk and others do not; another store's token and
    # an id of another kind of stream find nothing.
    assert client.get(stream["history"], headers=auth("manager", "mgr-1", [store_id])
                      ).status_code == 200
    for role in ("advisor", "cashier", "analyst", "technician"):
        assert client.get(stream["history"], headers=auth(role, "u-1", [store_id])
                          ).status_code == 403
    elsewhere = client.get(stream["history"], headers=auth("auditor", "aud-2", ["ELSEWHERE"]))
    assert elsewhere.status_code == 404
    assert elsewhere.headers["content-type"] == "application/problem+json"
    for other in (wo_id, uuid.uuid4()):
        assert client.get(f"/progress-links/{other}/history", headers=auditor
                          ).status_code == 404

