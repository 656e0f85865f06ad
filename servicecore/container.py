"""Builds the running system from Settings: event store, key store, services, read models."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from api.db_deadline import DbDeadline
from domain.aftercare import Aftercare
from domain.application import ServiceCore
from domain.appointments import Appointments
from domain.customers import Customers
from domain.dispatch import Dispatch
from domain.grievances import GrievanceTerms
from domain.inventory import Inventory, Thresholds
from domain.loyalty import LoyaltyRules
from domain.pii import PersonalData
from domain.reminders import Plan
from domain.settlements import Policy, Settlements
from domain.snapshot_seal import seal_key
from domain.technicians import Technicians
from domain.vehicles import Vehicles
from domain.warranty_coverage import WarrantyTerms
from domain.work_orders import WorkOrders
from projections.audit_index import AuditIndexView
from projections.base import ReadModel
from projections.campaigns import CampaignsView
from projections.customer_queries import TagRules
from projections.customers import CustomersView
from projections.failed_parts import FailedPartsView
from projections.finance import FinanceView
from projections.grievances import GrievancesView
from projections.labor_operations import LaborOperationsView
from projections.lost_sales import LostSalesView
from projections.oem_claims import OemClaimsView
from projections.online_bookings import OnlineBookingsView
from projections.part_serials import PartSerialsView
from projections.parts_demand import PartsDemandView
from projections.repair_filings import RepairFilingsView
from projections.repair_records import ShopNames
from projections.sanbao import SanbaoRules
from projections.stock import StockView
from projections.work_orders import WorkOrdersView
from projections.workshop import WorkshopView
from servicecore import loop_states, schema
from servicecore.deadline import pooled_waits, request_waits, watch
from servicecore.embedded import embedded_urls
from servicecore.invoice_commands import backfill_in_background, create_table
from servicecore.keystore import PostgresKeyStore
from servicecore.pool import open_pool, share_pool, with_keepalives
from servicecore.roles import DatabaseUrls, may_alter_event_store, move_own_tables, user_of
from servicecore.settings import Settings
from servicecore.view_setup import create_views
from workers.chain_witness import PeriodicWitness
from workers.log_watch import LogWatch
from workers.projection_group import ProjectionGroup
from workers.projection_health import stops
from workers.projection_runner import ProjectionRunner
from workers.supervisor import Idle, Loop, Supervisor

if TYPE_CHECKING:  # imported where used: a process that only rebuilds a view starts faster
    from analytics.loader import AnalyticsLoader
    from api.context import ApiContext
    from api.health_check import HealthCheck
    from api.positions import ProjectionPositions
    from workers.kafka_projection import KafkaProjection
    from workers.relay import KafkaRelay

log = logging.getLogger(__name__)


def eventsourcing_env(database_url: str, settings: Settings) -> dict[str, str]:
    params = conninfo_to_dict(database_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(params.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(params.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(params.get("port") or "5432"),
        "POSTGRES_USER": str(params.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(params.get("password") or ""),
        # An application of its own (tests, benches) opens one connection until it needs more;
        # build() hands the library the process's one pool instead (servicecore/pool.py).
        "POSTGRES_POOL_SIZE": "1",
        "POSTGRES_MAX_OVERFLOW": str(max(settings.pool_size - 1, 0)),
        "POSTGRES_PRE_PING": "n",
        # A save waits at most this long for a pooled connection (then 503), not 30 s.
        "POSTGRES_CONNECT_TIMEOUT": str(max(round(settings.pool_timeout_seconds), 1)),
        "CREATE_TABLE": "n",  # the owner creates them: migrate()
        "APPLICATION_RECORDER_TOPIC": "servicecore.event_store:EventRecorder",
        # snapshots are sealed under a key derived from the server's secret, which the
        # database does not hold (domain/snapshot_seal.py)
        ServiceCore.SNAPSHOT_SEAL_KEY: seal_key(settings.secret()).hex(),
        ServiceCore.MAX_MESSAGE_BYTES: str(settings.kafka_max_message_bytes),
    }


def _runner_loop(runner: ProjectionRunner) -> tuple[str, Loop, Callable[[], bool]]:
    return f"projection-{runner.view.name}", runner.run, runner.is_connected


@dataclass
class Container:
    settings: Settings
    database_url: str
    app: ServiceCore
    pool: ConnectionPool
    views: list[ReadModel]
    runners: list[ProjectionRunner] = field(default_factory=list)
    supervisor: Supervisor | None = None  # the in-process loops, once one is started
    analytics: AnalyticsLoader | None = None  # the in-process loader, once it is started
    # the serving process's loops, for an HTTP worker process of `serve` (loop_states.py)
    shared_states: Path | None = None
    _health: HealthCheck | None = None
    _positions: ProjectionPositions | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def work_orders(self) -> WorkOrders:
        return WorkOrders(self.app, self.settings.store_timezone, self.settings.stores,
                          self.warranty_terms)

    @property
    def warranty_terms(self) -> WarrantyTerms:
        return WarrantyTerms(self.settings.warranty_years, self.settings.warranty_km)

    @property
    def customers(self) -> Customers:
        s = self.settings
        return Customers(self.app, s.store_timezone, LoyaltyRules(
            rate=s.points_rate, expiry_months=s.points_expiry_months, point_value=s.point_value),
                         stores=s.stores)

    @property
    def inventory(self) -> Inventory:
        s = self.settings
        return Inventory(self.app, s.store_timezone, Thresholds(
            scrap_qty=s.scrap_approval_qty, scrap_value=s.scrap_approval_value,
            stocktake_value=s.stocktake_approval_value), stores=s.stores)

    @property
    def settlements(self) -> Settlements:
        return Settlements(self.app, self.settings.store_timezone,
                           Policy(discount_approval_rate=self.settings.discount_approval_rate,
                                  deposit_ceiling=self.settings.deposit_ceiling,
                                  loyalty=LoyaltyRules(
                                      rate=self.settings.points_rate,
                                      expiry_months=self.settings.points_expiry_months,
                                      point_value=self.settings.point_value)),
                           stores=self.settings.stores)

    @property
    def aftercare(self) -> Aftercare:
        return Aftercare(self.app, self.settings.store_timezone, self.settings.follow_up_days,
                         self.grievance_terms)

    @property
    def grievance_terms(self) -> GrievanceTerms:
        return GrievanceTerms(self.settings.grievance_contact_hours,
                              self.settings.grievance_close_days,
                              self.settings.grievance_serious_close_days)

    @property
    def vehicles(self) -> Vehicles:
        return Vehicles(self.app, self.settings.store_timezone, self.settings.stores)

    @property
    def technicians(self) -> Technicians:
        return Technicians(self.app, self.settings.stores, self.settings.store_timezone)

    @property
    def appointments(self) -> Appointments:
        return Appointments(self.app, self.settings.store_timezone, self.settings.stores)

    @property
    def dispatch(self) -> Dispatch:
        return Dispatch(self.app, self.settings.store_timezone)

    @property
    def tag_rules(self) -> TagRules:
        s = self.settings
        return TagRules(vip_spend=s.vip_spend_12m, frequent_visits=s.frequent_visits_12m,
                        fleet_vehicles=s.fleet_vehicles)

    def api_context(self) -> ApiContext:
        from api.context import ApiContext

        return ApiContext(
            app=self.app, pool=self.pool, work_orders=self.work_orders, customers=self.customers,
            inventory=self.inventory, settlements=self.settlements, aftercare=self.aftercare,
            timezone=self.settings.store_timezone, analytics_path=self.settings.analytics_path,
            vehicles=self.vehicles, technicians=self.technicians, appointments=self.appointments,
            dispatch=self.dispatch, tag_rules=self.tag_rules,
            jwt_secret=self.settings.secret(), projection_names=[v.name for v in self.views],
            read_wait_max_seconds=self.settings.read_wait_max_seconds, db_deadline=self.db_deadline,
            as_of_clock_skew_seconds=self.settings.as_of_clock_skew_seconds,
            shop_names=self.shop_names, regions=dict(self.settings.regions),
            sanbao_rules=self.sanbao_rules, warranty_terms=self.warranty_terms,
            progress_link_hours=self.settings.progress_link_hours,
            online_booking_hours=self.settings.online_booking_hours,
            online_booking_link_days=self.settings.online_booking_link_days,
            online_booking_answer_hours=self.settings.online_booking_answer_hours,
            failed_part_tag_days=self.settings.failed_part_tag_days,
            grievance_terms=self.grievance_terms,
            failed_part_retention_days=self.settings.failed_part_retention_days,
            public_url=self.settings.public_url, health=self.health_check,
            max_body_bytes=self.settings.max_body_bytes, positions=self.positions,
            database_url=self.database_url, read_pool_size=self.settings.pool_size,
            witness_path=self.settings.witness_file,
        )

    @property
    def shop_names(self) -> ShopNames:
        return ShopNames(self.settings.shop_names, self.settings.shop_name)

    @property
    def sanbao_rules(self) -> SanbaoRules:
        s = self.settings
        return SanbaoRules(**{name: getattr(s, "sanbao_" + name)
                              for name in SanbaoRules.__dataclass_fields__})

    @property
    def positions(self) -> ProjectionPositions:
        """The projections' positions as their runners announce them (`?wait_for=`)."""
        if self._positions is None:
            from api.positions import ProjectionPositions

            self._positions = ProjectionPositions(self.database_url)
        return self._positions

    @property
    def db_deadline(self) -> DbDeadline:  # a request's waits on PostgreSQL, bounded
        return DbDeadline(self.settings.request_db_deadline_seconds, watch, request_waits)

    @property
    def health_check(self) -> HealthCheck:
        """What /health* report: the database on a connection of its own, the loops below."""
        if self._health is None:
            from api.health_check import HealthCheck

            s = self.settings
            self._health = HealthCheck(self.database_url, [v.name for v in self.views],
                                       loops=self.loop_states, stops=self.stops,
                                       max_lag=s.ready_max_lag, db_deadline=self.db_deadline,
                                       max_stall_seconds=s.ready_max_stall_seconds,
                                       analytics=self.analytics_progress)
        return self._health

    def loop_states(self) -> dict[str, dict[str, Any]]:
        if self.shared_states is not None:
            return loop_states.read(self.shared_states)[0]
        return self.supervisor.states() if self.supervisor else {}

    def stops(self) -> dict[str, dict[str, Any]]:
        """The event each in-process view stopped at, by view."""
        if self.shared_states is not None:
            return loop_states.read(self.shared_states)[1]
        return stops(self.runners)

    def analytics_progress(self) -> dict[str, Any]:
        """The in-process analytics loader's position and last progress ({}: none)."""
        if self.shared_states is not None:
            return loop_states.read_analytics(self.shared_states)
        return self.analytics.progress() if self.analytics else {}

    def _supervise(self, name: str, loop: Loop, up: Callable[[], bool] | None = None,
                   idle: Idle | None = None) -> None:
        if self.supervisor is None:
            self.supervisor = Supervisor(self.database_url)
        self.supervisor.start(name, loop, up, idle)

    def make_runners(self) -> list[ProjectionRunner]:
        return [ProjectionRunner(
            self.app, self.pool, view, batch_size=self.settings.projection_batch_size,
            idle_advance_seconds=self.settings.projection_idle_advance_seconds,
            deadline_seconds=self.settings.db_wait_deadline_seconds,
            lock_timeout_seconds=self.settings.projection_lock_wait_seconds)
                for view in self.views]

    def make_relay(self) -> KafkaRelay:
        """The Kafka relay (needs KAFKA_BOOTSTRAP_SERVERS)."""
        from workers.relay import KafkaRelay, RelayConfig

        s = self.settings
        if not s.kafka_bootstrap_servers:
            raise RuntimeError("KAFKA_BOOTSTRAP_SERVERS is not set: the relay has nowhere to send")
        return KafkaRelay(self.app, self.pool, RelayConfig(
            bootstrap_servers=s.kafka_bootstrap_servers, topic_prefix=s.kafka_topic_prefix,
            partitions=s.kafka_partitions, replication_factor=s.kafka_replication_factor,
            idempotence=s.kafka_idempotence, linger_ms=s.kafka_linger_ms,
            batch_bytes=s.kafka_batch_bytes, select_limit=s.relay_batch_size,
            delivery_timeout_ms=s.kafka_delivery_timeout_ms,
            max_message_bytes=s.kafka_max_message_bytes,
            max_backoff_seconds=s.relay_max_backoff_seconds,
            deadline_seconds=s.db_wait_deadline_seconds))

    def make_kafka_projection(self, group_id: str | None = None) -> KafkaProjection:
        """The work-order board fed from the relay's work-orders topic (a consumer group)."""
        import os

        from domain.integration_events import ROUTES
        from workers.kafka_projection import DEFAULT_GROUP, KafkaProjection, KafkaProjectionConfig

        s = self.settings
        if not s.kafka_bootstrap_servers:
            raise RuntimeError("KAFKA_BOOTSTRAP_SERVERS is not set: nothing to consume")
        group = group_id or os.environ.get("SERVICECORE_KAFKA_PROJECTION_GROUP") or DEFAULT_GROUP
        return KafkaProjection(self.pool, KafkaProjectionConfig(
            bootstrap_servers=s.kafka_bootstrap_servers,
            topic=s.kafka_topic_prefix + ROUTES["WorkOrder"].topic, group_id=group,
            max_backoff_seconds=s.relay_max_backoff_seconds,
            unreachable_seconds=s.kafka_projection_unreachable_seconds,
            max_message_bytes=s.kafka_max_message_bytes, deadline_seconds=s.db_wait_deadline_seconds))

    def seed_kafka_board(self) -> dict[str, int]:
        """The Kafka board filled from the event store, as the relay maps the events
        (`projections seed-kafka-board`; workers/kafka_board.py, `seed`)."""
        from domain.integration_events import IntegrationMapper

        mapper = IntegrationMapper(self.app.mapper, self.settings.kafka_topic_prefix)
        return self.make_kafka_projection().seed(self.app, mapper)

    def start_projections(self) -> None:
        """Follow the event log in supervised background threads (embedded default)."""
        self.runners = self.make_runners()
        watch = LogWatch(self.app, self.settings.db_wait_deadline_seconds)
        for runner in self.runners:
            watch.subscribe(runner)
        self._supervise("projection-log-watch", watch.run, watch.listening.is_set)
        for name, loop, up, idle in self.projection_loops(self.runners, self._supervise):
            self._supervise(name, loop, up, idle)
        for name, loop in self.witness_loops():
            self._supervise(name, loop, None)

    def witness_loops(self) -> list[tuple[str, Loop]]:
        """The chain head witnessed on a timer and by volume (none when both
        SERVICECORE_WITNESS_SECONDS and SERVICECORE_WITNESS_EVENTS are 0)."""
        s = self.settings
        if not s.witness_seconds and not s.witness_events:
            return []
        return [("chain-witness", PeriodicWitness(
            self.pool, s.witness_file, s.witness_seconds, s.witness_events,
            deadline_seconds=s.db_wait_deadline_seconds).run)]

    def projection_loops(self, runners: list[ProjectionRunner],
                         supervise: Callable[[str, Loop, Callable[[], bool]], None]
                         ) -> list[tuple[str, Loop, Callable[[], bool], Idle | None]]:
        """The loops that run `runners`: one for the group (`projection_group`), or one each
        (name, loop, `up` and `idle` probes). `supervise` starts the loop of a view that failed
        in the group and leaves it."""
        if self.settings.projection_group and runners:
            group = ProjectionGroup(
                self.app, self.pool, runners, batch_size=self.settings.projection_batch_size,
                on_alone=lambda r: supervise(*_runner_loop(r)),
                deadline_seconds=self.settings.db_wait_deadline_seconds,
                lock_timeout_seconds=self.settings.projection_lock_wait_seconds,
                rejoin_seconds=self.settings.projection_rejoin_seconds)
            return [("projections", group.run, group.is_connected, group.idle)]
        return [(*_runner_loop(r), None) for r in runners]

    def make_analytics_loader(self) -> AnalyticsLoader:
        """The DuckDB loader (closed with the container)."""
        from analytics.loader import AnalyticsLoader

        loader = AnalyticsLoader(self.app, self.settings.analytics_path,
                                 publish_every=self.settings.analytics_publish_seconds,
                                 zone=self.settings.store_timezone)
        self._closers.append(loader.close)
        return loader

    def start_analytics(self) -> AnalyticsLoader:
        """Load the DuckDB tables in a supervised background thread (embedded default)."""
        loader = self.analytics = self.make_analytics_loader()
        self._supervise("analytics", self.analytics_loop(loader))
        return loader

    def start_backfill(self) -> threading.Thread:
        """The data backfills this version needs (the invoice numbers'), in a background
        thread, so the process serves meanwhile; once per database, one process at a time,
        going on where a stopped one was (servicecore/invoice_commands.py). Stopped after
        its batch when the container closes."""
        stop = threading.Event()
        thread = threading.Thread(target=backfill_in_background, name="data-backfills",
                                  args=(self.database_url, self.app, stop.is_set), daemon=True)
        thread.start()

        def stopped() -> None:
            stop.set()
            thread.join(timeout=60.0)

        self._closers.append(stopped)
        return thread

    def analytics_loop(self, loader: AnalyticsLoader) -> Loop:
        """`loader.run` as a supervised loop: each connection it draws from the pool under
        the deadline (servicecore/deadline.py, `pooled_waits`)."""
        seconds = self.settings.db_wait_deadline_seconds

        def loop(stop: threading.Event, _conninfo: str) -> None:
            with pooled_waits(seconds, "analytics loader"):
                loader.run(stop)
        return loop

    def close(self) -> None:
        """Stop and join the in-process loops, then close DuckDB and the pool."""
        loops = len(self.supervisor.states()) if self.supervisor else 0
        left = self.supervisor.stop(timeout=10.0) if self.supervisor else []
        for closer in self._closers:
            closer()
        if self._health is not None:
            self._health.close()
        if self._positions is not None:
            self._positions.close()
        self.pool.close()
        self.app.close()
        log.info("container closed: %d in-process loops stopped%s", loops - len(left),
                 f", {len(left)} still running" if left else "")


def database_urls(settings: Settings) -> DatabaseUrls:
    """The owner's URL (migrations only) and the application's (everything else)."""
    if settings.database_url is None:
        return embedded_urls(settings.data_dir)
    owner = settings.owner_database_url or settings.database_url
    return DatabaseUrls(owner=with_keepalives(owner), app=with_keepalives(settings.database_url))


def migrate(urls: DatabaseUrls, settings: Settings) -> None:
    """As the owner: eventsourcing's tables, the chain, the support tables, the grants.
    Every connection of the owner's resolves names through pg_catalog alone
    (schema.OWNER_SEARCH_PATH), and names the owner's objects with their schema."""
    owner = ServiceCore(env={**eventsourcing_env(urls.owner, settings), "CREATE_TABLE": "y",
                             "POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "0",
                             "APPLICATION_RECORDER_TOPIC": "servicecore.event_store:OwnerRecorder"})
    owner.close()
    app_role = user_of(urls.app)
    with psycopg.connect(urls.owner, autocommit=True) as conn:
        conn.execute(f"SET search_path = {schema.OWNER_SEARCH_PATH}")
        schema.install(conn, app_role if app_role != user_of(urls.owner) else None)
        try:  # trigram indexes for name searches, where the server ships the extension
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
        except psycopg.Error as exc:
            log.info("pg_trgm is not available (%s): name searches scan", exc)
    log.info("event store schema %d installed", schema.SCHEMA_VERSION)


def build(settings: Settings | None = None) -> Container:
    settings = settings or Settings()
    urls = database_urls(settings)
    database_url = urls.app
    with psycopg.connect(database_url, autocommit=True) as conn:
        current = schema.is_current(conn)
        if current and may_alter_event_store(conn):
            log.warning("the application connects as the event store's owner or a superuser: "
                        "set DATABASE_URL to a role without those rights and "
                        "SERVICECORE_OWNER_DATABASE_URL to the owner (README, Least privilege)")
    if not current:
        if not settings.create_tables:
            raise RuntimeError("the event store schema is missing or older than this version: "
                               "run `servicecore migrate` (as the owner) first")
        migrate(urls, settings)
    pool = open_pool(database_url, settings)
    personal_data = PersonalData(PostgresKeyStore(pool))
    app = ServiceCore(env=eventsourcing_env(database_url, settings), personal_data=personal_data)
    share_pool(app, pool)
    views: list[ReadModel] = [WorkOrdersView(personal_data), StockView(),
                              FinanceView(settings.store_timezone)]
    views += [CustomersView(personal_data, settings.store_timezone, Plan(
        settings.service_interval_months, settings.service_interval_km)),
              WorkshopView(settings.store_timezone), AuditIndexView(), PartSerialsView(),
              OemClaimsView(), PartsDemandView(), RepairFilingsView(), LaborOperationsView(),
              FailedPartsView(), CampaignsView(), LostSalesView(),
              OnlineBookingsView(personal_data), GrievancesView()]
    with psycopg.connect(database_url, autocommit=True) as conn:
        move_own_tables(conn)
        if settings.create_tables:
            create_views(conn, app, pool, views, settings.projection_rebuild_batch_size)
            create_table(conn)  # data backfills: run once serving (start_backfill)
    return Container(settings, database_url, app, pool, views)


def connection_info(container: Container) -> dict[str, Any]:
    return {k: v for k, v in conninfo_to_dict(container.database_url).items() if k != "password"}
