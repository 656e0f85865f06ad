"""The part serials view, exactly once: a runner that dies inside a batch leaves its tables and
position as they were, and a fresh runner with another batch size resumes to tables equal to
the live view's (corrections replace a line's rows however the batches fall)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from projections.part_serials import PartSerialsView
from servicecore.container import Container
from tests.e2e.test_parts_api import post
from tests.e2e.test_serial_conflicts_api import KEYS, _kept, three_visits
from tests.integration.test_parts_support import wait_for_projection
from tests.scratch_systems import served_module
from workers.projection_runner import ProjectionRunner

Auth = Callable[..., dict[str, str]]

# The view is rebuilt from event 0 and compared with the live one: a served system of the
# module's own, its projections followed as the session's are.
served, container, client = served_module("sc_serials", projections=True)


class Crash(Exception):
    """The worker dies in the middle of a batch."""


def _tables(container: Container, suffix: str = "") -> dict[str, list[str]]:
    assert set(KEYS) == set(PartSerialsView.tables)
    with container.pool.connection() as conn:
        return {table: [row[0] for row in conn.execute(
            f"SELECT t::text FROM {table}{suffix} t ORDER BY {key}").fetchall()]
            for table, key in KEYS.items()}


def test_a_runner_stopped_mid_batch_resumes_to_equal_the_live_view(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    v = three_visits(client, auth, store_id)
    post(client, f"{v['B']['url']}/lines/{v['B']['line']}/serials",
         auth("technician", "tech-" + store_id, [store_id]), {
             "fitted": ["Y9-" + v["serials"]["F1"]],
             "removed": [_kept("Y9-" + v["serials"]["R1"], "T-B3")],
             "reason": "serials read from the wrong box"})
    view = next(x for x in container.views if isinstance(x, PartSerialsView))
    suffix = "_ps1"
    with container.pool.connection() as conn, conn.transaction():
        for statement in view.drop(suffix):
            conn.execute(statement)
        view.create(conn, suffix)
        conn.execute("DELETE FROM projection_positions WHERE name = %s", (view.name + suffix,))
    try:
        first = ProjectionRunner(container.app, container.pool, view, batch_size=2,
                                 suffix=suffix)
        assert [first.run_batch() for _ in range(3)] == [2] * 3
        stopped_at = first.position()
        before_crash = _tables(container, suffix)
        with container.pool.connection() as conn, pytest.raises(Crash), conn.transaction():
            assert first.apply_batch(conn) == 2
            raise Crash
        assert first.position() == stopped_at and _tables(container, suffix) == before_crash

        resumed = ProjectionRunner(container.app, container.pool, view, batch_size=5,
                                   suffix=suffix)
        resumed.catch_up()
        wait_for_projection(container, "part_serials")
        restarted, live = _tables(container, suffix), _tables(container)
        for table in KEYS:
            assert restarted[table] == live[table], table
        assert any(v["B"]["id"] in row and "Y9-" in row for row in live["part_serials"])
    finally:
        with container.pool.connection() as conn, conn.transaction():
            for statement in view.drop(suffix):
                conn.execute(statement)
            conn.execute("DELETE FROM projection_positions WHERE name = %s",
                         (view.name + suffix,))
