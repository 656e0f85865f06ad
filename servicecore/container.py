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
from domain.application import ServiceCore
from domain.pii import PersonalData
from domain.reminders import Plan
from domain.snapshot_seal import seal_key
from projections.audit_index import AuditIndexView
from projections.base import ReadModel
from projections.campaigns import CampaignsView
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
from projections.stock import StockView
from projections.work_orders import WorkOrdersView
from projections.workshop import WorkshopView
from servicecore import loop_states, schema
from servicecore.area_services import AreaServices
from servicecore.deadline import pooled_waits, request_waits, watch
from servicecore.embedded import embedded_urls
from servicecore.invoice_commands import backfill_loop, create_table
from servicecore.keystore import PostgresKeyStore
from servicecore.pool import open_pool, share_pool, with_keepalives
from servicecore.roles import DatabaseUrls, may_alter_event_store, move_own_tables, user_of
from servicecore.settings import Settings
from servicecore.view_setup import create_views
from servicecore.worker_factories import WorkerFactories
from workers.log_watch import LogWatch
from workers.projection_health import stops
from workers.projection_runner import ProjectionRunner
from workers.supervisor import Idle, Loop, Supervisor

if TYPE_CHECKING:  # imported where used: a process that only rebuilds a view starts faster
    from analytics.loader import AnalyticsLoader
    from api.context import ApiContext
    from api.health_check import HealthCheck
    from api.positions import ProjectionPositions

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


@dataclass
class Container(AreaServices, WorkerFactories):
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
                                       analytics=self.analytics_progress,
                                       relay=bool(s.kafka_bootstrap_servers),
                                       relay_max_stall_seconds=s.relay_max_stall_seconds)
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

    def start_projections(self) -> None:
        """Follow the event log in supervised background threads (embedded default)."""
        self.runners = self.make_runners()
        watch = LogWatch(self.app, self.settings.db_wait_deadline_seconds)
        for runner in self.runners:
            watch.subscribe(runner)
        self._supervise("projection-log-watch", watch.run, watch.listening.is_set)
        for name, loop, up, idle in self.projection_loops(self.runners, self._supervise):
            self._supervise(name, loop, up, idle)
        for name, loop in self.witness_loops() + self.booking_retention_loops():
            self._supervise(name, loop, None)

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

    def start_backfill(self) -> threading.Event:
        """The data backfills this version needs (the invoice numbers'), as the supervised
        loop `data-backfills`, so the process serves meanwhile; once per database, one
        process at a time, going on where a stopped one was, started again with backoff
        while it fails (`restarting` on /health), `idle` once done
        (servicecore/invoice_commands.py). Stopped after its batch when the container
        closes. Returns the event set once the backfill is done."""
        loop, idle, done = backfill_loop(self.app)
        self._supervise("data-backfills", loop, None, idle)
        return done

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
    plan = Plan(settings.service_interval_months, settings.service_interval_km)
    views: list[ReadModel] = [  # one a line: a new view is one line added
        WorkOrdersView(personal_data),
        StockView(),
        FinanceView(settings.store_timezone),
        CustomersView(personal_data, settings.store_timezone, plan),
        WorkshopView(settings.store_timezone),
        AuditIndexView(),
        PartSerialsView(),
        OemClaimsView(),
        PartsDemandView(),
        RepairFilingsView(),
        LaborOperationsView(),
        FailedPartsView(),
        CampaignsView(),
        LostSalesView(),
        OnlineBookingsView(personal_data),
        GrievancesView(),
    ]
    with psycopg.connect(database_url, autocommit=True) as conn:
        move_own_tables(conn)
        if settings.create_tables:
            create_views(conn, app, pool, views, settings.projection_rebuild_batch_size)
            create_table(conn)  # data backfills: run once serving (start_backfill)
    return Container(settings, database_url, app, pool, views)


def connection_info(container: Container) -> dict[str, Any]:
    return {k: v for k, v in conninfo_to_dict(container.database_url).items() if k != "password"}
