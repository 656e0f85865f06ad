"""Every setting in one place (environment variables; see README "Configuration")."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from analytics.kpi_where import MAX_REGION
from domain.message_size import MAX_MESSAGE_BYTES

# The shortest JWT secret taken: 32 characters, HS256's 256 bits of key at one byte each.
MIN_JWT_SECRET = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SERVICECORE_", extra="ignore")

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "SERVICECORE_DATABASE_URL"),
        description="External PostgreSQL; unset = embedded PostgreSQL under data_dir.",
    )
    owner_database_url: str | None = Field(
        default=None, description="The event store's owner, used only to migrate; unset = "
        "DATABASE_URL (one role, least privilege off). The embedded default creates both.",
    )
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "SERVICECORE_KAFKA_BOOTSTRAP_SERVERS"),
    )
    kafka_topic_prefix: str = "servicecore."
    kafka_partitions: int = Field(default=6, ge=1, description="partitions per relay topic")
    kafka_replication_factor: int = Field(default=1, ge=1)
    kafka_idempotence: Literal["auto", "on", "off"] = Field(
        default="auto", description="auto: idempotent producer unless the broker refuses it")
    kafka_linger_ms: int = Field(default=20, ge=0)
    kafka_batch_bytes: int = Field(default=512 * 1024, ge=1024)
    kafka_delivery_timeout_ms: int = Field(default=30_000, ge=2_000)
    kafka_max_message_bytes: int = Field(
        default=MAX_MESSAGE_BYTES, ge=64 * 1024, le=512 * 1024 * 1024,
        description="the largest message the relay sends (key, value and headers): a command "
        "whose event would be larger is refused (422); the producer, the topics the relay "
        "creates and the Kafka board's consumer take this plus 1 KiB of record envelope, and "
        "so must the broker (message.max.bytes, replica.fetch.max.bytes) and every consumer")
    kafka_projection_unreachable_seconds: float = Field(
        default=20.0, gt=0, description="the Kafka projection's /health answers 503 once its "
        "consumer has had no connected group coordinator (the broker) for this long")
    kafka_projection_group: str = Field(
        default="servicecore-kafka-projection", min_length=1, description="the consumer group "
        "of `worker kafka-projection` (and the board `projections seed-kafka-board` fills)")
    relay_batch_size: int = Field(default=1000, ge=1, description="events per select")
    relay_max_backoff_seconds: float = Field(default=30.0, gt=0)
    relay_max_stall_seconds: float = Field(
        default=60.0, ge=0, description="the API's /health answers 503 `degraded` (its "
        "/health/ready stays 200) while, with KAFKA_BOOTSTRAP_SERVERS set, the relay's stored "
        "position is behind the log's head and has not moved for this long; 0 = not checked")
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(default=9100, ge=0, le=65535,
                                     description="/health and /metrics of a worker; 0 = off")
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto", description="json: one JSON object per line; text: for reading by eye; "
        "auto: json for serve and the workers, text for the other commands")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    tracing: Literal["off", "otlp", "console"] = Field(
        default="off", description="OpenTelemetry spans of the API (needs the tracing extra): "
        "otlp to OTEL_EXPORTER_OTLP_ENDPOINT, console to stdout")
    data_dir: Path = Path("var")
    jwt_secret: str | None = Field(
        default=None, description="HS256 secret for bearer tokens, at least 32 "
        "characters (shorter: no command starts); unset or empty: generated once into "
        "data_dir/jwt-secret")
    witness_path: Path | None = Field(
        default=None, description="the append-only file every chain anchor is written to "
        "(day-end closes, `audit anchor`, POST /audit/chain/anchors), outside the database; "
        "default data_dir/witness/chain-anchors.jsonl")
    witness_seconds: float = Field(
        default=3600.0, ge=0, description="between day-end closes, record and witness the "
        "chain head when the last anchor is this old and the log moved since (where the "
        "projections run); 0: off")
    witness_events: int = Field(
        default=1000, ge=0, description="also record and witness the chain head as soon as "
        "the log moved by this many notification ids since the last anchor (checked every "
        "5 s where the projections run); 0: off")
    store_timezone: str = "Asia/Shanghai"
    vat_rate: Decimal = Decimal("0.13")
    host: str = "127.0.0.1"
    public_url: str | None = Field(
        default=None, description="how customers reach this server (progress links and their QR "
        "codes); unset = the address the advisor's request came in on")
    progress_link_hours: int = Field(default=72, ge=1, le=720,
                                     description="how long a customer's progress link lives")
    online_booking_hours: Decimal = Field(
        default=Decimal(1), ge=Decimal("0.5"), le=Decimal(8), description="the labor hours an "
        "online booking request holds for each service asked in free text (no op code)")
    online_booking_link_days: int = Field(
        default=30, ge=1, le=366, description="a customer's online booking link lives until "
        "this many days after the booked day")
    online_booking_answer_hours: int = Field(
        default=24, ge=1, le=168, description="an online booking request the store has not "
        "confirmed or declined this many hours after it was made (or by its slot's start, if "
        "sooner) expires, and its slot is free again")
    online_booking_retention_days: int = Field(
        default=30, ge=1, le=3650, description="the name, phone and note of an online booking "
        "request never confirmed (declined, cancelled, expired) are shredded this many days "
        "after it closed (`servicecore online-bookings retention`, and the timer)")
    online_booking_sweep_seconds: float = Field(
        default=900.0, ge=0, description="every this many seconds, where the projections "
        "run, record the lapse of online booking requests past their deadline and shred those "
        "past their retention period, as `servicecore online-bookings retention` does (loop "
        "`online-booking-retention`, one process at a time); 0: off")
    grievance_contact_hours: int = Field(
        default=24, ge=1, le=720, description="a customer complaint case is due for its first "
        "contact with the customer this many hours after it was registered")
    grievance_close_days: int = Field(
        default=7, ge=1, le=365, description="a normal complaint case is due to be closed this "
        "many days after it was registered")
    grievance_serious_close_days: int = Field(
        default=3, ge=1, le=365, description="a serious complaint case is due to be closed this "
        "many days after it was registered")
    failed_part_tag_days: int = Field(
        default=3, ge=0, le=365, description="a warranty part line whose replaced part has no "
        "failed-part tag this many days after the new part was issued is overdue")
    failed_part_retention_days: int = Field(
        default=180, ge=1, le=3650, description="a failed part still held (not requested, "
        "shipped or scrapped) this many days after it was tagged is overdue")
    port: int = 8000
    workers: int = Field(
        default=1, ge=1, le=64, description="`serve`: API worker processes on the one port "
        "(uvicorn's supervisor); above 1 the projections and the analytics loader stay in the "
        "parent process, and every worker opens its own connection pools")
    in_process_projections: bool = True
    projection_batch_size: int = 500
    projection_idle_advance_seconds: float = Field(
        default=0.1, ge=0, description="while events a projection does not handle keep coming, "
        "it moves its position past them at most this often (each move is a transaction and "
        "an announcement); events it handles are applied at once. 0 = after every event")
    projection_group: bool = Field(
        default=True, description="the projections of a process run as one group: a batch "
        "applies the new events to every view that has work in one transaction (each view "
        "keeps its own position); false = a runner and a transaction per view")
    projection_rebuild_batch_size: int = Field(
        default=5000, ge=1, description="events per transaction of `projections rebuild`")
    projection_rebuild_parallelism: int = Field(
        default=2, ge=1, description="projections `projections rebuild` rebuilds at once, each "
        "in a process of its own with its own connections")
    projection_rebuild_partitions: int = Field(
        default=2, ge=1, le=256, description="`projections rebuild` fills the work-order view in "
        "this many hash partitions of the stream id, each in a process of its own (the rebuild's "
        "own process takes the first); 1 = one process")
    create_tables: bool = True
    pool_size: int = Field(
        default=20, ge=2, description="most PostgreSQL connections the process's one pool opens "
        "(event store, read models, key store, positions; README, Scaled out)")
    pool_min_size: int = Field(default=1, ge=1,
                               description="connections the pool keeps open while idle")
    pool_timeout_seconds: float = Field(
        default=5.0, gt=0, description="how long a request waits for a pooled connection before "
        "it is refused (503), e.g. while the database is away")
    pool_max_idle_seconds: float = Field(
        default=60.0, ge=1, description="while pooled connections above the minimum stay "
        "unused, one is closed every this many seconds")
    db_wait_deadline_seconds: float = Field(
        default=120.0, ge=0, description="a projection batch (or a round trip on a "
        "projection's lock connection) still waiting on PostgreSQL after this long has its "
        "connection cut and fails, and its loop starts again: a connection that stays open but "
        "stops forwarding (a stuck pooler, NAT or middlebox) ends instead of hanging; 0 = no "
        "limit")
    projection_lock_timeout_seconds: float = Field(
        default=5.0, ge=0, description="a projection batch's writes to its view's tables wait "
        "this long at most for a lock another session holds (a `LOCK TABLE`, a long "
        "transaction, a migration): the view fails alone, leaves its group and tries again "
        "with backoff while the other views go on; at most half the "
        "db_wait_deadline_seconds; 0 = as long as the deadline lets a statement run")
    projection_rejoin_seconds: float = Field(
        default=60.0, ge=0, description="a view that left its projection group goes back to it "
        "once its own loop has run this long without a failed batch (doubled for each time it "
        "left before, at most 16 times), has applied 3 batches with events it handles since "
        "and reached the head; 0 = it stays alone until the process restarts")
    request_db_deadline_seconds: float = Field(
        default=30.0, ge=0, description="an API request (or /health's check) that has held a "
        "connection this long, still waiting on PostgreSQL, has it cut and is answered 503 "
        "(a command whose outcome cannot be decided: 503 naming its command id); the pool "
        "opens new connections; 0 = no limit")
    read_wait_max_seconds: float = 5.0
    as_of_clock_skew_seconds: float = Field(
        default=5.0, ge=0, le=300, description="an `as_of` up to this many seconds after the "
        "server's clock is answered as now (clients' clocks drift); further ahead is 422")
    max_body_bytes: int = Field(default=256 * 1024, ge=1024,
                                description="larger request bodies are refused with 413")
    scrap_approval_qty: Decimal = Field(
        default=Decimal(10), description=(
            "scrap above this quantity waits for a manager other than the asker"))
    scrap_approval_value: Decimal = Field(
        default=Decimal("500.00"), description="scrap above this FIFO value (CNY) waits")
    discount_approval_rate: Decimal = Field(
        default=Decimal("0.10"), description="a discount above this share of the gross needs a "
        "manager")
    deposit_ceiling: Decimal = Field(
        default=Decimal("5000.00"), gt=0, description="deposits (CNY) taken on a work order "
        "with no approved customer line; once lines are approved, their total is the limit")
    follow_up_days: int = Field(default=3, ge=0, le=60,
                                description="the follow-up call is due this many days after delivery")
    stocktake_approval_value: Decimal = Field(
        default=Decimal("500.00"), description="a count variance above this value (CNY) waits")
    points_rate: Decimal = Field(
        default=Decimal("0.1"), description="loyalty points per CNY of paid customer amount")
    points_expiry_months: int = Field(default=24, ge=1, le=120,
                                      description="points expire this many months after earning")
    point_value: Decimal = Field(default=Decimal("0.10"),
                                 description="CNY one point is worth when redeemed")
    vip_spend_12m: Decimal = Field(default=Decimal(20000),
                                   description="12-month customer spend (CNY) that makes a VIP")
    frequent_visits_12m: int = Field(default=4, description="12-month visits that make frequent")
    fleet_vehicles: int = Field(default=3, description="owned vehicles that make a fleet")
    service_interval_months: int = Field(default=12, description="default maintenance interval")
    service_interval_km: int = Field(default=10_000, description="default maintenance interval")

    stores: list[str] = Field(
        default_factory=list, description='the group\'s store ids, as JSON: ["S01", "S02"]; '
        "set, a purchase order, receipt or transfer, a work order, workshop capacity, a "
        "booking or a technician's profile naming any other store is 422; unset, the caller's "
        "token alone decides")
    shop_names: dict[str, str] = Field(
        default_factory=dict, description='store id -> the shop name on repair records, as JSON: '
        '{"S01": "上海某某汽车销售服务有限公司"}')
    regions: dict[str, str] = Field(
        default_factory=dict, description='store id -> its region, as JSON: {"S01": "华东", '
        '"S02": "华南"}; the KPIs and the monthly report take `region=` for the stores of one '
        "region. With `stores` set, a store not among them is refused at start")
    shop_name: str | None = Field(default=None,
                                  description="the shop name of stores not in shop_names")
    warranty_years: int = Field(default=3, ge=1, le=20, description="the OEM's base warranty: "
                                "years from the sale (delivery to the first owner)")
    warranty_km: int = Field(default=60_000, ge=1_000, le=1_000_000, description="the OEM's "
                             "base warranty: km on the odometer (taken as 0 at the sale)")
    sanbao_repair_days_warn: int = Field(default=20, ge=1, description="三包 monitor: warn from "
                                         "this many cumulative repair days")
    sanbao_repair_days_limit: int = Field(default=30, ge=1, description="三包: breach above")
    sanbao_same_problem_warn: int = Field(default=3, ge=1, description="三包 monitor: warn from "
                                          "this many repairs of the same problem")
    sanbao_same_problem_limit: int = Field(default=4, ge=1, description="三包: breach above")
    sanbao_serious_fault_warn: int = Field(default=2, ge=1, description="三包 monitor: warn from "
                                           "this many repairs of one serious safety system")
    sanbao_serious_fault_limit: int = Field(default=2, ge=1, description="三包: breach above")
    sanbao_assembly_replaced_warn: int = Field(
        default=2, ge=1, description="三包 monitor: warn from this many visits replacing parts "
        "of the engine, transmission or traction battery / drive motor")
    sanbao_assembly_replaced_limit: int = Field(
        default=2, ge=1, description="三包: breach when this many are followed by a repair")
    sanbao_main_part_warn: int = Field(default=1, ge=1, description="三包 monitor: warn from "
                                       "this many visits issuing the same main part")
    sanbao_main_part_limit: int = Field(default=1, ge=1, description="三包: breach above")
    ready_max_lag: int = Field(
        default=1000, ge=0, description="/health/ready answers 503 while a projection is more "
        "than this many events behind the log's head; 0 = lag does not count")
    ready_max_stall_seconds: float = Field(
        default=60.0, ge=0, description="/health/ready answers 503 while a projection with "
        "events to apply has not moved its position for this long (a stuck loop); 0 = not "
        "checked")
    header_timeout_seconds: float = Field(
        default=10.0, gt=0, description="`serve` closes a connection whose request line and "
        "headers have not all arrived within this many seconds")
    body_timeout_seconds: float = Field(
        default=30.0, gt=0, description="`serve` answers 408 and closes the connection when a "
        "request body has not all arrived within this many seconds of the request's headers "
        "(one deadline for the whole body, whatever its pace)")
    shutdown_grace_seconds: int = Field(
        default=10, ge=0, description="on SIGTERM / SIGINT `serve` waits this long for "
        "requests in flight before closing their connections")

    analytics_publish_seconds: float = Field(
        default=10.0, ge=1, le=60, description="publish the analytic snapshot this often when "
        "the log moved (readers see data at most this old, never more than 60 s)")

    @property
    def analytics_path(self) -> Path:
        """The DuckDB file the analytics loader owns (readers use its published snapshot)."""
        return self.data_dir / "analytics" / "servicecore.duckdb"

    @property
    def witness_file(self) -> Path:
        """Where chain anchors are witnessed outside the database (projections/chain_witness)."""
        return self.witness_path or self.data_dir / "witness" / "chain-anchors.jsonl"

    @property
    def projection_lock_wait_seconds(self) -> float:
        """The lock timeout of a view's writes: shorter than the statement timeout the
        deadline sets, so a wait for a lock on its tables ends as one (LockNotAvailable)."""
        lock, deadline = self.projection_lock_timeout_seconds, self.db_wait_deadline_seconds
        return min(lock, deadline / 2) if lock and deadline else lock

    @field_validator("jwt_secret")
    @classmethod
    def _long_enough(cls, value: str | None) -> str | None:
        """A configured secret shorter than an HS256 key's 256 bits is refused at start-up:
        tokens signed with it could be forged by guessing it offline from any one token."""
        if not value:
            return None
        if len(value) < MIN_JWT_SECRET:
            raise ValueError(f"must have at least {MIN_JWT_SECRET} characters")
        return value

    @field_validator("regions")
    @classmethod
    def _regions_of_known_stores(cls, value: dict[str, str],
                                 info: ValidationInfo) -> dict[str, str]:
        """A region is named as `region=` asks for it: a non-blank name of at most 60
        characters, without surrounding spaces. A store the group does not have (`stores`,
        where set) is a typo: refused at start, not silently left out of its region."""
        for store, region in value.items():
            if not region.strip() or region != region.strip() or len(region) > MAX_REGION:
                raise ValueError(f"store {store!r}: a region is a name of 1 to {MAX_REGION} "
                                 f"characters without surrounding spaces, not {region!r}")
        stores = info.data.get("stores") or []
        unknown = sorted(set(value) - set(stores)) if stores else []
        if unknown:
            raise ValueError(f"names stores that are not in SERVICECORE_STORES: "
                             f"{', '.join(unknown)}")
        return value

    def secret(self) -> str:
        """The JWT secret: configured, or one generated once and kept under data_dir."""
        if self.jwt_secret:
            return self.jwt_secret
        path = self.data_dir / "jwt-secret"
        if not path.exists():
            import secrets

            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()
