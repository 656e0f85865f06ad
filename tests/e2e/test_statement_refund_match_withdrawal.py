"""A statement line's match to a refund is taken back by a manager, with a reason, as a line's
explanation is: the line and the refund are both unmatched again, in one save, each with an
event of its own (nothing deleted); the refund can then be matched to the right line. Without
a reason, without a manager, or on a line not matched to a refund it is refused and nothing is
stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from servicecore import cli
from tests.conftest import JWT_SECRET
from tests.e2e.test_api_contract import log_head, problem
from tests.e2e.test_parts_api import get
from tests.e2e.test_statement_refund_matches import Auth, _match, _refunded, _statement
from tests.scratch_systems import served_module

served, container, client = served_module("sc_refund_unmatch", projections=True)


def _withdraw(client: TestClient, headers: dict[str, str], statement_id: str, line_no: int,
              body: dict[str, Any]) -> Any:
    return client.post(f"/reconciliation/statements/{statement_id}/lines/{line_no}/"
                       "refund-match/withdrawal", headers=headers, json=body)


def test_a_manager_takes_a_refund_match_back_and_it_is_matched_again(
        client: TestClient, auth: Auth, store_id: str, database_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    finance = auth("finance", "fin-1", [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    visit = _refunded(client, auth, store_id)
    stmt = _statement(client, finance, store_id)
    # Matched to the wrong line (3 instead of 1).
    wrong = _match(client, finance, stmt["id"], {
        "line_no": 3, "settlement_id": visit["settlement_id"],
        "refund_id": visit["refund_id"], "reason": "goodwill refund by transfer"})
    assert wrong.status_code == 200, wrong.text
    # Refused, nothing stored: no reason, not a manager, a line not matched to a refund.
    before = log_head(client)
    assert problem(_withdraw(client, manager, stmt["id"], 3, {"reason": " "}), 422,
                   "invalid-input")["field"] == "reason"
    problem(_withdraw(client, finance, stmt["id"], 3, {"reason": "wrong line"}), 403, "forbidden")
    assert "not matched to a refund" in problem(
        _withdraw(client, manager, stmt["id"], 1, {"reason": "wrong line"}), 409,
        "illegal-transition")["detail"]
    assert log_head(client) == before
    # The manager takes it back: one save, two events (the line's, the refund's).
    taken = _withdraw(client, manager, stmt["id"], 3, {"reason": "matched to the wrong line"})
    assert taken.status_code == 200, taken.text
    assert log_head(client) == before + 2
    seen = taken.json()["notification_id"]
    view = get(client, f"/reconciliation/statements/{stmt['id']}", finance, wait_for=seen)
    assert view["matched"] == []
    assert [ln["line_no"] for ln in view["unmatched_lines"]] == [1, 2, 3]
    settlement = get(client, f"/settlements/{visit['settlement_id']}", finance, wait_for=seen)
    (refund,) = [r for r in settlement["refunds"] if r["refund_id"] == visit["refund_id"]]
    assert (refund["statement_id"], refund["statement_line"]) == (None, None)
    # Both streams keep the match and its withdrawal.
    history = get(client, f"/settlements/{visit['settlement_id']}/history", manager)
    kinds = [e["event"].rsplit(".", 1)[-1] for e in history["items"]]
    assert kinds[-2:] == ["RefundReconciled", "RefundReconciliationWithdrawn"]
    # Taken back twice: nothing left to take back.
    problem(_withdraw(client, manager, stmt["id"], 3, {"reason": "again"}), 409,
            "illegal-transition")
    # The refund is matched to its right line.
    right = _match(client, finance, stmt["id"], {
        "line_no": 1, "settlement_id": visit["settlement_id"],
        "refund_id": visit["refund_id"], "reason": "goodwill refund by transfer"})
    assert right.status_code == 200, right.text
    view = get(client, f"/reconciliation/statements/{stmt['id']}", finance,
               wait_for=right.json()["notification_id"])
    assert [(ln["line_no"], ln["refund_id"]) for ln in view["matched"]] == [
        (1, visit["refund_id"])]
    # The finance view rebuilt from the events equals the live one.
    for name, value in (("DATABASE_URL", database_url), ("SERVICECORE_JWT_SECRET", JWT_SECRET),
                        ("SERVICECORE_DATA_DIR", str(tmp_path))):
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert cli.main(["audit", "views", "--view", "finance"]) == 0
    assert '"ok": true' in capsys.readouterr().out
