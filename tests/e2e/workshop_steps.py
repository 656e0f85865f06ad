"""The workshop's part of a visit over HTTP, as most scenario tests need it once the estimate is
approved: the job dispatched, clocked on and off and completed by its technician, and passed at
quality check. A test whose sequence differs (an override instead of a dispatch, a part issued
or a read in between, a failed inspection) writes its own steps."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import post


def worked_and_passed_qc(client: TestClient, wo: str, manager: dict[str, str],
                         tech: dict[str, str], technician_id: str, job_no: int = 1
                         ) -> dict[str, Any]:
    """Job `job_no` of the work order at `wo` (its path, `/work-orders/{id}`) dispatched by
    `manager` to `technician_id`, clocked on, off and completed with `tech`'s token, and passed
    at QC by `manager`: QC's answer (`status` `ready_for_settlement` once it was the last job)."""
    job = f"{wo}/jobs/{job_no}"
    post(client, f"{job}/dispatch", manager, {"technician_id": technician_id})
    for step in ("clock-on", "clock-off", "complete"):
        post(client, f"{job}/{step}", tech)
    return post(client, f"{job}/quality-check", manager, {"passed": True})
