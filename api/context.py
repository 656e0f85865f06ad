"""What the API needs from the running system, handed over by the composition root."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from psycopg_pool import ConnectionPool

from api.db_deadline import DbDeadline
from api.health_check import HealthCheck
from api.positions import ProjectionPositions
from domain.aftercare import Aftercare
from domain.application import ServiceCore
from domain.appointments import Appointments
from domain.customers import Customers
from domain.dispatch import Dispatch
from domain.grievances import GrievanceTerms
from domain.inventory import Inventory
from domain.settlements import Settlements
from domain.technicians import Technicians
from domain.vehicles import Vehicles
from domain.warranty_coverage import WarrantyTerms
from domain.warranty_evidence import WarrantyEvidence
from domain.work_orders import WorkOrders
from projections.customer_queries import TagRules
from projections.repair_records import ShopNames
from projections.sanbao import SanbaoRules


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
    analytics_path: Path
    vehicles: Vehicles
    technicians: Technicians
    appointments: Appointments
    dispatch: Dispatch
    tag_rules: TagRules
    jwt_secret: str
    projection_names: list[str]
    read_wait_max_seconds: float = 5.0
    # a request's hold of a connection, waiting on PostgreSQL, is cut after this long
    db_deadline: DbDeadline = field(default_factory=DbDeadline)
    as_of_clock_skew_seconds: float = 5.0  # a client's clock this far ahead still asks for now
    shop_names: ShopNames = field(default_factory=ShopNames)
    regions: dict[str, str] = field(default_factory=dict)  # store id -> region (KPI filter)
    sanbao_rules: SanbaoRules = field(default_factory=SanbaoRules)
    warranty_terms: WarrantyTerms = field(default_factory=WarrantyTerms)
    progress_link_hours: int = 72
    online_booking_hours: Decimal = Decimal(1)
    online_booking_link_days: int = 30
    online_booking_answer_hours: int = 24
    grievance_terms: GrievanceTerms = field(default_factory=GrievanceTerms)
    failed_part_tag_days: int = 3  # failed-part custody: the overdue list's two windows
    failed_part_retention_days: int = 180
    public_url: str | None = None
    health: HealthCheck | None = None  # /health*: own connection, bounded wait
    max_body_bytes: int = 256 * 1024
    # ?wait_for= answered from the runners' announcements (None: the table is polled)
    positions: ProjectionPositions | None = None
    # the asyncio pool of the single-item reads: opened by the app's lifespan on this URL
    # (None: those reads run on `pool` in a worker thread)
    database_url: str | None = None
    read_pool_size: int = 10
    # the append-only file chain anchors are also written to (None: the database only)
    witness_path: Path | None = None

    def today(self) -> date:
        """Today in the stores' time zone (`SERVICECORE_STORE_TIMEZONE`): the business day."""
        return datetime.now(ZoneInfo(self.timezone)).date()

    @property
    def warranty_evidence(self) -> WarrantyEvidence:
        """Part serials and evidence references: a work-order service like `work_orders`."""
        wo = self.work_orders
        return WarrantyEvidence(wo.app, wo.zone.key, wo.stores)
