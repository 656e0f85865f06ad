"""The audit index: one row per stored event, equal to the log; `servicecore projections
rebuild` reproduces the live index row for row; a runner stopped mid-stream and resumed with
another batch size ends equal too (the work order of a settlement's or a complaint case's
later events is carried across batches)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from projections.audit_index import AuditIndexView
from servicecore import cli
from servicecore.container import Container
from tests.conftest import JWT_SECRET
from tests.e2e.test_audit_trail_api import _stored, full_visit
from tests.e2e.test_money_api import ready_for_settlement
from tests.e2e.test_parts_api import post
from tests.e2e.test_statement_payers import _import
from tests.integration.test_parts_support import wait_for_projection
from tests.scratch_systems import ServedScratch, served_module
from workers.projection_runner import ProjectionRunner

Auth = Callable[..., dict[str, str]]
KEYS = {"audit_index": "notification_id", "audit_index_streams": "stream_id"}
Tables = dict[str, list[str]]

# The index is rebuilt from event 0 and compared with the live one: a served system of the
# module's own (as the application's role, its projections followed, as the session's are).
served, container, client = served_module("sc_audit_index", projections=True)


class Crash(Exception):
    """The worker dies in the middle of a batch."""


def _view(container: Container) -> AuditIndexView:
    return next(v for v in container.views if isinstance(v, AuditIndexView))


def _tables(container: Container, suffix: str = "") -> Tables:
    assert set(KEYS) == set(AuditIndexView.tables)
    with container.pool.connection() as conn:
        return {table: [row[0] for row in conn.execute(
            f"SELECT t::text FROM {table}{suffix} t ORDER BY {key}").fetchall()]
            for table, key in KEYS.items()}


def _history(client: TestClient, auth: Auth, store_id: str) -> dict[str, Any]:
    """A whole visit, a complaint case about it taken a few steps, and a deposit that opens a
    settlement in the same save as the money."""
    visit = full_visit(client, auth, store_id)
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    case = post(client, f"/stores/{store_id}/grievances", advisor, {
        "customer_id": visit["customer_id"], "work_order_id": visit["work_order_id"],
        "kind": "complaint", "channel": "phone", "category": "waiting_time",
        "words": "waited two hours"}, 201)["id"]
    for step, body in (("assignment", {"owner": "csr-li"}), ("first-contact", {"note": "ok"}),
                       ("actions", {"action": "talked to the workshop"})):
        post(client, f"/grievances/{case}/{step}", advisor, body)
    _, deposit_wo = ready_for_settlement(client, auth, store_id)
    post(client, "/payments", auth("cashier", "cash-" + store_id, [store_id]), {
        "work_order_id": deposit_wo, "method": "cash", "amount": "100.00",
        "tendered": "100.00"}, 201)
    return {**visit, "deposit_work_order_id": deposit_wo, "grievance_id": case}


def test_the_index_holds_every_event_and_a_rebuild_by_command_equals_it(
        client: TestClient, auth: Auth, container: Container, served: ServedScratch, store_id: str,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    history = _history(client, auth, store_id)
    # An auditor is shown a bank statement's payer: the read is indexed by the statement.
    statement = _import(client, auth, container, store_id)
    shown = client.get(f"/reconciliation/statements/{statement['id']}",
                       params={"wait_for": statement["notification_id"]},
                       headers=auth("auditor", "aud-li", [store_id]))
    assert shown.status_code == 200, shown.text
    at = wait_for_projection(container, "audit_index")
    live = _tables(container)

    # One row per stored event, saying where it sits in the log.
    stored = [(n, e) for n, e in _stored(container) if n <= at]
    with container.pool.connection() as conn:
        rows = conn.execute("""SELECT notification_id, stream_id, version, event_type
            FROM audit_index ORDER BY notification_id""").fetchall()
        statement_reads = conn.execute("""SELECT event_type, customer_id FROM audit_index
            WHERE statement_id = %s""", (UUID(statement["id"]),)).fetchall()
        money = conn.execute("""SELECT work_order_id FROM audit_index
            WHERE event_type = 'CashierDay.MoneyIn' AND store_id = %s
            ORDER BY notification_id""", (store_id,)).fetchall()
        case = conn.execute("""SELECT work_order_id, customer_id FROM audit_index
            WHERE stream_id = %s ORDER BY version""", (history["grievance_id"],)).fetchall()
    assert rows == [(n, e.originator_id, e.originator_version, type(e).__qualname__)
                    for n, e in stored]
    assert statement_reads == [("DataAccess.PersonalDataRead", None)]
    # The cashier's money names the work order of its settlement, also when the settlement
    # was opened by that very payment.
    assert [row[0] for row in money] == [UUID(history["work_order_id"]),
                                         UUID(history["deposit_work_order_id"])]
    # Every step of the complaint case about the visit names the visit and the customer.
    visit, customer = UUID(history["work_order_id"]), UUID(history["customer_id"])
    assert case == [(visit, customer)] * 4

    # The operator rebuilds the index by command (small batches, so saves straddle them).
    for name, value in (("DATABASE_URL", served.app_url), ("SERVICECORE_JWT_SECRET", JWT_SECRET),
                        ("SERVICECORE_DATA_DIR", str(tmp_path)),
                        ("SERVICECORE_PROJECTION_BATCH_SIZE", "7")):
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert cli.main(["projections", "rebuild", "--name", "audit_index"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and '"projection": "audit_index"' in out[0]
    assert f'"events": {len(stored)}' in out[0]

    rebuilt = _tables(container)
    for table in KEYS:
        assert rebuilt[table] == live[table], table


def test_a_runner_stopped_mid_stream_resumes_to_equal_the_live_index(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    _history(client, auth, store_id)
    app, view, suffix = container.app, _view(container), "_ai1"
    with container.pool.connection() as conn, conn.transaction():
        for statement in view.drop(suffix):
            conn.execute(statement)
        view.create(conn, suffix)
        conn.execute("DELETE FROM projection_positions WHERE name = %s", (view.name + suffix,))
    try:
        # The first worker applies a few batches of 3, then dies inside the next one.
        first = ProjectionRunner(app, container.pool, view, batch_size=3, suffix=suffix)
        assert [first.run_batch() for _ in range(5)] == [3] * 5
        stopped_at = first.position()
        before_crash = _tables(container, suffix)
        with container.pool.connection() as conn, pytest.raises(Crash), conn.transaction():
            assert first.apply_batch(conn) == 3
            raise Crash
        assert first.position() == stopped_at and _tables(container, suffix) == before_crash

        # A fresh worker with another batch size resumes and ends equal to the live index.
        resumed = ProjectionRunner(app, container.pool, view, batch_size=101, suffix=suffix)
        resumed.catch_up()
        wait_for_projection(container, "audit_index")
        restarted, live = _tables(container, suffix), _tables(container)
        for table in KEYS:
            assert restarted[table] == live[table], table
        assert len(live["audit_index_streams"]) > 0
    finally:
        with container.pool.connection() as conn, conn.transaction():
            for statement in view.drop(suffix):
                conn.execute(statement)
            conn.execute("DELETE FROM projection_positions WHERE name = %s",
                         (view.name + suffix,))
