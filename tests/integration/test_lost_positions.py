"""A view's position row deleted by hand: the view stops and says so, nothing applied twice.

Found in a probe: after `DELETE FROM projection_positions WHERE name = 'workshop'` (a "reset"
meant to replay the view) the next batch made the row again at 0 and applied every event once
more on top of the rows there: each technician's clocked seconds and sold hours doubled, the
view reached the head, and `/health` stayed 200. Now the batch that finds the view's position
missing while its tables hold rows is refused (workers/lost_positions.py): `/health` names the
view and why, its rows stay as they were, and a rebuild (`servicecore projections rebuild`)
brings it back to the head with the rows a build from event 0 gives.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from servicecore.demo import load_demo
from tests.integration.kafka_support import wait_until
from tests.integration.support import head, open_order
from tests.scratch_systems import ServedScratch, served_scratch
from workers.projection_rebuild import rebuild


@pytest.fixture
def served(server_url: str, tmp_path: Path) -> Iterator[ServedScratch]:
    with served_scratch(server_url, "lost_position", tmp_path, projections=True) as made:
        yield made


def position(served: ServedScratch, name: str) -> int:
    with psycopg.connect(served.app_url) as conn:
        row = conn.execute("SELECT position FROM projection_positions WHERE name = %s",
                           (name,)).fetchone()
    return int(row[0]) if row else 0


def tech_days(served: ServedScratch) -> list[tuple[Any, ...]]:
    with psycopg.connect(served.app_url) as conn:
        return conn.execute("SELECT user_id, day, clocked_seconds, sold_hours "
                            "FROM tech_days ORDER BY 1, 2").fetchall()


def reasons(served: ServedScratch) -> list[str]:
    answer = served.client.get("/health")
    return list(answer.json()["reasons"]) if answer.status_code == 503 else []


def test_a_view_whose_position_row_was_deleted_stops_and_says_so(
        served: ServedScratch) -> None:
    system = served.system
    load_demo(system.work_orders, system.inventory, visits=8, settlements=system.settlements,
              aftercare=system.aftercare)
    wait_until(lambda: position(served, "workshop") == head(system.app), 60,
               "the workshop view to reach the head")
    before = tech_days(served)
    assert before and any(row[2] for row in before), before  # technicians clocked time

    # Someone "resets" the view by hand; the log moves on.
    with psycopg.connect(served.owner_url, autocommit=True) as conn:
        conn.execute("DELETE FROM projection_positions WHERE name = 'workshop'")
    open_order(system.work_orders, "ST" + uuid.uuid4().hex[:6].upper())

    # /health names the view and why; nothing is applied twice meanwhile.
    def named() -> list[str]:
        return [r for r in reasons(served) if "projection workshop has no stored position "
                "while its table" in r]

    wait_until(lambda: bool(named()), 60, "/health to name the view whose position is gone")
    assert "servicecore projections rebuild --name workshop" in named()[0]
    assert tech_days(served) == before

    # Rebuilt, it reaches the head again with the rows a build from event 0 gives.
    view = next(v for v in system.views if v.name == "workshop")
    rebuild(system.app, system.pool, view)
    wait_until(lambda: position(served, "workshop") == head(system.app), 60,
               "the rebuilt view to reach the head")
    wait_until(lambda: not [r for r in reasons(served) if "workshop" in r], 60,
               "/health to stop naming the view")
    assert tech_days(served) == before
