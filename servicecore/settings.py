"""Every setting in one place (environment variables; see README "Configuration")."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SERVICECORE_", extra="ignore")

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "SERVICECORE_DATABASE_URL"),
        description="External PostgreSQL; unset = embedded PostgreSQL under data_dir.",
    )
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "SERVICECORE_KAFKA_BOOTSTRAP_SERVERS"),
    )
    data_dir: Path = Path("var")
    jwt_secret: str | None = None
    store_timezone: str = "Asia/Shanghai"
    vat_rate: Decimal = Decimal("0.13")
    host: str = "127.0.0.1"
    port: int = 8000
    in_process_projections: bool = True
    projection_batch_size: int = 500
    create_tables: bool = True
    pool_size: int = 10
    read_wait_max_seconds: float = 5.0
    scrap_approval_qty: Decimal = Field(
        default=Decimal(10), description="scrap above this quantity waits for a manager")
    scrap_approval_value: Decimal = Field(
        default=Decimal("500.00"), description="scrap above this FIFO value (CNY) waits")
    discount_approval_rate: Decimal = Field(
        default=Decimal("0.10"), description="a discount above this share of the gross needs a "
        "manager")
    follow_up_days: int = Field(default=3, ge=0, le=60,
                                description="the follow-up call is due this many days after delivery")
    stocktake_approval_value: Decimal = Field(
        default=Decimal("500.00"), description="a count variance above this value (CNY) waits")

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
