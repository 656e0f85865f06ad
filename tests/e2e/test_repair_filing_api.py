"""A settled visit's repair record filed with the national system, over HTTP on PostgreSQL:
each upload's outcome recorded (filed with the receipt number, failed with the error, tried
again), a filed record not filed twice (a correction is a re-filing with a reason), and the
auditor's list of settled visits never filed — oldest first, paged, scoped to the caller's
stores; the view rebuilt from the events equals the live one. Refusals store nothing."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from servicecore import cli
from servicecore.container import Container
from tests.conftest import JWT_SECRET
from tests.e2e.test_money_api import ready_for_settlement
from tests.e2e.test_parts_api import Auth, get, head, post
from tests.integration.audit_support import new_vin
from tests.integration.test_parts_support import wait_for_projection
from tests.scratch_systems import served_module

served, container, client = served_module("sc_repair_filing", projections=True)


def settled_visit(client: TestClient, auth: Auth, store_id: str) -> str:
    """A visit settled (confirmed, the customer's bill paid in full): its work-order id."""
    return settled(client, auth, store_id)[0]


def settled(client: TestClient, auth: Auth, store_id: str) -> tuple[str, str]:
    """A visit settled: its work-order and settlement ids."""
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    _, wo_id = ready_for_settlement(client, auth, store_id, vin=new_vin())
    sid = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)["id"]
    confirmed = post(client, f"/settlements/{sid}/confirmation", cashier)
    paid = post(client, "/payments", cashier, {
        "work_order_id": wo_id, "method": "cash",
        "amount": confirmed["bills"]["customer"]["outstanding"]}, 201)
    assert paid["status"] == "settled", paid
    return wo_id, sid


def refused(client: TestClient, url: str, headers: dict[str, str], body: Any,
            status: int) -> dict[str, Any]:
    before = head(client)
    answer = client.post(url, headers=headers, json=body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert head(client) == before  # nothing stored
    return answer.json()  # type: ignore[no-any-return]


def unfiled(client: TestClient, headers: dict[str, str], status: int = 200,
            **query: Any) -> dict[str, Any]:
    answer = client.get("/audit/repair-records/unfiled", headers=headers,
                        params={"wait_for": head(client), **query})
    assert answer.status_code == status, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_a_record_is_filed_once_and_corrected_only_by_a_refiling_with_a_reason(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    # Before settlement there is no record to file.
    _, open_wo = ready_for_settlement(client, auth, store_id, vin=new_vin())
    early = refused(client, f"/work-orders/{open_wo}/repair-record/filing", advisor,
                    {"outcome": "filed", "receipt_no": "R-0"}, 409)
    assert early["settlement_status"] == "not drafted"
    wo_id = settled_visit(client, auth, store_id)
    url = f"/work-orders/{wo_id}/repair-record/filing"
    # Bad input: 422 naming the field, nothing stored.
    for body, field in (({"outcome": "filed"}, "receipt_no"),
                        ({"outcome": "filed", "receipt_no": "  "}, "receipt_no"),
                        ({"outcome": "failed"}, "error"),
                        ({"outcome": "failed", "error": "timeout", "receipt_no": "R-1"},
                         "receipt_no"),
                        ({"outcome": "filed", "receipt_no": "R-1", "reason": "because"},
                         "reason"),
                        ({"outcome": "sent", "receipt_no": "R-1"}, "outcome")):
        problem = refused(client, url, advisor, body, 422)
        assert field in str(problem), (body, problem)
    # Refiled before it is filed: 409.
    assert refused(client, url, advisor, {"outcome": "refiled", "receipt_no": "R-1",
                                          "reason": "corrected mileage"},
                   409)["filing_status"] == "unfiled"
    # Filed, with the system's receipt number; the same request again replays its answer.
    key = {**advisor, "Idempotency-Key": "file-" + wo_id}
    filed = client.post(url, headers=key, json={"outcome": "filed", "receipt_no": "JT-0001"})
    assert filed.status_code == 200, filed.text
    assert (filed.json()["filing_status"], filed.json()["receipt_no"],
            filed.json()["attempts"]) == ("filed", "JT-0001", 1)
    replayed = client.post(url, headers=key, json={"outcome": "filed", "receipt_no": "JT-0001"})
    assert replayed.status_code == 200 and replayed.headers["Idempotent-Replayed"] == "true"
    # Filed again (another request), or reported failed now: 409 naming the status.
    again = refused(client, url, advisor, {"outcome": "filed", "receipt_no": "JT-0002"}, 409)
    assert (again["filing_status"], again["receipt_no"]) == ("filed", "JT-0001")
    assert "refiled" in again["detail"]
    assert refused(client, url, advisor, {"outcome": "failed", "error": "HTTP 500"},
                   409)["filing_status"] == "filed"
    # A correction is an explicit re-filing: the new receipt number and why (3+ characters).
    assert refused(client, url, advisor, {"outcome": "refiled", "receipt_no": "JT-0002",
                                          "reason": "x"}, 422)["field"] == "reason"
    refiled = post(client, url, advisor, {"outcome": "refiled", "receipt_no": "JT-0002",
                                          "reason": "mileage in corrected"})
    assert (refiled["filing_status"], refiled["receipt_no"], refiled["attempts"]) == (
        "filed", "JT-0002", 2)
    # Who and when: each outcome is on the visit's timeline and in the audit log.
    timeline = get(client, f"/audit/work-orders/{wo_id}/timeline", auditor,
                   wait_for=head(client), limit=500)
    steps = [(e["event"], e["actor"]["user_id"]) for e in timeline["items"]
             if e["event"].startswith("RepairFiling.")]
    assert steps == [("RepairFiling.Started", advisor_user(store_id)),
                     ("RepairFiling.Filed", advisor_user(store_id)),
                     ("RepairFiling.Refiled", advisor_user(store_id))]


def advisor_user(store_id: str) -> str:
    return "adv-" + store_id


def test_the_unfiled_list_shows_settled_visits_never_filed_or_failed_oldest_first(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    never, failing, filed = (settled_visit(client, auth, store_id) for _ in range(3))
    # Still in the workshop: not settled, not listed.
    ready_for_settlement(client, auth, store_id, vin=new_vin())
    post(client, f"/work-orders/{filed}/repair-record/filing", advisor,
         {"outcome": "filed", "receipt_no": "JT-1000"})
    failed = post(client, f"/work-orders/{failing}/repair-record/filing", manager,
                  {"outcome": "failed", "error": "E42 plate format rejected"})
    assert (failed["filing_status"], failed["error"]) == ("failed", "E42 plate format rejected")
    listed = unfiled(client, auditor, store_id=store_id)
    assert listed["total"] == 2
    assert [r["work_order_id"] for r in listed["items"]] == [never, failing]
    first, second = listed["items"]
    assert (first["filing_status"], first["attempts"], first["last_error"]) == (
        "unfiled", 0, None)
    assert (second["filing_status"], second["attempts"], second["last_error"],
            second["last_attempt_by"]) == ("failed", 1, "E42 plate format rejected",
                                           "mgr-" + store_id)
    assert first["settlement_number"].startswith(f"SET-{store_id}-")
    # the settlement's day is the store's (Shanghai): from 16:00 UTC on it is the next UTC day
    settled = datetime.fromisoformat(first["settled_at"])
    assert first["days_since"] == 0 and first["settlement_date"] == settled.astimezone(
        ZoneInfo("Asia/Shanghai")).date().isoformat()
    # Paged like every list.
    page = unfiled(client, manager, store_id=store_id, limit=1, offset=1)
    assert (page["total"], page["limit"], page["offset"]) == (2, 1, 1)
    assert [r["work_order_id"] for r in page["items"]] == [failing]
    # Settled today: none is a day old yet.
    assert unfiled(client, auditor, store_id=store_id, older_than_days=1)["total"] == 0
    # Tried again, now filed: it leaves the list.
    post(client, f"/work-orders/{failing}/repair-record/filing", advisor,
         {"outcome": "filed", "receipt_no": "JT-1001"})
    assert [r["work_order_id"] for r in unfiled(client, auditor, store_id=store_id)[
        "items"]] == [never]
    # Another store's token sees none of it; naming the store is 403.
    other = auth("auditor", "aud-other", ["ZZ" + store_id])
    assert unfiled(client, other)["total"] == 0
    unfiled(client, other, 403, store_id=store_id)
    assert "older_than_days" in str(unfiled(client, auditor, 422, older_than_days=-1))


def test_roles_outside_the_table_are_refused(client: TestClient, auth: Auth,
                                             store_id: str) -> None:
    wo_id = settled_visit(client, auth, store_id)
    body = {"outcome": "filed", "receipt_no": "JT-9"}
    for role in ("cashier", "auditor", "technician", "qc_inspector"):
        refused(client, f"/work-orders/{wo_id}/repair-record/filing",
                auth(role, role + store_id, [store_id]), body, 403)
    for role in ("advisor", "cashier", "technician", "analyst"):
        unfiled(client, auth(role, role + store_id, [store_id]), 403, store_id=store_id)


def test_a_rebuild_of_the_filings_view_equals_the_live_one(
        client: TestClient, auth: Auth, container: Container, database_url: str,
        store_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    one, two = settled_visit(client, auth, store_id), settled_visit(client, auth, store_id)
    post(client, f"/work-orders/{one}/repair-record/filing", advisor,
         {"outcome": "failed", "error": "timeout"})
    post(client, f"/work-orders/{one}/repair-record/filing", advisor,
         {"outcome": "filed", "receipt_no": "JT-2000"})
    post(client, f"/work-orders/{two}/repair-record/filing", advisor,
         {"outcome": "failed", "error": "timeout"})
    wait_for_projection(container, "repair_filings")

    def table() -> list[str]:
        with container.pool.connection() as conn:
            return [row[0] for row in conn.execute(
                "SELECT t::text FROM repair_filings t ORDER BY work_order_id").fetchall()]

    live = table()
    assert len(live) >= 2
    for name, value in (("DATABASE_URL", database_url), ("SERVICECORE_JWT_SECRET", JWT_SECRET),
                        ("SERVICECORE_DATA_DIR", str(tmp_path)),
                        ("SERVICECORE_PROJECTION_BATCH_SIZE", "3")):
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert cli.main(["projections", "rebuild", "--name", "repair_filings"]) == 0
    assert '"projection": "repair_filings"' in capsys.readouterr().out
    assert table() == live
    assert cli.main(["audit", "views", "--view", "repair_filings"]) == 0
    assert '"ok": true' in capsys.readouterr().out


def test_a_visit_settled_again_after_its_record_was_filed_is_listed_until_refiled(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    wo_id, sid = settled(client, auth, store_id)
    url = f"/work-orders/{wo_id}/repair-record/filing"
    post(client, url, advisor, {"outcome": "filed", "receipt_no": "JT-2000"})
    assert unfiled(client, auditor, store_id=store_id)["total"] == 0
    reversed_ = post(client, f"/settlements/{sid}/reversal", manager,
                     {"reason": "labor line was wrong"})
    before = reversed_["reversed"]
    assert unfiled(client, auditor, store_id=store_id)["total"] == 0  # not settled now
    post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)
    again = post(client, f"/settlements/{sid}/confirmation", cashier)
    assert again["settled"] is True  # the cash payment still covers the bill
    number = again["number"]
    assert number != before
    listed = unfiled(client, auditor, store_id=store_id)
    assert [(r["work_order_id"], r["filing_status"], r["receipt_no"],
             r["filed_settlement_number"], r["settlement_number"]) for r in listed["items"]] == [
        (wo_id, "stale", "JT-2000", before, number)]
    post(client, url, advisor, {"outcome": "refiled", "receipt_no": "JT-2001",
                                "reason": "settled again after a reversal"})
    assert unfiled(client, auditor, store_id=store_id)["total"] == 0

