"""A stored event the code cannot read (a state that is not JSON, a state its upcaster or its
aggregate cannot take): every read that replays its stream and
every command that loads it answers one 500 problem naming the record — stream, version,
topic, never its payload — and logs the same; the command stores nothing. The views stop
before it and say so on /health and in `audit views`. The tests append broken rows behind the
application's back, so they run on a database of their own."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from domain.oem_claim import OemClaim
from servicecore import cli
from servicecore.container import build
from servicecore.schema import EVENTS_TABLE
from tests.conftest import JWT_SECRET, settings_for
from tests.e2e.test_money_api import ready_for_settlement
from tests.e2e.test_parts_api import get, head, post
from tests.e2e.test_warranty_evidence_api import injector_visit
from tests.integration.audit_support import new_vin
from tests.integration.kafka_support import wait_until
from tests.integration.newer_support import stream_and_head
from tests.integration.support import CUSTOMER, http_open
from tests.scratch_systems import ServedScratch, served_module, served_scratch

served, container, client = served_module("sc_unreadable")

Auth = Callable[..., dict[str, str]]
PROBLEM = "https://servicecore.dev/problems/unreadable-event"
TITLE = "A stored event cannot be read"
OPENED = "domain.work_order:WorkOrder.Opened"

# What is broken in the row appended to a work order: (topic, the state made of the Opened
# event's state as stored), and the error the reading meets.
BROKEN: dict[str, tuple[str, Callable[[bytes], bytes], tuple[str, ...]]] = {
    # (a topic no class answers to is an event of newer code: tests/integration/
    # test_newer_events.py)
    # bytes that are not the JSON they were
    "corrupt JSON": ("domain.work_order:WorkOrder.JobAdded", lambda opened: opened[:40],
                     ("MapperDeserialisationError",)),
    # a v1 line its upcaster cannot take (no `line`)
    "failing upcaster": ("domain.work_order:WorkOrder.LineAdded", lambda opened: opened,
                         ("KeyError",)),
    # a state its aggregate (or the as_of fold) cannot take: a job without its complaint
    "failing event": ("domain.work_order:WorkOrder.JobAdded", lambda opened: opened,
                      ("KeyError", "TypeError")),
}


def _append_broken(url: str, stream_id: UUID, topic: str,
                   state: Callable[[bytes], bytes]) -> int:
    """The next version of the stream (a work order's, or any other), appended with `topic`
    and a state made of its first event's: the new version."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(f"SELECT max(originator_version), (array_agg(state ORDER BY "
                           f"originator_version))[1] FROM {EVENTS_TABLE} "
                           "WHERE originator_id = %s", (stream_id,)).fetchone()
        assert row is not None
        version, opened = int(row[0]) + 1, bytes(row[1])
        conn.execute(f"INSERT INTO {EVENTS_TABLE} (originator_id, originator_version, topic, "
                     "state) VALUES (%s, %s, %s, %s)",
                     (stream_id, version, topic, state(opened)))
    return version


def _first_version(state: bytes) -> bytes:
    """A stored state as its class's first version writes it (no `class_version`)."""
    return json.dumps({k: v for k, v in json.loads(state).items()
                       if k != "class_version"}).encode()


def _named(answer: Any, stream_id: UUID, version: int, topic: str,
           errors: tuple[str, ...]) -> None:
    assert answer.status_code == 500, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert (problem["type"], problem["title"]) == (PROBLEM, TITLE)
    assert (problem["stream_id"], problem["version"], problem["topic"]) == (
        str(stream_id), version, topic)
    assert f"event {version} of stream {stream_id} ({topic})" in problem["detail"]
    assert any(f"cannot be decoded: {e}" in problem["detail"]
               or f"cannot be applied: {e}" in problem["detail"] for e in errors)
    # nothing of what the event holds: the customer's name is in every state made here
    assert CUSTOMER["name"] not in answer.text and "brake noise" not in answer.text


@pytest.mark.parametrize("broken", list(BROKEN))
def test_reads_and_commands_on_a_stream_with_an_unreadable_event_name_it(
        broken: str, served: ServedScratch, client: TestClient, auth: Auth, store_id: str,
        caplog: pytest.LogCaptureFixture) -> None:
    store = store_id
    topic, state, error = BROKEN[broken]
    work_order_id = UUID(http_open(client, auth, store)["id"])
    version = _append_broken(served.owner_url, work_order_id, topic, state)
    auditor = auth("auditor", stores=[store])

    with caplog.at_level(logging.ERROR, logger="api.errors"):
        # The work order as of today (now): its stream replayed.
        _named(client.get(f"/work-orders/{work_order_id}", params={"as_of": _store_day()},
                          headers=auditor), work_order_id, version, topic, error)
        # Its history, from the first event: named, when the event does not decode; else
        # the event as stored (the history applies nothing).
        history = client.get(f"/work-orders/{work_order_id}/history", headers=auditor)
        if broken == "failing event":
            assert history.status_code == 200, history.text
            assert [i["version"] for i in history.json()["items"]] == [1, version]
        else:
            _named(history, work_order_id, version, topic, error)
        # A command on it: the same answer, and nothing stored.
        before = stream_and_head(served.owner_url, work_order_id)
        answer = client.post(f"/work-orders/{work_order_id}/jobs",
                             json={"complaint": "a rattle from the rear"},
                             headers=auth("advisor", stores=[store]))
        _named(answer, work_order_id, version, topic, error)
        assert stream_and_head(served.owner_url, work_order_id) == before

    logged = [r.getMessage() for r in caplog.records if "cannot be read" in r.getMessage()]
    assert len(logged) == (2 if broken == "failing event" else 3)
    for message in logged:
        assert f"event {version} of stream {work_order_id} ({topic})" in message
        assert CUSTOMER["name"] not in message


def _store_day() -> str:
    """Today in the store's time zone: `as_of` of that day is now."""
    return datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()


def test_a_view_that_meets_an_unreadable_event_names_it_on_health_and_in_audit_views(
        server_url: str, auth: Auth, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The row that cannot be decoded (no class here answers to its topic) is a poison event like one a
    handler raises on: the work orders view applies the events before it, stops there, and
    /health and `audit views` name it (position and topic). On a database of its own: the
    view reads the log from its first event."""
    store = "SVIEW"
    topic = "domain.work_order:WorkOrder.Vanished"
    with served_scratch(server_url, "sc_unreadable_view", tmp_path / "served") as served:
        work_order_id = UUID(http_open(served.client, auth, store)["id"])
        _append_broken(served.owner_url, work_order_id, topic, lambda opened: opened)
        _, poison = stream_and_head(served.owner_url, work_order_id)
        system = build(settings_for(served.app_url, tmp_path / "viewer"))
        try:
            system.views = [v for v in system.views if v.name == "work_orders"]
            system.start_projections()
            with TestClient(create_app(system.api_context())) as viewer:
                wait_until(lambda: "work_orders" in system.stops(), 30,
                           "the work orders view to stop at the unreadable event")
                stop = system.stops()["work_orders"]
                assert (stop["position"], stop["topic"]) == (poison, topic)
                assert stop["error"].startswith("NewerEvent")  # its class is not here
                health = viewer.get("/health")
                assert health.status_code == 503
                assert health.json()["projections"]["work_orders"]["stopped_at"] == stop
                assert any(f"stops at event {poison} ({topic})" in reason
                           for reason in health.json()["reasons"])
                # the view stands just before it: the work order as it was
                assert viewer.get(f"/work-orders/{work_order_id}", headers=auth(
                    "advisor", stores=[store])).json()["version"] == 1
            for key, value in (("DATABASE_URL", served.app_url),
                               ("SERVICECORE_DATA_DIR", str(tmp_path / "viewer")),
                               ("SERVICECORE_JWT_SECRET", JWT_SECRET)):
                monkeypatch.setenv(key, value)
            capsys.readouterr()
            assert cli.main(["audit", "views", "--view", "work_orders"]) == 1
            (line,) = capsys.readouterr().out.splitlines()
            checked = json.loads(line)
            assert (checked["ok"], checked["stopped_at"]["position"],
                    checked["stopped_at"]["topic"]) == (False, poison, topic)
        finally:
            system.close()


# A state its aggregate cannot take: the stream's first event's state under a later step's
# topic (the step's method is handed arguments it does not have).
APPLIED_ERRORS = ("KeyError", "TypeError")


def test_the_claim_package_names_an_event_its_folds_cannot_apply(
        server_url: str, auth: Auth, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The warranty claim package replays the visit, the tags of its failed parts and the
    OEM's answer to the claim from their streams: an event one of them cannot apply is the
    named problem, of that stream. On a database of its own, with its views: the failed
    parts view names the visit's tags, and the views stop at the broken events."""
    store = "SCLAIM"
    with served_scratch(server_url, "sc_unreadable_claim", tmp_path / "served",
                        projections=True) as served:
        client = served.client
        auditor = auth("auditor", "aud-" + store, [store])
        clerk = auth("parts_clerk", "clerk-" + store, [store])
        # A visit whose work order stream breaks.
        _, visit, _ = injector_visit(client, auth, store, vin=new_vin())
        # A visit whose failed part's custody breaks: the injector is tagged.
        _, custody_visit, line = injector_visit(client, auth, store, vin=new_vin())
        tag = post(client, "/failed-parts", clerk, {
            "work_order_id": custody_visit, "line_id": line, "tag_number": "WT-0901",
            "location": "warranty cage B2"}, 201)
        # A visit whose OEM claim breaks: settled and submitted to the OEM.
        cashier = auth("cashier", "cash-" + store, [store])
        _, claim_visit = ready_for_settlement(client, auth, store, warranty_labor=True,
                                              vin=new_vin())
        settlement = post(client, "/settlements", cashier, {"work_order_id": claim_visit},
                          201)["id"]
        post(client, f"/settlements/{settlement}/confirmation", cashier)
        post(client, f"/work-orders/{claim_visit}/warranty-claim/submission",
             auth("advisor", "warranty-clerk", [store]), {"oem_claim_number": "VW-2026-0901"},
             201)
        # Each package reads, the tag and the claim in it, before anything breaks.
        packages = {wo: get(client, f"/work-orders/{wo}/warranty-claim", auditor,
                            wait_for=head(client))
                    for wo in (visit, custody_visit, claim_visit)}
        assert [t["tag_number"] for t in packages[custody_visit]["jobs"][0]["parts"][0][
            "custody"]] == ["WT-0901"]
        assert packages[claim_visit]["oem_claim"]["status"] == "submitted"
        broken = {
            visit: (UUID(visit), "domain.work_order:WorkOrder.JobAdded"),
            custody_visit: (UUID(tag["id"]), "domain.failed_part:FailedPart.Moved"),
            claim_visit: (OemClaim.create_id(UUID(claim_visit)),
                          "domain.oem_claim:OemClaim.Rejected"),
        }
        # the claim's first event is a Submitted of class version 2, a version Rejected has
        # not reached: without it, the state is one the older step cannot apply
        versions = {wo: _append_broken(served.owner_url, stream_id, topic, _first_version)
                    for wo, (stream_id, topic) in broken.items()}
        with caplog.at_level(logging.ERROR, logger="api.errors"):
            for wo, (stream_id, topic) in broken.items():
                _named(client.get(f"/work-orders/{wo}/warranty-claim", headers=auditor),
                       stream_id, versions[wo], topic, APPLIED_ERRORS)
        logged = [r.getMessage() for r in caplog.records if "cannot be read" in r.getMessage()]
        assert len(logged) == 3
