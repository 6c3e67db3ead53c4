"""Wiring: the one place that turns settings into adapters.

Supabase when SUPABASE_URL is set, else the embedded backend (SQLite + local files);
OpenAI when OPENAI_API_KEY is set, else the local development stand-in provider.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from wearon.adapters.blobs.local import LocalBlobStore, load_or_create_key
from wearon.adapters.download import SafeDownloader
from wearon.adapters.local_provider import LocalCompositeProvider
from wearon.adapters.openai_images import OpenAIImageProvider
from wearon.adapters.rate_gate import ProviderRateGate
from wearon.adapters.store.sqlite import SqliteSessionStore
from wearon.generation import GenerationService
from wearon.ports import BlobStore, ImageProvider, SessionStore
from wearon.settings import Settings

#: Short socket timeouts: a Redis outage must make callers fail fast and retry, not hang.
REDIS_TIMEOUT_S = 5.0
#: Every command we send is short (no blocking reads but the bridge's 1 s BLMOVE).
REDIS_MAX_CONNECTIONS = 32


@dataclass(frozen=True)
class Services:
    settings: Settings
    redis: redis.Redis
    store: SessionStore
    blobs: BlobStore
    generation: GenerationService


def redis_client(settings: Settings) -> redis.Redis:
    """One pool per process. A thread that finds every connection busy waits for one (up to the
    timeout): redis-py's default pool raises MaxConnectionsError past 100, which a worker with more
    threads than that reached on the rate limiter."""
    pool = redis.BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=REDIS_MAX_CONNECTIONS,
        timeout=REDIS_TIMEOUT_S,
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
        health_check_interval=30,
    )
    return redis.Redis(connection_pool=pool)


def build_services(settings: Settings) -> Services:
    client = redis_client(settings)
    store, blobs = build_storage(settings)
    generation = GenerationService(
        store=store,
        blobs=blobs,
        provider=build_provider(settings, client),
        fetcher=build_fetcher(settings),
        signed_url_ttl_s=settings.signed_url_ttl_s,
    )
    return Services(settings=settings, redis=client, store=store, blobs=blobs, generation=generation)


def build_storage(settings: Settings) -> tuple[SessionStore, BlobStore]:
    if settings.uses_supabase:
        return _supabase_storage(settings)
    return SqliteSessionStore(settings.local_data_dir / "wearon.sqlite3"), build_local_blobs(settings)


def build_local_blobs(settings: Settings) -> LocalBlobStore:
    """The embedded backend's files, and the key its signed links share across processes."""
    data = settings.local_data_dir
    data.mkdir(parents=True, exist_ok=True)
    key = load_or_create_key(data / "signing.key")
    return LocalBlobStore(data / "files", settings.public_base_url, key)


def _supabase_storage(settings: Settings) -> tuple[SessionStore, BlobStore]:
    from wearon.adapters.blobs.supabase import SupabaseBlobStore
    from wearon.adapters.store.supabase import SupabaseSessionStore
    from wearon.adapters.supabase_client import create_supabase_client

    assert settings.supabase_service_role_key is not None  # enforced by Settings
    client = create_supabase_client(settings.supabase_url, settings.supabase_service_role_key)
    return SupabaseSessionStore(client), SupabaseBlobStore(client, settings.supabase_bucket)


def build_provider(settings: Settings, client: redis.Redis) -> ImageProvider:
    if settings.openai_api_key is None:
        return LocalCompositeProvider()
    gate = ProviderRateGate(client, per_minute=settings.openai_rate_limit_per_minute)
    return OpenAIImageProvider(
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key,
        model=settings.openai_model,
        max_retries=settings.openai_max_retries,
        timeout_s=settings.openai_timeout_s,
        before_request=gate.wait,
    )


def build_fetcher(settings: Settings) -> SafeDownloader:
    return SafeDownloader(
        allowed_hosts=settings.allowed_download_hosts,
        allow_private_networks=settings.download_allow_private_networks,
    )


def secrets_of(settings: Settings) -> list[str]:
    """Values no log line may contain."""
    found = [s.get_secret_value() for s in (settings.openai_api_key, settings.supabase_service_role_key) if s]
    for url in (settings.redis_url, settings.broker_url):
        password = redis.connection.parse_url(url).get("password") if url.startswith("redis") else None
        if password:
            found.append(str(password))
    return found
