"""An API process that kept running while its database was restored from a backup: its
listener of the projections' positions knew positions the restored table no longer has, and
answered a read-your-writes wait for a new command (given a notification id a lost event had)
at once, before the view applied it. It now takes the table's positions as they are on every
new connection, so such a wait waits for the view again."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg

from api.positions import ProjectionPositions
from tests.integration.kafka_support import wait_until
from tests.integration.restore_support import restorable
from tests.integration.support import open_order

VIEW = "work_orders"


def test_a_wait_after_a_restore_waits_for_the_view_again(server_url: str,
                                                         tmp_path: Path) -> None:
    store = "P" + uuid.uuid4().hex[:5].upper()
    with restorable(server_url, "sc_restore_pos", tmp_path) as db:
        open_order(db.start().work_orders, store)
        db.take_backup()
        positions = ProjectionPositions(db.app_url)
        try:
            system = db.start()
            system.start_projections()
            last = [open_order(system.work_orders, store)["notification_id"]
                    for _ in range(3)][-1]
            with psycopg.connect(db.app_url, autocommit=True) as conn:
                assert positions.wait(conn, VIEW, last, 30)
            high = positions.known(VIEW)

            db.restore()
            system = db.start()  # its views not followed yet
            new = open_order(system.work_orders, store)["notification_id"]
            assert new <= high
            wait_until(lambda: positions.known(VIEW) < new, 30,
                       "the listener to take the restored positions")
            with psycopg.connect(db.app_url, autocommit=True) as conn:
                assert not positions.wait(conn, VIEW, new, 1.0)
                system.start_projections()
                assert positions.wait(conn, VIEW, new, 30)
        finally:
            positions.close()
