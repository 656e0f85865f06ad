"""`audit views` names what an edited read-model row changed: the columns that differ from
the rebuild, besides the row's key. A view verified is rebuilt from the whole log, so the
module has a log of its own."""

from __future__ import annotations

from projections.work_orders import WorkOrdersView
from servicecore.container import Container
from tests.integration.support import open_order
from tests.scratch_systems import module_container
from workers.projection_runner import ProjectionRunner
from workers.view_verify import verify_view

container = module_container("sc_view_columns")


def test_an_edited_row_names_the_columns_it_changed(container: Container) -> None:
    edited, _ = (open_order(container.work_orders, "S01")["id"] for _ in range(2))
    view = next(v for v in container.views if isinstance(v, WorkOrdersView))
    ProjectionRunner(container.app, container.pool, view).catch_up()
    assert verify_view(container.app, container.pool, view).ok
    with container.pool.connection() as conn:
        conn.execute("UPDATE wo_view SET status = 'closed', customer_phone = '13900000000' "
                     "WHERE id = %s", (edited,))

    check = verify_view(container.app, container.pool, view).as_dict()

    assert check["ok"] is False
    assert check["tables"]["wo_view"] == {
        "differing": 1, "missing": 0, "extra": 0, "keys": {"differing": [edited]},
        "columns": ["customer_phone", "status"]}
