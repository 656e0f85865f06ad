"""Hostile request headers on the routes a browser posts to: each answer is a problem naming
what is wrong, with the right status; nothing stored."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.e2e.test_api_contract import log_head, problem
from tests.e2e.test_progress_page import HTML, form_fields, head, page_path, share, visit, wo_doc

Auth = Callable[..., dict[str, str]]
# Origins no URL parser reads: an unclosed or stray IPv6 bracket.
UNREADABLE = ["http://[", "http://[::1", "https://a]b"]


@pytest.mark.parametrize("origin", UNREADABLE)
def test_an_origin_no_parser_reads_is_403_on_the_progress_page(client: TestClient, auth: Auth,
                                                               store_id: str,
                                                               origin: str) -> None:
    """Found by the reliability review: the same-origin check split the Origin header as a
    URL, which raised on an unbalanced bracket; anyone on the internet got a 500, for a real
    link or a made-up one alike."""
    advisor = auth("advisor", "adv-sun", [store_id])
    wo_id = visit(client, advisor, store_id, auth("technician", "tech-2", [store_id]))
    issued = share(client, advisor, wo_id)
    decisions = f"{page_path(issued)}/decisions"
    fields = form_fields(client.get(page_path(issued), headers=HTML).text, "L1")
    version = wo_doc(client, wo_id, advisor, wait_for=head(client))["version"]
    before = log_head(client)
    as_form = client.post(decisions, data={**fields, "decision": "approved"},
                          headers={**HTML, "Origin": origin}, follow_redirects=False)
    assert as_form.status_code == 403, as_form.text
    as_json = client.post(decisions, json={"decisions": [{"line_id": "L1",
                                                          "decision": "approved"}]},
                          headers={"Origin": origin})
    problem(as_json, 403, "forbidden")
    made_up = client.post(f"/progress/{'A' * 80}/decisions", headers={"Origin": origin},
                          json={"decisions": [{"line_id": "L1", "decision": "approved"}]})
    problem(made_up, 403, "forbidden")
    assert log_head(client) == before
    assert wo_doc(client, wo_id, advisor, wait_for=head(client))["version"] == version


@pytest.mark.parametrize("origin", UNREADABLE)
def test_an_origin_no_parser_reads_is_403_on_the_dashboard_sign_in(client: TestClient,
                                                                   auth: Auth, store_id: str,
                                                                   origin: str) -> None:
    """The dashboard's sign-in and sign-out made the same check, with the same 500."""
    manager = auth("manager", "mgr-dash", [store_id])
    signed_in = client.post("/analytics/dashboard/session", headers={**manager,
                                                                      "Origin": origin},
                            follow_redirects=False)
    problem(signed_in, 403, "forbidden")
    assert "set-cookie" not in signed_in.headers
    signed_out = client.post("/analytics/dashboard/logout", headers={"Origin": origin},
                             follow_redirects=False)
    problem(signed_out, 403, "forbidden")
