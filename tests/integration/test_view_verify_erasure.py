"""`audit views` and a customer's erasure. The erasure stores `Customer.Erased`, then deletes the
customer's key; the live views scrub the customer's name and phones when they apply the event.
Until they have, a live row still shows what was opened while the key existed, and a rebuild
up to that position, the key gone, reads the same fields as `[erased]`: those fields of that
customer cannot be checked (they will be scrubbed), every other column and row still is.
The views are driven by hand here (no runners follow the log), on a database of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from domain.pii import ERASED
from projections.base import ReadModel
from servicecore.container import Container, build
from tests.conftest import settings_for
from tests.databases import scratch_database
from tests.integration.audit_support import Desk, at, new_vin
from tests.integration.support import open_order, request
from workers.projection_runner import ProjectionRunner
from workers.view_verify import verify_view

ERASING = {"name": "李娜", "phone": "13800138000"}  # the customer of a Desk's visits
KEPT = {"name": "王磊", "phone": "13800001111"}
VIEWS = ("customers", "work_orders")


@pytest.fixture
def system(server_url: str, tmp_path: Path) -> Iterator[Container]:
    with scratch_database(server_url, "sc_erasure") as url:
        built = build(settings_for(url, tmp_path))
        try:
            yield built
        finally:
            built.close()


def _view(system: Container, name: str) -> ReadModel:
    return next(view for view in system.views if view.name == name)


def _catch_up(system: Container) -> None:
    for name in VIEWS:
        runner = ProjectionRunner(system.app, system.pool, _view(system, name))
        while runner.run_batch():
            pass


def _checks(system: Container) -> dict[str, dict[str, Any]]:
    return {name: verify_view(system.app, system.pool, _view(system, name)).as_dict()
            for name in VIEWS}


def _live(system: Container, sql: str, *params: Any) -> Any:
    with system.pool.connection() as conn:
        found = conn.execute(sql, params).fetchone()
    return found[0] if found else None


def _visits(system: Container) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two visits of two customers, in the live views, hers delivered (signed with her name);
    she is then erased (the key deleted) before the views apply the erasure."""
    shop, day = Desk(system), "2025-06-02"
    wo = shop.open(new_vin(), ["squeak from the front brakes"], at(day, "09:00"))
    shop.check_in(wo, 12_000, at(day, "09:05"))
    shop.approve(wo, [shop.labor(wo, 1, "BRK-PAD", "1.0", at(day, "09:10"))], at(day, "09:15"))
    shop.repair(wo, 1, shop.t1, at(day, "10:00"), at(day, "11:00"))
    shop.settle(wo, at(day, "11:30"))
    shop.deliver(wo, 12_010, at(day, "12:00"))
    erasing = {"id": str(wo), "customer_id": str(system.app.repository.get(wo).customer_id)}
    kept = open_order(system.work_orders, shop.store, customer=KEPT)
    _catch_up(system)
    assert _live(system, "SELECT doc #>> '{delivery,acknowledgement,acknowledged_by}' "
                 "FROM wo_view WHERE id = %s", wo) == ERASING["name"]
    system.customers.erase(request(shop.store, role="manager"), UUID(erasing["customer_id"]),
                           reason="customer asked to be forgotten (PIPL)")
    assert _live(system, "SELECT count(*) FROM customer_keys WHERE customer_id = %s",
                 UUID(erasing["customer_id"])) == 0
    return erasing, kept


def test_a_view_that_has_not_yet_applied_an_erasure_is_ok_and_so_it_is_after(
        system: Container) -> None:
    erasing, _ = _visits(system)
    # the live views still show her name: they have not applied the erasure
    assert _live(system, "SELECT name FROM customers WHERE id = %s",
                 UUID(erasing["customer_id"])) == ERASING["name"]
    assert _live(system, "SELECT customer_phone FROM wo_view WHERE id = %s",
                 UUID(erasing["id"])) == ERASING["phone"]

    for name, check in _checks(system).items():
        assert check["ok"], (name, check)
        assert check["erasures_pending"] == 1, (name, check)

    _catch_up(system)  # the erasure applied: her fields scrubbed, nothing left to pass over
    assert _live(system, "SELECT name FROM customers WHERE id = %s",
                 UUID(erasing["customer_id"])) == ERASED
    for name, check in _checks(system).items():
        assert check["ok"], (name, check)
        assert check["erasures_pending"] == 0, (name, check)


def test_an_erasure_stored_but_its_key_not_yet_deleted_is_ok_before_and_after_it_applies(
        system: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    erasing = open_order(system.work_orders, "S01", customer=ERASING)
    _catch_up(system)
    keys = system.app.personal_data.keys
    with monkeypatch.context() as patched:  # the erasure stops between its event and its key
        patched.setattr(keys, "delete_key", lambda customer_id: False)
        system.customers.erase(request("S01", role="manager"),
                               UUID(erasing["customer_id"]), reason="customer asked (PIPL)")
    assert _live(system, "SELECT count(*) FROM customer_keys WHERE customer_id = %s",
                 UUID(erasing["customer_id"])) == 1
    for name, check in _checks(system).items():  # both sides open her fields with the key
        assert check["ok"] and check["erasures_pending"] == 0, (name, check)
    _catch_up(system)
    for name, check in _checks(system).items():
        assert check["ok"], (name, check)


def test_an_edited_deleted_or_added_row_is_still_found_while_an_erasure_is_pending(
        system: Container) -> None:
    erasing, kept = _visits(system)
    with system.pool.connection() as conn, conn.transaction():
        # her row: a column that is not personal data; his: his name (no erasure of his)
        conn.execute("UPDATE wo_view SET status = 'closed' WHERE id = %s",
                     (UUID(erasing["id"]),))
        conn.execute("UPDATE wo_view SET customer_name = 'someone else' WHERE id = %s",
                     (UUID(kept["id"]),))
        conn.execute("UPDATE customers SET tags = '{vip}' WHERE id = %s",
                     (UUID(erasing["customer_id"]),))
        conn.execute("DELETE FROM customers WHERE id = %s", (UUID(kept["customer_id"]),))
        # her phone on a row of another visit: found as a row the events do not make
        conn.execute("INSERT INTO wo_view SELECT gen_random_uuid(), number || '-X', store_id,"
                     " status, kind, customer_id, customer_name, customer_phone, plate, vin,"
                     " technicians, opened_at, updated_at, version, notification_id,"
                     " gen_random_uuid(), doc FROM wo_view WHERE id = %s",
                     (UUID(erasing["id"]),))

    checks = _checks(system)

    orders = checks["work_orders"]
    assert not orders["ok"] and orders["erasures_pending"] == 1
    wo_view = orders["tables"]["wo_view"]
    assert (wo_view["differing"], wo_view["missing"], wo_view["extra"]) == (2, 0, 1)
    assert sorted(wo_view["keys"]["differing"]) == sorted([erasing["id"], kept["id"]])
    customers = checks["customers"]["tables"]["customers"]
    assert (customers["differing"], customers["missing"], customers["extra"]) == (1, 1, 0)
    assert customers["keys"] == {"differing": [erasing["customer_id"]],
                                 "missing": [kept["customer_id"]]}
