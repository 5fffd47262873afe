"""Every setting of the service, read from the environment once by ``main.py`` and passed down.

Names follow the pinned contract: ``DATABASE_URL``, ``REDIS_URL`` and ``RAY_ADDRESS`` choose real
services (unset means: start embedded ones under ``BOOKING_DATA_DIR``), and every other knob is a
``BOOKING_*`` variable. Nothing else in the code base reads the environment.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKING_", extra="ignore", frozen=True)

    # Services. Unset URLs mean "embedded": main.py starts them under data_dir.
    database_url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL"))
    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("REDIS_URL"))
    ray_address: str | None = Field(default=None, validation_alias=AliasChoices("RAY_ADDRESS"))
    data_dir: Path = Path(".data")

    # Accounts.
    admin_email: str | None = None
    admin_password: SecretStr | None = None
    secret_key: SecretStr | None = Field(
        default=None, description="Signs access tokens; generated once and kept in data_dir when unset."
    )
    token_ttl_seconds: int = Field(default=3600, ge=60)

    # Booking rules.
    hold_ttl_seconds: int = Field(default=600, ge=1)
    max_seats_per_user: int = Field(default=10, ge=1)
    max_seats_per_request: int = Field(default=10, ge=1)
    max_hold_extensions: int = Field(default=2, ge=0)
    rate_limit_per_minute: int = Field(default=600, ge=0)
    rate_limit_window_seconds: int = Field(
        default=60, ge=1, le=3600, description="sliding window the per-minute rate is counted over"
    )

    # Runtime.
    ray_namespace: str = "booking"
    redis_prefix: str = "booking:"
    seed_demo_catalog: bool = True
    batch_max_size: int = Field(default=256, ge=1)
    db_timeout_seconds: float = Field(default=5.0, gt=0)
    actor_call_timeout_seconds: float = Field(default=10.0, gt=0)
    seatmap_publish_interval_seconds: float = Field(default=0.2, gt=0)
    seatmap_max_staleness_seconds: float = Field(default=2.0, gt=0)
    show_actor_num_cpus: float = Field(default=0.0, ge=0)


def sqlalchemy_url(url: str) -> str:
    """Normalise a PostgreSQL URL to the psycopg 3 driver SQLAlchemy should use."""
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url.split('@')[-1]}")


def libpq_url(url: str) -> str:
    """The same URL in the plain form psycopg's own connect() takes."""
    return "postgresql://" + sqlalchemy_url(url)[len("postgresql+psycopg://") :]
