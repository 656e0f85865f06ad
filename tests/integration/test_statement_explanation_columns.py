"""A database whose statement lines and refunds an older version made (no explanation or
refund-match columns) gets the columns on the next start, without a rebuild of the finance view (their NULL is right for
every line before: none was explained), and its lines are explained and shown from then on."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import psycopg
import pytest

from domain.application import Request
from domain.common import Caller
from projections import finance_queries
from servicecore.container import Container, build
from tests.conftest import settings_for
from tests.databases import scratch_database
from tests.integration.test_workshop_names import query
from workers.projection_runner import ProjectionRunner

COLUMNS = ("explained_kind", "explained_reason", "duplicate_of", "explained_by", "explained_at",
           "refund_id")
# the refunds as made before they could be matched, and so before their payout was said or
# a bank receipt could be paid back by bank (a later column left in place would sit before the
# re-added ones: a column order no older database has)
REFUND_COLUMNS = ("statement_id", "statement_line", "payout_method", "payout_ref", "bank_refund")


def finance(store_id: str) -> Request:
    return Request(Caller("fin-1", "finance", (store_id,), datetime.now(UTC), str(uuid4())))


def caught_up(system: Container) -> None:
    view = next(v for v in system.views if v.name == "finance")
    ProjectionRunner(system.app, system.pool, view).catch_up()


def test_older_statement_lines_get_the_explanation_columns_on_start(
        server_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with scratch_database(server_url, "sc_explain_cols") as url:
        system = build(settings_for(url, tmp_path))
        try:
            imported = system.settlements.import_statement(
                finance("S01"), store_id="S01", source="bank", account="工行 1001",
                csv_text="date,amount,reference,counterparty\n2026-05-01,-2.00,FEE-1,\n")
            caught_up(system)
        finally:
            system.close()
        with psycopg.connect(url, autocommit=True) as conn:
            for column in COLUMNS:
                conn.execute(f"ALTER TABLE statement_lines DROP COLUMN {column}")
            for column in REFUND_COLUMNS:
                conn.execute(f"ALTER TABLE refunds DROP COLUMN {column}")
            conn.execute("UPDATE read_model_shapes SET definition = '' WHERE name = 'finance'")
        with caplog.at_level(logging.WARNING, logger="servicecore.container"):
            system = build(settings_for(url, tmp_path))
        try:
            assert not [r for r in caplog.records if "rebuilding" in r.getMessage()
                        and "projection finance" in r.getMessage()]
            found = {r["column_name"] for r in query(
                url, "SELECT column_name FROM information_schema.columns "
                     "WHERE table_name = 'statement_lines'")}
            assert set(COLUMNS) <= found
            assert set(REFUND_COLUMNS) <= {r["column_name"] for r in query(
                url, "SELECT column_name FROM information_schema.columns "
                     "WHERE table_name = 'refunds'")}
            statement_id = UUID(str(imported.body["id"]))
            system.settlements.explain_line(finance("S01"), statement_id, 1, kind="bank_fee",
                                            reason="transfer fee")
            caught_up(system)
            with system.pool.connection() as conn:
                doc = finance_queries.statement(conn, ["S01"], statement_id)
            assert doc is not None and doc["unmatched_lines"] == []
            assert [(ln["line_no"], ln["explained_kind"], ln["explained_by"])
                    for ln in doc["explained"]] == [(1, "bank_fee", "fin-1")]
        finally:
            system.close()
