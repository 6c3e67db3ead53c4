"""Settings, read once from the environment (and `.env`) into one immutable object.

Everything else takes what it needs as arguments; nothing below `wearon/` reads the
environment. Secrets are `SecretStr`, so they print as `**********` in reprs and logs.
"""

from __future__ import annotations

import socket
import sys
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from wearon.validation import describe

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"


class Settings(BaseSettings):
    # An empty variable means the default, as `${NAME:-default}` does in compose: a `NAME=` line
    # copied from .env.example (or passed through by docker-compose.prod.yml) changes nothing.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True, env_ignore_empty=True)

    redis_url: str = "redis://127.0.0.1:6379/0"
    # Dramatiq's transport; empty means REDIS_URL. An amqp:// URL selects RabbitMQ.
    broker_url: str = ""
    dramatiq_namespace: str = "dramatiq"

    supabase_url: str = ""
    supabase_service_role_key: SecretStr | None = None
    supabase_bucket: str = "images"

    openai_api_key: SecretStr | None = None
    openai_base_url: str = DEFAULT_OPENAI_BASE_URL
    openai_model: str = "gpt-image-1.5"
    openai_max_retries: int = Field(3, ge=0, le=10)
    openai_timeout_s: float = Field(120.0, gt=0)
    openai_rate_limit_per_minute: int = Field(300, ge=2)
    # How much later than its rate slot a call may reach the provider (wearon.adapters.rate_gate).
    openai_rate_margin_ms: int = Field(600, ge=0, le=30_000)

    worker_concurrency: int = Field(128, ge=1)
    # The hard cap on one generation, waits on our rate limiter included.
    task_time_limit_s: int = Field(300, ge=1)
    download_allowed_hosts: Annotated[tuple[str, ...], NoDecode] = ()
    download_allow_private_networks: bool = False
    stuck_session_after_s: int = Field(900, ge=60)
    # How long our own infrastructure (database, storage) may be down before a task is failed and refunded.
    infra_retry_for_s: int = Field(600, ge=0)
    signed_url_ttl_s: int = Field(6 * 3600, ge=60)
    # Both dead-letter stores keep a dead letter this long; an alert fires after a day.
    dead_letter_retention_days: int = Field(30, ge=2)

    local_data_dir: Path = Path(".wearon-data")
    public_base_url: str = "http://127.0.0.1:8000"
    # Names the bridge's in-flight list. Each host (container) is its own bridge by default: a
    # bridge restarted on its host re-drives what it left in flight, and no other bridge does.
    bridge_id: str = Field(default_factory=lambda: socket.gethostname(), min_length=1)
    bridge_metrics_port: int = 9101
    scheduler_metrics_port: int = 9102
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="before")
    @classmethod
    def _split_hosts(cls, data: dict[str, object]) -> dict[str, object]:
        hosts = data.get("download_allowed_hosts")
        if isinstance(hosts, str):
            data["download_allowed_hosts"] = tuple(h.strip().lower() for h in hosts.split(",") if h.strip())
        return data

    @model_validator(mode="after")
    def _supabase_needs_key(self) -> Settings:
        if self.supabase_url and self.supabase_service_role_key is None:
            raise ValueError("SUPABASE_SERVICE_ROLE_KEY is required when SUPABASE_URL is set")
        return self

    @property
    def uses_supabase(self) -> bool:
        return bool(self.supabase_url)

    @property
    def uses_openai(self) -> bool:
        return self.openai_api_key is not None

    @property
    def effective_broker_url(self) -> str:
        return self.broker_url or self.redis_url

    @cached_property
    def allowed_download_hosts(self) -> frozenset[str]:
        """The explicit allow-list, or by default the Supabase project's own host."""
        if self.download_allowed_hosts:
            return frozenset(self.download_allowed_hosts)
        default = urlsplit(self.supabase_url).hostname if self.supabase_url else None
        return frozenset({default} if default else ())


def load_settings() -> Settings:
    """Read the settings, or end the process with one line naming what is wrong."""
    try:
        return Settings()
    except ValidationError as exc:
        sys.exit(f"wearon: invalid configuration: {describe(exc, env_names=True)}")
