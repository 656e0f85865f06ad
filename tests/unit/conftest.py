"""Fixtures of the domain's unit tests: an application in memory with one technician on the
roster, and its work-order and settlement services. A module that needs another set-up (more
technicians, none) defines its own, which takes the place of these."""

from __future__ import annotations

import pytest

from domain.application import ServiceCore
from domain.settlements import Settlements
from domain.work_orders import WorkOrders
from tests.unit.support import on_roster


@pytest.fixture
def app() -> ServiceCore:
    app = ServiceCore()
    on_roster(app, "tech-zhao")
    return app


@pytest.fixture
def wos(app: ServiceCore) -> WorkOrders:
    return WorkOrders(app)


@pytest.fixture
def money(app: ServiceCore) -> Settlements:
    return Settlements(app)
