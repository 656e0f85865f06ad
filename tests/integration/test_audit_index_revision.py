"""The audit index written by its revision 1 did not name the statement a read of its payers
was of: the next start rebuilds it once (revision 2), and the reads recorded before are then
found by their statement."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest

from domain.common import Audit
from domain.data_access import DataAccess
from projections.audit_index import AuditIndexView, personal_data_reads
from servicecore.container import build
from tests.conftest import settings_for
from tests.databases import scratch_database
from tests.integration.test_view_revisions import query, rebuilds
from workers.projection_runner import ProjectionRunner


def test_a_statement_read_indexed_before_is_found_by_its_statement_after_the_rebuild(
        server_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    statement_id = uuid4()
    with scratch_database(server_url, "sc_audit_rev") as url:
        # Before: an auditor's read of a statement's payers, indexed by revision 1 (no column
        # naming the statement).
        system = build(settings_for(url, tmp_path))
        try:
            audit = Audit(user_id="aud-li", role="auditor", store_id="S01",
                          at=datetime.now(UTC), correlation_id="req-1")
            read = DataAccess(audit=audit, customer_id=None, statement_id=statement_id,
                              statement_lines=[1], endpoint=f"GET /reconciliation/statements/"
                              f"{statement_id}", purpose="bank statement")
            system.app.save(read)
            view = next(v for v in system.views if isinstance(v, AuditIndexView))
            ProjectionRunner(system.app, system.pool, view).catch_up()
        finally:
            system.close()
        query(url, "ALTER TABLE audit_index DROP COLUMN statement_id")
        query(url, "UPDATE read_model_shapes SET revision = 1 WHERE name = 'audit_index'")

        # The next start rebuilds the index once, for its revision; the start after that
        # leaves it.
        said = []
        for _ in range(2):
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="servicecore.container"):
                build(settings_for(url, tmp_path)).close()
            said.append([m for m in rebuilds(caplog) if "projection audit_index" in m])
        assert [len(found) for found in said] == [1, 0], said
        assert f"this version's is {AuditIndexView.revision}" in said[0][0], said

        # The read is found by its statement, in the auditor's store only.
        with psycopg.connect(url) as conn:
            total, ids = personal_data_reads(conn, None, ["S01"], statement_id=statement_id,
                                             limit=10, offset=0)
            assert total == 1 and len(ids) == 1
            assert personal_data_reads(conn, None, ["S02"], statement_id=statement_id,
                                       limit=10, offset=0) == (0, [])
