"""`audit views`: a read model rebuilt from the event log up to its live position and compared
row by row with the live tables. A row edited, deleted or added in a live table is reported
by its key; an untouched view is ok while its runner keeps applying new events; the live
tables are only read and the scratch ones are gone afterwards."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from projections.base import ReadModel
from servicecore import cli
from servicecore.container import Container
from tests.conftest import JWT_SECRET
from tests.integration.kafka_support import wait_until
from tests.integration.support import head, open_order
from workers import view_verify
from workers.view_verify import VERIFY_SUFFIX, VerificationBusy, verify_view


def _view(container: Container, name: str) -> ReadModel:
    return next(view for view in container.views if view.name == name)


def _caught_up(container: Container) -> None:
    reached = head(container.app)
    with container.pool.connection() as conn:
        def there() -> bool:
            found = conn.execute("SELECT position FROM projection_positions "
                                 "WHERE name = 'work_orders'").fetchone()
            return found is not None and found[0] >= reached
        wait_until(there, 30, "the work-order view to catch up")


@pytest.fixture
def orders(container: Container, store_id: str) -> Iterator[list[str]]:
    """Three work orders of a store of their own, in the live view; their rows put back after."""
    ids = [open_order(container.work_orders, store_id)["id"] for _ in range(3)]
    _caught_up(container)
    with container.pool.connection() as conn:
        kept = conn.execute("SELECT jsonb_agg(w) FROM wo_view w WHERE store_id = %s",
                            (store_id,)).fetchone()
    assert kept is not None
    yield sorted(ids)
    with container.pool.connection() as conn, conn.transaction():
        conn.execute("DELETE FROM wo_view WHERE store_id = %s OR store_id = %s",
                     (store_id, "X" + store_id))
        conn.execute("INSERT INTO wo_view SELECT * FROM "
                     "jsonb_populate_recordset(NULL::wo_view, %s)", (Jsonb(kept[0]),))


def test_an_untouched_view_is_ok_while_its_runner_keeps_applying(
        container: Container, store_id: str) -> None:
    stop = threading.Event()

    def keep_opening() -> None:
        while not stop.is_set():
            open_order(container.work_orders, store_id)

    writer = threading.Thread(target=keep_opening)
    writer.start()
    try:
        wait_until(lambda: _count(container, store_id) >= 2, 30, "orders in the live view")
        check = verify_view(container.app, container.pool, _view(container, "work_orders"),
                            batch_size=50)
    finally:
        stop.set()
        writer.join()
    assert check.ok, check.as_dict()
    assert check.position > 0 and check.rows > 0 and check.events > 0
    assert check.as_dict()["tables"] == {}
    with container.pool.connection() as conn:  # the scratch copy is gone
        assert conn.execute("SELECT to_regclass(%s)", ("wo_view" + VERIFY_SUFFIX,)
                            ).fetchone() == (None,)
        assert conn.execute("SELECT count(*) FROM projection_positions WHERE name = %s",
                            ("work_orders" + VERIFY_SUFFIX,)).fetchone() == (0,)


def test_the_live_rows_are_read_at_the_position_the_rebuild_stops_at(
        container: Container, store_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    open_order(container.work_orders, store_id)
    _caught_up(container)
    compare = view_verify._compare_table
    moved: list[int] = []

    def after_the_view_moved(*args: Any, **kwargs: Any) -> Any:
        if not moved:  # an event applied to the live view once its position was read
            moved.append(open_order(container.work_orders, store_id)["notification_id"])
            _caught_up(container)
        return compare(*args, **kwargs)

    monkeypatch.setattr(view_verify, "_compare_table", after_the_view_moved)
    check = verify_view(container.app, container.pool, _view(container, "work_orders"))
    assert check.ok, check.as_dict()
    assert check.position < moved[0] and _count(container, store_id) == 2


def _count(container: Container, store_id: str) -> int:
    with container.pool.connection() as conn:
        found = conn.execute("SELECT count(*) FROM wo_view WHERE store_id = %s",
                             (store_id,)).fetchone()
    return int(found[0]) if found else 0


def test_a_row_edited_deleted_or_added_in_a_live_table_is_reported_by_its_key(
        container: Container, store_id: str, orders: list[str]) -> None:
    edited, deleted, copied = orders
    added = str(uuid.uuid4())
    with container.pool.connection() as conn, conn.transaction():
        conn.execute("UPDATE wo_view SET doc = jsonb_set(doc, '{mileage}', '1') WHERE id = %s",
                     (edited,))
        conn.execute("DELETE FROM wo_view WHERE id = %s", (deleted,))
        conn.execute(
            "INSERT INTO wo_view SELECT %s, number, 'X' || store_id, status, kind, customer_id,"
            " customer_name, customer_phone, plate, vin, technicians, opened_at, updated_at,"
            " version, notification_id, gen_random_uuid(), doc FROM wo_view WHERE id = %s",
            (added, copied))

    check = verify_view(container.app, container.pool, _view(container, "work_orders"))

    assert not check.ok
    assert check.as_dict()["tables"] == {"wo_view": {
        "differing": 1, "missing": 1, "extra": 1,
        "keys": {"differing": [edited], "missing": [deleted], "extra": [added]},
        "columns": ["doc"]}}
    with container.pool.connection() as conn:  # the live table is left as it was found
        found = conn.execute("SELECT doc->>'mileage' FROM wo_view WHERE id = %s",
                             (edited,)).fetchone()
        assert found == ("1",)
        assert conn.execute("SELECT count(*) FROM wo_view WHERE id = %s",
                            (deleted,)).fetchone() == (0,)


def test_the_command_prints_a_line_per_view_and_exits_1_on_a_difference(
        container: Container, database_url: str, store_id: str, orders: list[str],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SERVICECORE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SERVICECORE_JWT_SECRET", JWT_SECRET)
    capsys.readouterr()
    assert cli.main(["audit", "views", "--view", "work_orders"]) == 0
    out, _ = capsys.readouterr()
    (line,) = out.splitlines()
    assert json.loads(line)["ok"] is True

    with container.pool.connection() as conn:
        conn.execute("UPDATE wo_view SET status = 'delivered' WHERE id = %s", (orders[0],))
    assert cli.main(["audit", "views", "--view", "work_orders", "--keys", "1"]) == 1
    out, err = capsys.readouterr()
    (line,) = out.splitlines()
    found = json.loads(line)
    assert found["ok"] is False
    assert found["tables"]["wo_view"]["keys"] == {"differing": [orders[0]]}
    assert "read models that differ from the event log: work_orders" in err

    assert cli.main(["audit", "views", "--view", "nothing"]) == 2
    assert "no view nothing" in capsys.readouterr().err


def test_a_view_another_process_verifies_is_refused(container: Container) -> None:
    with psycopg.connect(container.database_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtext('verify:stock'))")
        with pytest.raises(VerificationBusy, match="stock is being verified"):
            verify_view(container.app, container.pool, _view(container, "stock"))
