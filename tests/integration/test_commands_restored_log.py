"""An API process that kept running while its database was restored from a backup under it:
its cached aggregates are at versions the restored log no longer holds. A command on such a
stream decided on the cached state and appended after the lost version, leaving the stream
with a hole (versions 1 and 3). The store now refuses an event that does not follow its
stream's last version, and the command, tried again, loads the stream as stored."""

from __future__ import annotations

import uuid
from pathlib import Path
from uuid import UUID

import psycopg

from domain.work_order import WorkOrder
from servicecore.schema import EVENTS_TABLE
from tests.databases import backup, restore
from tests.integration.restore_support import restorable
from tests.integration.support import load, open_order
from tests.integration.test_relay_restored_log import req


def test_a_command_after_a_restore_under_a_running_process_follows_the_stored_stream(
        server_url: str, tmp_path: Path) -> None:
    store = "C" + uuid.uuid4().hex[:5].upper()
    with restorable(server_url, "sc_restore_cmd", tmp_path) as db:
        system = db.start()
        order = UUID(open_order(system.work_orders, store)["id"])
        db.copies.append(backup(db.server_url, db.owner_url))  # the process keeps running
        lost = system.work_orders.add_job(req(store), order, complaint="wipers streak")
        assert lost.body["version"] == 2

        restore(db.server_url, db.owner_url, db.copies[-1])  # under the running process
        again = system.work_orders.add_job(req(store), order, complaint="door rattles")

        with psycopg.connect(db.owner_url) as conn:
            versions = [v for (v,) in conn.execute(
                f"SELECT originator_version FROM {EVENTS_TABLE} WHERE originator_id = %s "
                "ORDER BY originator_version", (order,)).fetchall()]
        assert versions == [1, 2] and again.body["version"] == 2
        jobs = load(system.app, WorkOrder, order).jobs
        assert [job["complaint"] for job in jobs.values()][-1] == "door rattles"
        assert "wipers streak" not in [job["complaint"] for job in jobs.values()]
