"""One complaint register: a complaint taken on the follow-up call opens a complaint case
(投诉, `/grievances`); the older register's complaints stay readable, and those still open move
into the register once (`servicecore complaints migrate`), after which the old routes refuse
them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from domain.common import stable_id
from servicecore import cli
from servicecore.container import Container
from tests.conftest import JWT_SECRET
from tests.e2e.test_parts_api import Auth, get, head, post
from tests.integration.audit_support import Desk, at, new_vin, older_complaint
from tests.integration.test_parts_support import wait_for_projection

DAY = "2025-06-02"


def _delivered(shop: Desk, client: TestClient, advisor: dict[str, str]) -> tuple[UUID, str]:
    """A visit repaired, settled and delivered; its follow-up call's id."""
    wo = shop.open(new_vin(), ["squeak from the front brakes"], at(DAY, "09:00"))
    shop.check_in(wo, 12_000, at(DAY, "09:05"))
    line = shop.labor(wo, 1, "BRK-PAD", "1.0", at(DAY, "09:10"))
    shop.approve(wo, [line], at(DAY, "09:15"))
    shop.repair(wo, 1, shop.t1, at(DAY, "10:00"), at(DAY, "11:00"))
    shop.settle(wo, at(DAY, "11:30"))
    shop.deliver(wo, 12_010, at(DAY, "12:00"))
    follow_up = get(client, "/follow-ups", advisor, work_order_id=str(wo),
                    wait_for=head(client))["items"][0]["id"]
    return wo, str(follow_up)


def _refused(client: TestClient, url: str, headers: dict[str, str], body: Any,
             status: int) -> dict[str, Any]:
    before = head(client)
    answer = client.post(url, headers=headers, json=body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert head(client) == before  # nothing stored
    return answer.json()  # type: ignore[no-any-return]


def test_a_complaint_on_the_call_opens_a_case_in_the_register(
        client: TestClient, auth: Auth, container: Container) -> None:
    shop = Desk(container)
    advisor = auth("advisor", shop.adv, [shop.store])
    wo, follow_up = _delivered(shop, client, advisor)
    url = f"/follow-ups/{follow_up}/result"
    said = "the car was not washed"
    result = {"csi": 2, "comment": "slow", "complaint": {"description": said}}

    # Both ways at once: 422 naming `complaint`, nothing stored.
    both = _refused(client, url, advisor, {**result, "grievance": {
        "category": "waiting_time", "words": "等了三个小时"}}, 422)
    assert both["field"] == "complaint"

    # The complaint opens the follow-up's one case: channel follow_up, about the visit, the
    # customer's words; category `other`, severity `normal`. No complaint of the old register.
    keyed = {**advisor, "Idempotency-Key": f"result-{follow_up}"}
    done = post(client, url, keyed, result)
    case_id = str(stable_id("grievance", "follow-up", follow_up))
    assert (done["grievance_id"], done["complaint_id"]) == (case_id, None)
    case = get(client, f"/grievances/{case_id}", advisor, wait_for=head(client))
    assert (case["kind"], case["channel"], case["category"], case["severity"],
            case["work_order_id"], case["follow_up_id"], case["words"], case["status"]) == (
        "complaint", "follow_up", "other", "normal", str(wo), follow_up, said, "registered")
    assert get(client, "/complaints", advisor, work_order_id=str(wo))["total"] == 0

    # Retried with the same key: the first answer, nothing stored twice; taken again: 409.
    before = head(client)
    assert post(client, url, keyed, result) == done
    assert head(client) == before
    _refused(client, url, advisor, result, 409)
    assert get(client, "/grievances", advisor, store_id=shop.store,
               wait_for=head(client))["total"] == 1


def _old_complaint(container: Container, wo: UUID, description: str) -> str:
    return str(older_complaint(container.app, wo, description,
                               datetime(2025, 6, 3, 2, 0, tzinfo=UTC)))


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    import json

    capsys.readouterr()
    assert cli.main(list(argv)) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _env(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> None:
    for name, value in (("DATABASE_URL", database_url), ("SERVICECORE_JWT_SECRET", JWT_SECRET),
                        ("SERVICECORE_DATA_DIR", str(tmp_path))):
        monkeypatch.setenv(name, value)


def _table(container: Container, sql: str) -> list[str]:
    with container.pool.connection() as conn:
        return [row[0] for row in conn.execute(sql).fetchall()]


def test_open_old_complaints_move_into_the_register_once(
        client: TestClient, auth: Auth, container: Container, database_url: str,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    shop = Desk(container)
    advisor = auth("advisor", shop.adv, [shop.store])
    # Three visits called back before the change, each leaving a complaint in the older
    # register: one still opened, one assigned, one resolved.
    said = ("the car was not washed", "the radio code was lost", "the seat was dirty")
    visits, old = [], []
    for words in said:
        wo, follow_up = _delivered(shop, client, advisor)
        post(client, f"/follow-ups/{follow_up}/result", advisor, {"csi": 2})
        visits.append(wo)
        old.append(_old_complaint(container, wo, words))
    post(client, f"/complaints/{old[1]}/assignment", advisor, {"assignee": "mgr-1"})
    post(client, f"/complaints/{old[2]}/assignment", advisor, {"assignee": "mgr-1"})
    post(client, f"/complaints/{old[2]}/resolution", advisor, {"resolution": "seat cleaned"})

    # The migration moves the two open ones, leaves the resolved one, and says so.
    _env(monkeypatch, database_url, tmp_path)
    monkeypatch.setenv("SERVICECORE_LOG_FORMAT", "json")
    capsys.readouterr()
    assert cli.main(["complaints", "migrate"]) == 0
    out, err = capsys.readouterr()
    first = json.loads(out.strip().splitlines()[-1])
    # its log line names the run by the correlation id its moves carry
    [logged] = [line for line in map(json.loads, err.splitlines())
                if line["message"].startswith("complaints migrate:")]
    assert (logged["correlation_id"], logged["user"], logged["role"]) == (
        first["correlation_id"], "complaints-migrate", "system")
    mine = {m["complaint_id"]: m["grievance_id"] for m in first["moved"] if m["complaint_id"]
            in old}
    assert sorted(mine) == sorted(old[:2])
    assert first["left"].get("resolved", 0) >= 1
    assert [k for k in first["kept_open"] if k["complaint_id"] in old] == []

    # Each is a complaint case about its visit and customer, the words and the opening kept.
    for n in range(2):
        case = get(client, f"/grievances/{mine[old[n]]}", advisor, wait_for=head(client))
        order: Any = container.app.repository.get(visits[n])
        assert (case["kind"], case["channel"], case["category"], case["severity"],
                case["work_order_id"], case["customer_id"], case["words"], case["status"]) == (
            "complaint", "follow_up", "other", "normal", str(visits[n]),
            str(order.customer_id), said[n], "registered")
        (registered, *_) = get(client, f"/grievances/{mine[old[n]]}/history", advisor)["items"]
        assert registered["changes"]["moved_from"] == {
            "complaint_id": old[n], "opened_at": "2025-06-03T02:00:00Z",
            "opened_by": "adv-old"}
        assert registered["actor"]["correlation_id"] == first["correlation_id"]

    # The older register still lists them, moved (naming the case) or resolved, with their
    # history; the customer 360 too.
    listed = {c["id"]: c for c in get(client, "/complaints", advisor, wait_for=head(client),
                                      limit=1000)["items"]}
    assert [(listed[c]["status"], listed[c]["grievance_id"]) for c in old] == [
        ("moved", mine[old[0]]), ("moved", mine[old[1]]), ("resolved", None)]
    history = get(client, f"/complaints/{old[1]}/history", advisor)["items"]
    assert [e["event"] for e in history][-1] == "Complaint.Moved"
    customer = container.app.repository.get(visits[0]).customer_id  # type: ignore[attr-defined]
    whole = get(client, f"/customers/{customer}", advisor, wait_for=head(client))
    assert {(c["id"], c["status"], c["grievance_id"]) for c in whole["complaints"]} >= {
        (old[0], "moved", mine[old[0]])}

    # A moved complaint takes no further step there: 409 naming `moved`, nothing stored.
    for step, body in (("assignment", {"assignee": "mgr-2"}),
                       ("resolution", {"resolution": "radio code restored"})):
        refused = _refused(client, f"/complaints/{old[1]}/{step}", advisor, body, 409)
        assert refused["complaint_status"] == "moved"
        assert refused["grievance_id"] == mine[old[1]]

    # Run again: nothing moves twice.
    before = head(client)
    again = _cli(capsys, "complaints", "migrate")
    assert [m for m in again["moved"] if m["complaint_id"] in old] == []
    assert head(client) == before

    # The views that show the older complaints rebuild to what the live ones hold.
    wait_for_projection(container, "finance")
    wait_for_projection(container, "customers")
    finance = "SELECT t::text FROM complaints t ORDER BY t::text"
    customers = "SELECT t::text FROM customer_complaints t ORDER BY t::text"
    live = (_table(container, finance), _table(container, customers))
    for view in ("finance", "customers"):
        assert cli.main(["projections", "rebuild", "--name", view]) == 0
    assert (_table(container, finance), _table(container, customers)) == live


def test_erasure_leaves_an_older_complaints_words_as_stored(
        client: TestClient, auth: Auth, container: Container, database_url: str,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    shop = Desk(container)
    advisor = auth("advisor", shop.adv, [shop.store])
    auditor = auth("auditor", "aud-" + shop.store, [shop.store])
    wo, follow_up = _delivered(shop, client, advisor)
    post(client, f"/follow-ups/{follow_up}/result", advisor, {"csi": 2})
    said = "the radio code was lost"
    complaint = _old_complaint(container, wo, said)
    order: Any = container.app.repository.get(wo)
    post(client, f"/customers/{order.customer_id}/erasure", auth("manager", "m", [shop.store]),
         {"reason": "PIPL request"})
    # The description was never sealed: the list, the 360 and the history still show it.
    (listed,) = get(client, "/complaints", advisor, work_order_id=str(wo),
                    wait_for=head(client))["items"]
    assert listed["description"] == said
    whole = get(client, f"/customers/{order.customer_id}", advisor, wait_for=head(client))
    assert [c["description"] for c in whole["complaints"]] == [said]
    (opened, *_) = get(client, f"/complaints/{complaint}/history", auditor)["items"]
    assert opened["changes"]["description"] == said
    timeline = client.get(f"/audit/work-orders/{wo}/timeline", headers=auditor)
    assert timeline.status_code == 200, timeline.text
    assert said in timeline.text
    # The migration registers no case for an erased customer: kept open here, and said so.
    _env(monkeypatch, database_url, tmp_path)
    kept = _cli(capsys, "complaints", "migrate")["kept_open"]
    assert [k["reason"] for k in kept if k["complaint_id"] == complaint] == [
        f"customer {order.customer_id} has been erased: no case is registered for them"]
    (listed,) = get(client, "/complaints", advisor, work_order_id=str(wo),
                    wait_for=head(client))["items"]
    assert (listed["status"], listed["grievance_id"]) == ("opened", None)


def test_the_older_registers_writes_and_the_shorthand_are_deprecated_in_openapi(
        client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    assert [paths[f"/complaints/{{complaint_id}}/{step}"]["post"].get("deprecated")
            for step in ("assignment", "resolution")] == [True, True]
    assert paths["/complaints"]["get"].get("deprecated") is None  # still the way to read them
    result = schema["components"]["schemas"]["FollowUpIn"]["properties"]
    assert (result["complaint"].get("deprecated"), result["grievance"].get("deprecated")) == (
        True, None)


def test_a_moved_case_names_the_older_complaint_in_the_case_and_the_list(
        client: TestClient, auth: Auth, container: Container, database_url: str,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    shop = Desk(container)
    advisor = auth("advisor", shop.adv, [shop.store])
    # One visit's call left a complaint in the older register; the next visit's call opens
    # a case of its own.
    wo, follow_up = _delivered(shop, client, advisor)
    post(client, f"/follow-ups/{follow_up}/result", advisor, {"csi": 2})
    complaint = _old_complaint(container, wo, "the car was not washed")
    _, call = _delivered(shop, client, advisor)
    opened = post(client, f"/follow-ups/{call}/result", advisor, {"csi": 2, "grievance": {
        "category": "waiting_time", "words": "等了三个小时"}})["grievance_id"]
    _env(monkeypatch, database_url, tmp_path)
    (moved,) = [m["grievance_id"] for m in _cli(capsys, "complaints", "migrate")["moved"]
                if m["complaint_id"] == complaint]

    # The moved case names the complaint it carries on, in the case and in the list, as its
    # registration in the history does; the call's own case names none.
    said = {"complaint_id": complaint, "opened_at": "2025-06-03T02:00:00Z",
            "opened_by": "adv-old"}
    (registered, *_) = get(client, f"/grievances/{moved}/history", advisor)["items"]
    assert registered["changes"]["moved_from"] == said
    case = get(client, f"/grievances/{moved}", advisor, wait_for=head(client))
    assert case["moved_from"] == said
    assert get(client, f"/grievances/{opened}", advisor)["moved_from"] is None
    listed = {c["id"]: c["moved_from"] for c in get(
        client, "/grievances", advisor, store_id=shop.store)["items"]}
    assert listed == {moved: said, opened: None}

    # A rebuild of the view holds what the live one does.
    wait_for_projection(container, "grievances")
    cases = "SELECT t::text FROM grievances t ORDER BY t::text"
    live = _table(container, cases)
    assert any(complaint in row for row in live)
    assert cli.main(["projections", "rebuild", "--name", "grievances"]) == 0
    assert _table(container, cases) == live
