"""A work order `?as_of=` a moment is a state the work order was in: the replay stops at the
first event stamped after the moment, as every other `as_of` replay does.

An event's business time is when its request came in, and it is stored when its command gets
its turn: a request that waited for the stream (another writer held it, or it lost the race
and was retried on fresh state) is stored after an event stamped later than its own. Its
effects were decided on the state that later event made, so a replay that skipped the later
event and kept the earlier-stamped one after it answered a work order that never was."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient

from domain.application import Request
from domain.common import Caller
from servicecore.container import Container
from tests.e2e.test_parts_api import get, head, post
from tests.scratch_systems import served_module

Auth = Callable[..., dict[str, str]]
served, container, client = served_module("sc_as_of_order", projections=True)


def _complaints(doc: dict[str, Any]) -> list[str]:
    return [job["complaint"] for job in doc["jobs"]]


def _add_job(system: Container, store_id: str, wo_id: str, complaint: str,
             at: datetime) -> None:
    """The advisor's request to add a job, come in at `at` (its business time)."""
    caller = Caller("adv-" + store_id, "advisor", (store_id,), at, f"came-in-{complaint}")
    system.work_orders.add_job(Request(caller), UUID(wo_id), complaint=complaint)


def test_a_request_stored_after_a_later_stamped_one_is_not_seen_before_it(
        client: TestClient, container: Container, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    wo_id = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "王伟", "phone": "13800000001"},
        "vehicle": {"vin": "LSVAU218XN2183294", "plate": "沪A12345"}, "mileage": 30000,
        "complaints": ["brake noise"]}, 201)["id"]
    url = f"/work-orders/{wo_id}"
    opened = get(client, url, advisor, wait_for=head(client))
    # Two requests for the same work order: the wipers' came in first (`early`), the
    # rattle's a second later (`late`), and the rattle's command got the stream first; the
    # wipers' is stored after it, as job 3, decided on the work order with job 2 in it.
    early = datetime.now(UTC)
    late = early + timedelta(seconds=1)
    while datetime.now(UTC) <= late:  # both moments past, so neither is in the future
        pass
    _add_job(container, store_id, wo_id, "rattle from the dashboard", late)
    _add_job(container, store_id, wo_id, "wipers streak", early)
    live = get(client, url, advisor, wait_for=head(client))
    assert _complaints(live) == ["brake noise", "rattle from the dashboard", "wipers streak"]
    history = get(client, f"{url}/history", auditor)["items"]
    assert [datetime.fromisoformat(e["actor"]["at"]) for e in history[-2:]] == [late, early]

    # Between the two business times the work order had job 1 alone: job 3 came with job 2,
    # and job 2 is stamped later. The answer is never job 3 without job 2.
    between = get(client, url, auditor, as_of=(early + timedelta(milliseconds=500)).isoformat())
    assert _complaints(between) == _complaints(opened) == ["brake noise"]
    assert between["version"] == opened["version"]
    at_early = get(client, url, auditor, as_of=early.isoformat())
    assert _complaints(at_early) == ["brake noise"]
    # From the later stamp on, both, as the live read shows them.
    at_late = get(client, url, auditor, as_of=late.isoformat())
    assert _complaints(at_late) == _complaints(live)
    assert at_late["version"] == live["version"]
