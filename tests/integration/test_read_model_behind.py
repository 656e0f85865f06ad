"""`?wait_for=` on a read model that has not applied the id within the read wait's bound
(SERVICECORE_READ_WAIT_MAX_SECONDS): 503 problem+json with Retry-After, never the page as the
view holds it read as current. A work order opened a moment before was answered 404, a part
just registered 404, a receipt just booked missing from the stock item, all with 200 or 404
and nothing to tell the client its write was not in the answer.

Here the system's projections are not started (a view far behind, as on a machine too busy
for its runners, or a runner stopped): the waits give up, and once the views run the same
reads answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from servicecore.container import Container, build
from tests.conftest import settings_for
from tests.databases import scratch_database
from tests.integration.test_database_outage import Auth, opening
from tests.integration.test_read_your_writes import _new_part

WAIT = 0.3  # seconds: the bound of a read's wait, short so the test does not sit in it


@pytest.fixture(scope="module")
def idle_views(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    """A system whose projections do not run until a test starts them."""
    with scratch_database(server_url, "sc_behind") as url:
        system = build(settings_for(url, tmp_path_factory.mktemp("behind"),
                                    read_wait_max_seconds=WAIT))
        try:
            yield system
        finally:
            system.close()


def assert_behind(answer: Any, view: str, notification_id: int) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert int(answer.headers["Retry-After"]) > 0
    assert answer.headers["X-Read-Model-Stale"] == "true"
    body = answer.json()
    assert body["type"].endswith("/read-model-behind"), body
    assert (body["view"], body["wait_for"], body["waited_seconds"]) == (
        view, notification_id, WAIT), body


def test_a_read_of_a_write_the_view_has_not_applied_is_503_not_a_stale_answer(
        idle_views: Container, auth: Auth) -> None:
    advisor = auth("advisor", "adv-behind", ["S01"])
    clerk = auth("parts_clerk", "clerk-behind", ["S01"])
    with TestClient(create_app(idle_views.api_context())) as client:
        opened = client.post("/work-orders", json=opening("S01", 1), headers=advisor)
        assert opened.status_code == 201, opened.text
        wo_id, wo_nid = opened.json()["id"], opened.json()["notification_id"]
        number = _new_part(client, clerk)
        part_nid = client.get("/health").json()["head_notification_id"]
        reads = [(f"/work-orders/{wo_id}?wait_for={wo_nid}", advisor, "work_orders", wo_nid),
                 # a list, through FastAPI's routing: it listed the visits without this one
                 (f"/work-orders?store_id=S01&wait_for={wo_nid}", advisor, "work_orders",
                  wo_nid),
                 (f"/parts/{number}?wait_for={part_nid}", clerk, "stock", part_nid)]
        for url, headers, view, nid in reads:
            assert_behind(client.get(url, headers=headers), view, nid)
        # without wait_for the view is read as it stands, as before: not there yet
        assert client.get(f"/work-orders/{wo_id}", headers=advisor).status_code == 404

        idle_views.start_projections()
        for url, headers, _view, _nid in reads:
            for _ in range(60):  # the first catch-up may take longer than one wait
                answer = client.get(url, headers=headers)
                if answer.status_code != 503:
                    break
            assert answer.status_code == 200, answer.text
            assert "X-Read-Model-Stale" not in answer.headers
