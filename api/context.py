"""What the API needs from the running system, handed over by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg_pool import ConnectionPool

from domain.aftercare import Aftercare
from domain.application import ServiceCore
from domain.customers import Customers
from domain.inventory import Inventory
from domain.settlements import Settlements
from domain.work_orders import WorkOrders


@dataclass
class ApiContext:
    app: ServiceCore
    pool: ConnectionPool
    work_orders: WorkOrders
    customers: Customers
    inventory: Inventory
    settlements: Settlements
    aftercare: Aftercare
    timezone: str
    jwt_secret: str
    projection_names: list[str]
    read_wait_max_seconds: float = 5.0
