"""The dispatch board reads the visits in the workshop, not the store's years of finished
ones: a job declined after its diagnosis never passes QC and stays as it was when the visit
is delivered; the board read every such job ever and kept it in its technician's queue
(one more queued job each, so auto-dispatch passed them over)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from projections.workshop_queries import board
from servicecore.container import Container


def test_a_declined_job_leaves_the_board_with_its_visit(container: Container,
                                                        store_id: str) -> None:
    """Rows written straight into the read model in one transaction, rolled back after."""
    technician = f"tech-{store_id}"
    now = datetime.now(UTC)
    with container.pool.connection() as conn, conn.transaction(force_rollback=True):
        conn.execute("""INSERT INTO technicians (user_id, id, store_id, on_roster, skills,
            shifts, attendance, updated_at) VALUES (%s, %s, %s, true, '{"engine": 3}', '{}',
            '{}', now())""", (technician, uuid.uuid4(), store_id))
        statuses = ["in_progress", "ready_for_settlement", "checked_in"] + [
            "settled", "delivered", "closed", "cancelled"] * 50
        for n, wo_status in enumerate(statuses):
            conn.execute("""INSERT INTO ws_jobs (work_order_id, job_no, store_id, number,
                wo_status, complaint, status, technician_id, hours, dispatched_at)
                VALUES (%s, 1, %s, %s, %s, 'noise', 'dispatched', %s, 1.5, %s)""",
                         (uuid.uuid4(), store_id, f"WO-{n:04d}", wo_status, technician, now))
        found = board(conn, [store_id], store_id=store_id, now=now)
    [tech] = found["technicians"]
    assert [job["number"] for job in tech["queue"]] == ["WO-0000", "WO-0001", "WO-0002"]
    assert tech["open_load_hours"] == "4.50"
