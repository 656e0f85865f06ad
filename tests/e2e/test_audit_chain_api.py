"""The integrity proof over HTTP: an auditor verifies the hash chain over a range and records
its head as an anchor, without shell access (`servicecore audit verify | anchor` over the API).

Tampering needs the owner's rights, so the tampering tests run on a database of their own,
migrated by its owner and served through the application's role, as in production.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.auth import PERMISSIONS
from api.routes import audit_chain as chain_routes
from domain.common import ROLES
from domain.integrity import link
from projections.evidence import one_snapshot
from projections.hash_chain import chain_head, verify
from servicecore import audit_chain
from servicecore.container import Container
from servicecore.schema import ANCHORS_TABLE, EVENTS_TABLE, HASHES_TABLE, install
from tests.e2e.test_money_api import ready_for_settlement
from tests.integration.support import open_order, request
from tests.integration.test_event_log_integrity import opened_with_mileage
from tests.scratch_systems import ServedScratch, served_scratch

Auth = Callable[..., dict[str, str]]
VERIFY, ANCHORS = "/audit/chain/verify", "/audit/chain/anchors"


@pytest.fixture
def scratch(server_url: str, tmp_path: Path) -> Iterator[ServedScratch]:
    with served_scratch(server_url, "sc_chain_api", tmp_path) as served:
        yield served


def _tamper(url: str, sql: str, *params: object) -> None:
    """What an operator with the owner's rights can do behind the application's back."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {EVENTS_TABLE} DISABLE TRIGGER USER")
        conn.execute(sql, params)
        conn.execute(f"ALTER TABLE {EVENTS_TABLE} ENABLE TRIGGER USER")


def _open(system: Container, mileage: int) -> None:
    system.work_orders.open(request("S01"), store_id="S01",
                            customer={"name": "王磊", "phone": "13800138000"},
                            vehicle={"vin": "LSVAU218XN2183294"}, mileage=mileage,
                            complaints=["engine warning light"])


def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_clean_chain_verifies_and_a_changed_event_is_named(scratch: ServedScratch,
                                                           auth: Auth) -> None:
    _open(scratch.system, 28720)
    for _ in range(2):
        open_order(scratch.system.work_orders, "S01")
    auditor = auth("auditor", "aud-wang")

    # The auditor checks the whole (short) log: the same answer as `audit verify`.
    clean = _ok(scratch.client.get(VERIFY, headers=auditor))
    with psycopg.connect(scratch.owner_url) as conn:
        cli = audit_chain.verify(conn).as_dict()
        head = conn.execute(f"SELECT max(notification_id), count(*) FROM {EVENTS_TABLE}"
                            ).fetchone()
        stored = conn.execute(f"SELECT hash FROM {HASHES_TABLE} WHERE notification_id = %s",
                              (head[0],) if head else (0,)).fetchone()
    assert head is not None and stored is not None
    assert {key: clean[key] for key in cli} == cli
    assert clean["ok"] is True and clean["first_break"] is None
    assert (clean["events_checked"], clean["to"]) == (head[1], head[0])
    assert clean["head_hash"] == bytes(stored[0]).hex()
    assert (clean["range_from"], clean["range_to"], clean["log_head"]) == (1, head[0], head[0])
    assert clean["next_from"] is None

    # The owner turns 28720 km into 8720 km behind the application's back.
    target = opened_with_mileage(scratch.owner_url, 28720)
    _tamper(scratch.owner_url,
            f"UPDATE {EVENTS_TABLE} SET state = convert_to(replace(convert_from(state, "
            "'UTF8'), '\"mileage\":28720', '\"mileage\":8720'), 'UTF8') "
            "WHERE notification_id = %s", target)

    broken = _ok(scratch.client.get(VERIFY, headers=auditor))  # a break is still a 200
    assert broken["ok"] is False
    assert broken["first_break"]["notification_id"] == target
    assert broken["first_break"]["reason"] == "event changed"
    assert broken["to"] == target - 1 and broken["events_checked"] == target - 1
    # The auditor fetches the event as stored: its bytes no longer give its link.
    changed = _ok(scratch.client.get(f"/audit/chain/events/{target}", headers=auditor))
    state = base64.b64decode(changed["state"])
    assert b'"mileage":8720' in state
    assert link(bytes.fromhex(changed["previous_hash"]), target, UUID(changed["stream_id"]),
                changed["stream_version"], changed["topic"], state).hex() != changed["hash"]
    # A manager may check too; from the event after it, the rest still checks out.
    after = _ok(scratch.client.get(VERIFY, params={"from": target + 1},
                                   headers=auth("manager", "mgr-li")))
    assert after["ok"] is True and after["events_checked"] == head[0] - target
    # A range that ends before it does not reach it.
    before = _ok(scratch.client.get(VERIFY, params={"from": 1, "to": target - 1},
                                    headers=auditor))
    assert before["ok"] is True and before["to"] == target - 1


def test_an_anchor_posted_is_listed_and_a_relinked_chain_differs_from_it(
        scratch: ServedScratch, auth: Auth) -> None:
    client = scratch.client
    auditor = auth("auditor", "aud-wang")
    # Nothing stored yet: there is no head to anchor.
    empty = client.post(ANCHORS, json={"note": "too early"}, headers=auditor)
    assert empty.status_code == 409, empty.text
    assert empty.headers["content-type"] == "application/problem+json"

    _open(scratch.system, 28720)
    open_order(scratch.system.work_orders, "S01")
    first = _ok(client.post(ANCHORS, json={"note": "day-end S01 2026-12-03"}, headers=auditor),
                201)
    with psycopg.connect(scratch.owner_url) as conn:
        head = conn.execute(f"SELECT notification_id, hash FROM {HASHES_TABLE} "
                            "ORDER BY notification_id DESC LIMIT 1").fetchone()
    assert head is not None
    assert first["anchor"] == f"{head[0]}:{bytes(head[1]).hex()}"
    assert (first["notification_id"], first["hash"]) == (head[0], bytes(head[1]).hex())
    assert (first["anchored_by"], first["note"]) == ("aud-wang", "day-end S01 2026-12-03")

    # A manager anchors a later head, without a note; the list shows the newest first.
    open_order(scratch.system.work_orders, "S01")
    second = _ok(client.post(ANCHORS, headers=auth("manager", "mgr-li")), 201)
    assert second["notification_id"] > first["notification_id"]
    assert (second["anchored_by"], second["note"]) == ("mgr-li", "")
    listed = _ok(client.get(ANCHORS, headers=auditor))
    assert listed["total"] == 2 and [a["anchor_id"] for a in listed["items"]] == [
        second["anchor_id"], first["anchor_id"]]
    assert listed["items"][1] == first
    paged = _ok(client.get(ANCHORS, params={"limit": 1, "offset": 1}, headers=auditor))
    assert (paged["total"], paged["items"]) == (2, [first])
    assert _ok(client.get(VERIFY, headers=auditor))["anchors_checked"] == 2
    # Only the anchors inside the range are compared: none before the first one.
    early = _ok(client.get(VERIFY, params={"to": first["notification_id"] - 1},
                           headers=auditor))
    assert (early["ok"], early["anchors_checked"]) == (True, 0)
    assert _ok(client.get(VERIFY, params={"to": first["notification_id"]},
                          headers=auditor))["anchors_checked"] == 1

    # A careful tamperer changes the first event and recomputes every later link: the links
    # agree with the events again, but not with the heads recorded before.
    target = opened_with_mileage(scratch.owner_url, 28720)
    _tamper(scratch.owner_url,
            f"UPDATE {EVENTS_TABLE} SET state = convert_to(replace(convert_from(state, "
            "'UTF8'), '28720', '8720'), 'UTF8') WHERE notification_id = %s", target)
    with psycopg.connect(scratch.owner_url, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {HASHES_TABLE} DISABLE TRIGGER USER")
        conn.execute(f"DELETE FROM {HASHES_TABLE} WHERE notification_id >= %s", (target,))
        install(conn)  # its back-fill relinks the events it finds without a link
        conn.execute(f"ALTER TABLE {HASHES_TABLE} ENABLE TRIGGER USER")
        # up to the first anchor the relinked chain is consistent
        assert audit_chain.verify(conn, 1, first["notification_id"] - 1).ok
        # and the anchors recorded in the database go too
        conn.execute(f"ALTER TABLE {ANCHORS_TABLE} DISABLE TRIGGER USER")
        conn.execute(f"DELETE FROM {ANCHORS_TABLE}")
        conn.execute(f"ALTER TABLE {ANCHORS_TABLE} ENABLE TRIGGER USER")
        assert audit_chain.verify(conn).ok  # the database alone checks out
    # The server appended both heads to its witness file outside the database.
    answer = _ok(client.get(VERIFY, headers=auditor))
    assert answer["witness_anchors"] == 2
    assert answer["ok"] is False
    assert answer["first_break"]["reason"] == "anchor differs"
    assert answer["first_break"]["notification_id"] == first["notification_id"]
    assert answer["first_break"]["stored"] == first["hash"]


def test_the_range_is_bounded_and_pages_through_the_log(scratch: ServedScratch, auth: Auth,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(3):
        open_order(scratch.system.work_orders, "S01")
    auditor = auth("auditor")
    monkeypatch.setattr(chain_routes, "MAX_RANGE", 4)
    with psycopg.connect(scratch.owner_url) as conn:
        head_row = conn.execute(f"SELECT max(notification_id) FROM {EVENTS_TABLE}").fetchone()
        links = {int(n): bytes(h).hex() for n, h in conn.execute(
            f"SELECT notification_id, hash FROM {HASHES_TABLE}")}
    assert head_row is not None and head_row[0] > 8
    head = int(head_row[0])

    # By default: the last four ids up to the head.
    last = _ok(scratch.client.get(VERIFY, headers=auditor))
    assert (last["range_from"], last["range_to"], last["events_checked"]) == (head - 3, head, 4)
    assert last["next_from"] is None and last["head_hash"] == links[head]

    # From the start, page after page: each page's head is the stored link at its end.
    start, pages, checked = 1, 0, 0
    while start is not None:
        page = _ok(scratch.client.get(VERIFY, params={"from": start}, headers=auditor))
        assert page["ok"] is True and page["range_from"] == start
        assert page["range_to"] == min(start + 3, head)
        assert page["head_hash"] == links[page["to"]]
        checked += page["events_checked"]
        start, pages = page["next_from"], pages + 1
    assert (checked, pages) == (head, -(-head // 4))

    # `to` alone ends a range of four there.
    ending = _ok(scratch.client.get(VERIFY, params={"to": 6}, headers=auditor))
    assert (ending["range_from"], ending["range_to"], ending["next_from"]) == (3, 6, 7)
    # `to` past the head ends the range at the head (`to=9223372036854775807` alone had been
    # the four empty ids before it, ok with no event checked).
    for params in ({"to": head + 1}, {"to": 2**63 - 1}, {"from": head - 1, "to": head + 2}):
        past = _ok(scratch.client.get(VERIFY, params=params, headers=auditor))
        assert (past["range_from"], past["range_to"], past["next_from"]) == (
            params.get("from", head - 3), head, None)
        assert past["ok"] is True and past["events_checked"] == head - past["range_from"] + 1
        assert past["head_hash"] == links[head]

    # More than four ids, or to before from: 422 problem+json telling how to page.
    for params, field in (({"from": 1, "to": 5}, "to"), ({"from": 5, "to": 4}, "to")):
        refused = scratch.client.get(VERIFY, params=params, headers=auditor)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["field"] == field
    too_many = scratch.client.get(VERIFY, params={"from": 1, "to": 5}, headers=auditor).json()
    assert "page through the log with from and to" in too_many["detail"]
    assert too_many["max_range"] == 4


def test_a_range_over_half_a_million_ids_is_422(client: TestClient, auth: Auth) -> None:
    refused = client.get(VERIFY, params={"from": 1, "to": 500_001}, headers=auth("auditor"))
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"].endswith("/invalid-input") and problem["max_range"] == 500_000
    assert "from=1&to=500000, then from=500001" in problem["detail"]
    # The largest range allowed, beyond the head: no event there to verify, 422 naming from.
    past = client.get(VERIFY, params={"from": 2**63 - 500_000, "to": 2**63 - 1},
                      headers=auth("auditor"))
    assert past.status_code == 422 and past.json()["field"] == "from", past.text
    # Ids outside bigint, an unknown parameter, a note too long or an unknown field: 422.
    for params in ({"from": 0}, {"to": 2**63}, {"head": 1}):
        assert client.get(VERIFY, params=params, headers=auth("auditor")).status_code == 422
    for body in ({"note": "x" * 501}, {"note": "day-end", "by": "someone else"}):
        assert client.post(ANCHORS, json=body, headers=auth("auditor")).status_code == 422


def test_a_range_from_past_the_head_is_422_naming_from_and_the_head(
        scratch: ServedScratch, auth: Auth) -> None:
    auditor = auth("auditor")
    # An empty log verifies (nothing to check); a range from id 1 of it does not exist.
    empty = _ok(scratch.client.get(VERIFY, headers=auditor))
    assert (empty["ok"], empty["events_checked"], empty["log_head"]) == (True, 0, 0)
    refused = _ok(scratch.client.get(VERIFY, params={"from": 1}, headers=auditor), 422)
    assert (refused["field"], refused["log_head"]) == ("from", 0)
    open_order(scratch.system.work_orders, "S01")
    with scratch.system.pool.connection() as conn:
        head = chain_head(conn)
    for params in ({"from": head + 1}, {"from": head + 1, "to": head + 5}, {"from": 10**12}):
        response = scratch.client.get(VERIFY, params=params, headers=auditor)
        assert response.headers["content-type"] == "application/problem+json"
        problem = _ok(response, 422)
        assert (problem["field"], problem["log_head"]) == ("from", head)
        assert f"from ({params['from']}) is past the head of the log" in problem["detail"]
        assert f"notification id {head}" in problem["detail"]
    last = _ok(scratch.client.get(VERIFY, params={"from": head}, headers=auditor))
    assert (last["ok"], last["events_checked"], last["range_from"]) == (True, 1, head)


def test_the_session_chain_verifies_as_the_applications_role(client: TestClient,
                                                              auth: Auth,
                                                              container: Container) -> None:
    open_order(container.work_orders, "S01")
    answer = _ok(client.get(VERIFY, headers=auth("auditor")))
    assert answer["ok"] is True and answer["events_checked"] > 0


def test_roles_without_the_right_get_403(client: TestClient, auth: Auth) -> None:
    allowed = {"auditor", "manager"}
    assert PERMISSIONS["audit.chain"] == PERMISSIONS["audit.anchor"] == allowed
    before = _ok(client.get(ANCHORS, headers=auth("auditor")))["total"]
    for role in sorted(set(ROLES) - allowed):
        for method, path in (("get", VERIFY), ("get", ANCHORS), ("post", ANCHORS)):
            refused = client.request(method, path, headers=auth(role))
            assert refused.status_code == 403, (role, method, path, refused.text)
            assert refused.json()["type"].endswith("/forbidden")
    for method, path in (("get", VERIFY), ("get", ANCHORS), ("post", ANCHORS)):
        assert client.request(method, path).status_code == 401
    assert _ok(client.get(ANCHORS, headers=auth("manager")))["total"] == before  # none stored


def test_a_second_verification_waits_for_the_first_then_is_503(
        client: TestClient, auth: Auth, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chain_routes, "WAIT_SECONDS", 0.01)
    with chain_routes._verifying:  # one is running in this process
        busy = client.get(VERIFY, headers=auth("auditor"))
        # a range it would refuse is refused at once, without waiting
        assert client.get(VERIFY, params={"from": 1, "to": 500_001},
                          headers=auth("auditor")).status_code == 422
    assert busy.status_code == 503, busy.text
    assert busy.headers["Retry-After"] and busy.json()["type"].endswith("/unavailable")
    assert _ok(client.get(VERIFY, headers=auth("auditor")))["ok"] is True


def test_anchors_stay_append_only_for_the_applications_role(database_url: str,
                                                           client: TestClient,
                                                           auth: Auth) -> None:
    posted = _ok(client.post(ANCHORS, json={"note": "kept"}, headers=auth("auditor")), 201)
    with psycopg.connect(database_url, autocommit=True) as conn:
        for statement in (f"UPDATE {ANCHORS_TABLE} SET note = 'changed'",
                          f"DELETE FROM {ANCHORS_TABLE}", f"TRUNCATE {ANCHORS_TABLE}"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        row = conn.execute(f"SELECT note, anchored_by FROM {ANCHORS_TABLE} "
                           "WHERE anchor_id = %s", (posted["anchor_id"],)).fetchone()
    assert row == ("kept", "auditor-1")


def test_a_verification_holds_no_lock_a_writer_waits_for(scratch: ServedScratch) -> None:
    """The range is read as the route reads it (one read-only REPEATABLE READ transaction of
    the application's pool); while that transaction is still open, a save goes through."""
    open_order(scratch.system.work_orders, "S01")
    with scratch.system.pool.connection() as conn, one_snapshot(conn):
        assert verify(conn, 1, chain_head(conn)).ok
        settings = conn.execute("SELECT current_setting('transaction_isolation'), "
                                "current_setting('transaction_read_only')").fetchone()
        held = conn.execute("SELECT locktype, mode FROM pg_locks "
                            "WHERE pid = pg_backend_pid() AND granted").fetchall()
        assert settings == ("repeatable read", "on")
        assert {mode for kind, mode in held if kind == "relation"} == {"AccessShareLock"}
        assert not [kind for kind, _ in held if kind in ("advisory", "tuple", "transactionid")]
        # A writer meanwhile: the append lock, the chain trigger and the anchors are free.
        saved = open_order(scratch.system.work_orders, "S01")
        with psycopg.connect(scratch.owner_url) as other, other.transaction():
            other.execute("SET LOCAL lock_timeout = '5s'")
            other.execute(f"LOCK TABLE {EVENTS_TABLE}, {HASHES_TABLE}, {ANCHORS_TABLE} "
                          "IN ROW EXCLUSIVE MODE")
        # The snapshot does not see it: the range stays what it was when the request began.
        assert chain_head(conn) < saved["notification_id"]


def test_a_claims_evidence_is_recomputed_from_the_stored_events_over_the_api(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """An OEM auditor without database access takes a package's evidence, fetches each cited
    event as stored and recomputes its link: the package's events are those the chain holds."""
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    _, wo_id = ready_for_settlement(client, auth, store_id, warranty_labor=True)
    claim = client.get(f"/work-orders/{wo_id}/warranty-claim", headers=auditor).json()
    assert claim["evidence"]
    for cited in claim["evidence"]:
        stored = client.get(f"/audit/chain/events/{cited['notification_id']}",
                            headers=auditor)
        assert stored.status_code == 200, stored.text
        event = stored.json()
        assert (event["stream_id"], event["stream_version"], event["event_type"],
                event["hash"], event["previous_hash"]) == (
            cited["stream_id"], cited["stream_version"], cited["event_type"], cited["hash"],
            cited["previous_hash"])
        recomputed = link(bytes.fromhex(event["previous_hash"]), event["notification_id"],
                          UUID(event["stream_id"]), event["stream_version"], event["topic"],
                          base64.b64decode(event["state"]))
        assert recomputed.hex() == cited["hash"]
    # Another store's auditor, an id beyond the log, and a cashier get nothing of it.
    first = claim["evidence"][0]["notification_id"]
    elsewhere = auth("auditor", "aud-elsewhere", ["ELSEWHERE"])
    assert client.get(f"/audit/chain/events/{first}", headers=elsewhere).status_code == 404
    assert client.get("/audit/chain/events/999999999", headers=auditor).status_code == 404
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    assert client.get(f"/audit/chain/events/{first}", headers=cashier).status_code == 403
