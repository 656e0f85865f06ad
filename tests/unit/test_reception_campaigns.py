"""The car's open campaigns come with a check-in's answer, by the visit's VIN: a work order
keeps the VIN it was opened with, so the state this process holds of the visit (its check-in
just saved it) tells it without a read of the store; a visit not held is loaded."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from api.routes.campaigns import _visit_vin
from domain.application import ServiceCore
from domain.work_orders import WorkOrders
from tests.unit.support import checked_in, load


def test_the_visit_s_vin_is_read_from_the_state_held_and_loaded_when_none_is(
        monkeypatch: pytest.MonkeyPatch) -> None:
    app = ServiceCore()
    visit = checked_in(WorkOrders(app))
    vin = load(app, visit).vehicle["vin"]
    loads: list[Any] = []
    real = app.repository.get

    def counted(*args: Any, **kwargs: Any) -> Any:
        loads.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(app.repository, "get", counted)
    assert _visit_vin(app, visit) == vin
    assert loads == []
    assert app.repository.cache is not None
    app.repository.cache.get(visit, evict=True)  # a visit this process does not hold
    assert _visit_vin(app, visit) == vin
    assert len(loads) == 1
    assert _visit_vin(app, uuid4()) is None
