"""A walk-in's phone taken as typed before (in full width, with blanks) is still so in its event;
the work-order view written by its revision 5 kept it so, and its search by phone missed it. The
next start rebuilds the view (revision 6), which keeps the phone as a registered customer's is:
the desk's search finds the visit by the phone typed any way."""

from __future__ import annotations

import logging
from pathlib import Path
from uuid import UUID

import psycopg
import pytest

from domain import work_orders
from projections.work_orders import WorkOrdersView, list_work_orders
from servicecore.container import build
from tests.conftest import settings_for
from tests.databases import scratch_database
from tests.e2e.test_full_width_ids_api import full_width
from tests.e2e.test_walk_in_phone_api import as_typed
from tests.integration.support import VIN, request
from tests.integration.test_view_revisions import query, rebuilds
from workers.projection_runner import ProjectionRunner

PHONE = "13800138000"
TYPED = "１３８\u3000００１３\u3000８０００"


def test_an_old_walk_in_phone_is_found_after_the_view_is_rebuilt(
        server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    with scratch_database(server_url, "sc_walk_in") as url:
        # Before: the walk-in's phone stored as typed, and the view written by revision 5.
        system = build(settings_for(url, tmp_path))
        try:
            with monkeypatch.context() as before:
                before.setattr(work_orders, "normalise_phone", as_typed, raising=False)
                opened = system.work_orders.open(
                    request("S01"), store_id="S01", customer={"name": "孙丽", "phone": TYPED},
                    vehicle={"vin": VIN}, mileage=48_000, complaints=["brake noise"])
            stored = system.app.repository.get(UUID(opened.body["id"]))
            assert system.app.personal_data.open(stored.customer_id,
                                                 stored.customer["phone"]) == TYPED
            view = next(v for v in system.views if isinstance(v, WorkOrdersView))
            ProjectionRunner(system.app, system.pool, view).catch_up()
        finally:
            system.close()
        wo_id = UUID(opened.body["id"])
        query(url, """UPDATE wo_view SET customer_phone = %(t)s,
                      doc = jsonb_set(doc, '{customer,phone}', to_jsonb(%(t)s::text))
                      WHERE id = %(id)s""", {"t": TYPED, "id": wo_id})
        query(url, "UPDATE read_model_shapes SET revision = 5 WHERE name = 'work_orders'")

        # The next start rebuilds the work-order view once, from the events as they are.
        with caplog.at_level(logging.WARNING, logger="servicecore.container"):
            system = build(settings_for(url, tmp_path))
        system.close()
        said = rebuilds(caplog)
        assert len(said) == 1 and "projection work_orders" in said[0], said
        assert f"is {WorkOrdersView.revision}" in said[0], said

        # The visit is found by the phone typed any way, and shows it in ASCII digits.
        with psycopg.connect(url) as conn:
            for key in (PHONE, full_width(PHONE), TYPED, "138-0013-8000", "８０００"):
                listed = list_work_orders(conn, ["S01"], customer_phone=key)
                assert [row["id"] for row in listed["items"]] == [wo_id], key
                assert listed["items"][0]["customer_phone"] == PHONE
