"""`GET /reconciliation/statements/{id}?as_of=`: a bank statement as it stood at a moment — its
lines, and which of them were matched, explained or open then — replayed from the statement's
own events, as every item's `as_of` is. The store's unmatched payments and refunds beside it
are not replayed (null): the books' side is every payment of the statement's dates."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import get, post
from tests.e2e.test_statement_explanations import _statement

Auth = Callable[..., dict[str, str]]


def _moment() -> str:
    """Now, and a moment later: what is stored after it is stored after this moment."""
    moment = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    return moment


def _lines(doc: dict[str, Any]) -> dict[str, list[int]]:
    return {part: [ln["line_no"] for ln in doc[part]]
            for part in ("matched", "explained", "unmatched_lines")}


def test_a_statement_as_it_stood_at_a_moment(client: TestClient, auth: Auth,
                                             store_id: str) -> None:
    finance = auth("finance", "fin-1", [store_id])
    manager = auth("manager", "mgr-1", [store_id])
    before = _moment()
    stmt = _statement(client, finance, store_id)
    imported = _moment()
    lines = f"/reconciliation/statements/{stmt['id']}/lines"
    post(client, f"{lines}/2/explanation", finance, {"kind": "bank_fee",
                                                     "reason": "transfer fee, May"})
    explained = _moment()
    withdrawn = post(client, f"{lines}/2/explanation/withdrawal", manager,
                     {"reason": "it is a customer's refund"})
    path = f"/reconciliation/statements/{stmt['id']}"
    now = get(client, path, finance, wait_for=withdrawn["notification_id"])

    def then(moment: str, headers: dict[str, str] = finance) -> dict[str, Any]:
        return get(client, path, headers, as_of=moment,  # type: ignore[no-any-return]
                   wait_for=withdrawn["notification_id"])

    # Just imported: every line open.
    first = then(imported)
    assert _lines(first) == {"matched": [], "explained": [], "unmatched_lines": [1, 2, 3, 4]}
    assert first["as_of"] == imported.replace("+00:00", "Z")
    assert (first["id"], first["store_id"], first["source"], first["account"],
            first["imported_by"]) == (stmt["id"], store_id, "bank", "工行 1001", "fin-1")
    # The fee explained then, though the explanation was withdrawn since.
    fee = then(explained)
    assert _lines(fee) == {"matched": [], "explained": [2], "unmatched_lines": [1, 3, 4]}
    [line] = fee["explained"]
    assert (line["explained_kind"], line["explained_reason"], line["explained_by"],
            line["amount"], line["date"]) == (
        "bank_fee", "transfer fee, May", "fin-1", "-2.00", "2026-05-01")
    assert _lines(now) == _lines(first)
    # Replayed to now, the lines are the view's, field for field.
    latest = then(datetime.now(UTC).isoformat())
    assert [latest[part] for part in ("matched", "explained", "unmatched_lines")] == [
        now[part] for part in ("matched", "explained", "unmatched_lines")]
    # The books' side is not replayed; the payer is shown as on the statement's page.
    assert (latest["unmatched_payments"], latest["unmatched_refunds"]) == (None, None)
    assert latest["unmatched_lines"][0]["counterparty"] == "赵敏"
    # Before its import, and in another store's eyes: no statement.
    for moment, headers in ((before, finance), (explained, auth("finance", "fin-2",
                                                                 ["X" + store_id]))):
        missing = client.get(path, params={"as_of": moment}, headers=headers)
        assert missing.status_code == 404, missing.text
        assert missing.headers["content-type"] == "application/problem+json"
