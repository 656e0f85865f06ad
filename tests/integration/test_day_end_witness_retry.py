"""A day-end close whose anchor was recorded in the database but never reached the witness file
(the file could not be written then, or the process ended between the anchor's commit and the
file's write), sent again with its Idempotency-Key: the retry writes that anchor to the file.

Before, the retry found the anchor recorded and answered it, taking it for written: the file
kept missing it for good, though the route promises each close's anchor outside the database.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

from fastapi.testclient import TestClient

from api.main import create_app
from projections import chain_witness
from servicecore.container import Container

Auth = Callable[..., dict[str, str]]


def test_a_day_end_retried_writes_its_anchor_the_first_attempt_could_not_witness(
        container: Container, store_id: str, auth: Auth, tmp_path: Path) -> None:
    path = tmp_path / "witness" / "chain-anchors.jsonl"
    path.mkdir(parents=True)  # a directory where the file goes: the first write fails
    context = dataclasses.replace(container.api_context(), witness_path=path)
    cashier_id = f"cash-{uuid4().hex[:8]}"
    headers = auth("cashier", cashier_id, [store_id],
                   **{"Idempotency-Key": f"close-{cashier_id}"})
    body = {"store_id": store_id, "counted_cash": "0.00"}
    with TestClient(create_app(context)) as api:
        first = api.post("/day-end", json=body, headers=headers)
        assert first.status_code in (200, 201), first.text
        path.rmdir()  # the file can be written again
        again = api.post("/day-end", json=body, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["anchor"] == first.json()["anchor"]
    assert [f"{a.notification_id}:{a.hash}" for a in chain_witness.read(path)] == [first.json()["anchor"]]
