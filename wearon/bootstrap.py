"""Wiring: the one place that turns settings into objects.

Every entry point reads the settings once and hands them here: the worker and the scheduler
(`wearon.worker.setup`), the bridge (`wearon.bridge.__main__`), the API (its lifespan) and the
operator's tool (`wearon.admin`). Nothing
is built when a module is imported.

Supabase when SUPABASE_URL is set, else the embedded backend (SQLite + local files);
OpenAI when OPENAI_API_KEY is set, else the local development stand-in provider;
RabbitMQ when the broker URL is amqp(s)://, else Dramatiq's Redis broker.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any
from uuid import UUID

import dramatiq
import redis
import redis.asyncio
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.errors import BrokerConnectionError
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Middleware,
    Pipelines,
    ShutdownNotifications,
    TimeLimit,
)
from dramatiq.middleware.prometheus import Prometheus
from loguru import logger
from periodiq import PeriodiqMiddleware
from redis.backoff import NoBackoff
from redis.retry import Retry
from starlette.concurrency import run_in_threadpool

from wearon.actors import generation, maintenance, refunds, runtime
from wearon.actors.broker import (
    HEARTBEAT_TIMEOUT_MS,
    MAINTENANCE_CHANCE,
    MAX_RETRIES,
    DurableRetries,
    PipelinedRedisBroker,
    enqueue_until_sent,
    pipelined,
    should_retry,
)
from wearon.actors.middleware import task_of
from wearon.actors.middleware.dead_letter_errors import DeadLetterErrors
from wearon.actors.middleware.error_ids import ErrorIds
from wearon.actors.middleware.log_context import LogContext
from wearon.actors.middleware.refund import RefundOnFinalFailure
from wearon.actors.queue_depths import QUEUES as DRAMATIQ_QUEUES
from wearon.adapters.blobs.local import LocalBlobStore, load_or_create_key
from wearon.adapters.dead_letters.bridge import BridgeDeadLetters, raw_payload
from wearon.adapters.dead_letters.dramatiq import DramatiqDeadLetters
from wearon.adapters.download import SafeDownloader
from wearon.adapters.intake import IntakeSwitch
from wearon.adapters.kept_results import RedisResultKeeper
from wearon.adapters.lease_renewer import ThreadedLeaseRenewer
from wearon.adapters.local_provider import LocalCompositeProvider
from wearon.adapters.openai_images import OpenAIImageProvider
from wearon.adapters.probes import check_provider_key, rabbitmq_answers, redis_answers
from wearon.adapters.queue_stats import QueueStats
from wearon.adapters.rate_gate import ProviderRateGate
from wearon.adapters.store.sqlite import SqliteSessionStore
from wearon.bridge.bridge import Bridge
from wearon.bridge.depths import DepthReporter
from wearon.bridge.retention import DeadLetterRetention
from wearon.domain.failure import FailureReason
from wearon.domain.task import Channel, GenerationTask, parse_task
from wearon.log import Redactor, configure_logging
from wearon.ports import (
    BlobStore,
    BodyDetector,
    DeadLetters,
    ImageFetcher,
    ImageProvider,
    OperatorStore,
)
from wearon.services import Services, checks
from wearon.services.dead_letters import DeadLetterService
from wearon.services.generation import GenerationService
from wearon.services.sizing import SizeEstimator
from wearon.settings import Settings
from wearon.stderr_capture import capture_stderr

#: Short socket timeouts: a Redis outage must make callers fail fast and retry, not hang.
REDIS_TIMEOUT_S = 5.0
#: Every command we send is short (no blocking reads but the bridge's 1 s BLMOVE).
REDIS_MAX_CONNECTIONS = 32
#: The API's /health must answer in well under 200 ms with Redis down: connect and read time out
#: fast, and a failed ping is not retried.
API_REDIS_TIMEOUT_S = 0.1


# --- the worker's services ---------------------------------------------------------------------


def redis_client(settings: Settings, url: str | None = None) -> redis.Redis:
    """One pool per process (on REDIS_URL, or on `url`: the broker's). A thread that finds every
    connection busy waits for one (up to the timeout): redis-py's default pool raises
    MaxConnectionsError past 100, which a worker with more threads than that reached on the rate
    limiter."""
    pool = redis.BlockingConnectionPool.from_url(
        url or settings.redis_url,
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
    generation_service = GenerationService(
        store=store,
        blobs=blobs,
        provider=build_provider(settings, client),
        fetcher=build_fetcher(settings),
        # Until the stuck-session sweep has failed the session, an attempt may still store it.
        kept=RedisResultKeeper(client, ttl_s=settings.stuck_session_after_s + settings.task_time_limit_s),
        leases=ThreadedLeaseRenewer(store),
        signed_url_ttl_s=settings.signed_url_ttl_s,
    )
    return Services(settings=settings, redis=client, store=store, blobs=blobs, generation=generation_service)


def build_storage(settings: Settings) -> tuple[OperatorStore, BlobStore]:
    if settings.uses_supabase:
        return _supabase_storage(settings)
    return SqliteSessionStore(settings.local_data_dir / "wearon.sqlite3"), build_local_blobs(settings)


def build_local_blobs(settings: Settings) -> LocalBlobStore:
    """The embedded backend's files, and the key its signed links share across processes."""
    data = settings.local_data_dir
    data.mkdir(parents=True, exist_ok=True)
    key = load_or_create_key(data / "signing.key")
    return LocalBlobStore(data / "files", settings.public_base_url, key)


def _supabase_storage(settings: Settings) -> tuple[OperatorStore, BlobStore]:
    from wearon.adapters.blobs.supabase import SupabaseBlobStore
    from wearon.adapters.store.supabase import SupabaseSessionStore
    from wearon.adapters.supabase_client import create_supabase_client

    assert settings.supabase_service_role_key is not None  # enforced by Settings
    client = create_supabase_client(settings.supabase_url, settings.supabase_service_role_key)
    return SupabaseSessionStore(client), SupabaseBlobStore(client, settings.supabase_bucket)


def check_deployment(settings: Settings) -> list[checks.Verdict]:
    """The database contract and the results' storage, as this deployment's settings reach them."""
    store, blobs = build_storage(settings)
    if settings.uses_supabase:
        where = f"bucket {settings.supabase_bucket!r}"
    else:
        where = f"folder {settings.local_data_dir / 'files'}"
    return checks.deployment(store, blobs, where)


def check_everything(settings: Settings) -> list[checks.Verdict]:
    """`wearon-admin check`: the deployment's checks, then Redis, the broker and the provider key."""
    verdicts = check_deployment(settings)
    verdicts.append(checks.judge("redis", lambda: redis_answers(redis_client(settings), "Redis")))
    if settings.effective_broker_url != settings.redis_url:
        verdicts.append(checks.judge("broker", lambda: _broker_answers(settings)))
    if settings.openai_api_key is not None:
        key = settings.openai_api_key
        verdicts.append(checks.judge("provider", lambda: check_provider_key(settings.openai_base_url, key)))
    return verdicts


def _broker_answers(settings: Settings) -> str:
    url = settings.effective_broker_url
    if url.startswith(("amqp://", "amqps://")):
        return rabbitmq_answers(url)
    return redis_answers(redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_S), "the broker's Redis")


def exit_if_misconfigured(process: str, settings: Settings) -> None:
    """At a process's start: exit (EX_CONFIG) with one line naming what is wrong, before taking
    any task. A dependency that does not answer is an outage: logged, and waited out as at run time."""
    verdicts = check_deployment(settings)
    for verdict in verdicts:
        if not verdict.reached:
            logger.warning("{} start-up check: {}; starting anyway", process, verdict.line)
    wrong = checks.misconfigured(verdicts)
    if wrong is not None:
        logger.error("{} cannot start: {}", process, wrong)
        raise SystemExit(os.EX_CONFIG)


def build_provider(settings: Settings, client: redis.Redis) -> ImageProvider:
    if settings.openai_api_key is None:
        return LocalCompositeProvider()
    gate = ProviderRateGate(
        client, per_minute=settings.openai_rate_limit_per_minute, margin_ms=settings.openai_rate_margin_ms
    )
    return OpenAIImageProvider(
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key,
        model=settings.openai_model,
        max_retries=settings.openai_max_retries,
        timeout_s=settings.openai_timeout_s,
        gate=gate,
    )


def build_fetcher(settings: Settings) -> SafeDownloader:
    return SafeDownloader(
        allowed_hosts=settings.allowed_download_hosts,
        allow_private_networks=settings.download_allow_private_networks,
    )


def configure_process_logging(service: str, settings: Settings) -> None:
    """An entry point's logging, before its first line: JSON lines scrubbed of our secrets, and
    every line on file descriptor 2 (native libraries, Python's own stderr) made one of them."""
    secrets = secrets_of(settings)
    configure_logging(service, level=settings.log_level, secrets=secrets)
    capture_stderr(service, Redactor(secrets), level=settings.log_level)


def secrets_of(settings: Settings) -> list[str]:
    """Values no log line may contain."""
    found = [s.get_secret_value() for s in (settings.openai_api_key, settings.supabase_service_role_key) if s]
    for url in (settings.redis_url, settings.broker_url):
        password = redis.connection.parse_url(url).get("password") if url.startswith("redis") else None
        if password:
            found.append(str(password))
    return found


# --- Dramatiq: the broker and the actors declared on it -------------------------------------------


@dataclass(frozen=True)
class Actors:
    generate: dramatiq.Actor[Any, Any]
    refund_session: dramatiq.Actor[Any, Any]
    sweep_stuck_sessions: dramatiq.Actor[Any, Any]


@dataclass(frozen=True)
class Messaging:
    broker: dramatiq.Broker
    actors: Actors


def setup_worker(settings: Settings) -> Messaging:
    """A worker (or scheduler) process: the global broker with every actor, and the services the
    actors build on first use, after Dramatiq has forked the process."""
    runtime.configure(lambda: build_services(settings))
    return build_messaging(settings)


def build_messaging(settings: Settings) -> Messaging:
    """Dramatiq's global broker, with our middleware and every actor declared on it."""
    broker = _broker(settings, _middleware(settings))
    dramatiq.set_broker(broker)
    refund_session = _declare(broker, refunds.refund_session, refunds.OPTIONS)

    def defer_refund(channel: Channel, session_id: UUID, reason: FailureReason, error_id: str | None) -> None:
        # The error id only when there is one: the others stay readable by the previous release's
        # refund actor during a deploy.
        args = (channel.value, str(session_id), reason.value, *([error_id] if error_id else []))
        enqueue_until_sent(broker, refund_session.message(*args))

    # Last in the stack; added once the refund actor it hands deferred refunds to exists.
    broker.add_middleware(RefundOnFinalFailure(lambda: runtime.services().store, defer_refund))
    if isinstance(broker, RedisBroker):
        errors = dramatiq_dead_letters(broker)
        broker.add_middleware(DeadLetterErrors(errors.record_error, Redactor(secrets_of(settings))))
    actors = Actors(
        generate=_declare(broker, generation.generate, generation.OPTIONS),
        refund_session=refund_session,
        sweep_stuck_sessions=_declare(broker, maintenance.sweep_stuck_sessions, maintenance.OPTIONS),
    )
    return Messaging(broker, actors)


def _declare(
    broker: dramatiq.Broker, fn: Callable[..., None], options: dict[str, Any]
) -> dramatiq.Actor[Any, Any]:
    return dramatiq.actor(broker=broker, **options)(fn)


def _middleware(settings: Settings) -> list[Middleware]:
    def configure_worker_logging() -> None:
        configure_logging("worker", level=settings.log_level, secrets=secrets_of(settings))

    return [
        Prometheus(),
        AgeLimit(),
        TimeLimit(time_limit=settings.task_time_limit_s * 1000),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        CurrentMessage(),
        DurableRetries(max_retries=MAX_RETRIES, retry_when=should_retry),
        PeriodiqMiddleware(skip_delay=30),
        ErrorIds(),
        LogContext(configure_worker_logging),
    ]


def _broker(settings: Settings, middleware: list[Middleware]) -> dramatiq.Broker:
    url = settings.effective_broker_url
    if url.startswith(("amqp://", "amqps://")):
        return RabbitmqBroker(url=url, middleware=middleware)
    return PipelinedRedisBroker(
        url=url,
        namespace=settings.dramatiq_namespace,
        heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
        maintenance_chance=MAINTENANCE_CHANCE,
        dead_message_ttl=_retention(settings) // timedelta(milliseconds=1),
        middleware=middleware,
    )


def _retention(settings: Settings) -> timedelta:
    return timedelta(days=settings.dead_letter_retention_days)


def dramatiq_dead_letters(broker: RedisBroker) -> DramatiqDeadLetters:
    """Dramatiq's dead letters on its Redis broker, readable and replayable onto it."""
    return DramatiqDeadLetters(
        broker.client,
        broker.namespace,
        DRAMATIQ_QUEUES,
        task_of=partial(task_of, broker),
        enqueue=lambda message: enqueue_until_sent(broker, message),
    )


# --- the bridge ----------------------------------------------------------------------------------


def build_bridge(settings: Settings) -> tuple[Bridge, DepthReporter]:
    """The bridge from the Next.js API's list into Dramatiq, and its queue-depth reporter."""
    messaging = build_messaging(settings)
    generate = messaging.actors.generate
    client = redis_client(settings)
    store, _ = build_storage(settings)

    def enqueue(task: GenerationTask) -> None:
        generate.send(task.model_dump(mode="json"))

    bridge = Bridge(
        client,
        enqueue=enqueue,
        refund=lambda channel, session_id, reason: store.fail_and_refund(
            channel, session_id, reason.user_message
        ),
        batch=lambda: pipelined(messaging.broker),
        bridge_id=settings.bridge_id,
        broker_errors=(BrokerConnectionError,),
    )
    return bridge, DepthReporter(client, messaging.broker, bridge_id=settings.bridge_id)


def build_retention(settings: Settings) -> DeadLetterRetention:
    """The bridge process's pruning of dead letters past the retention, and their oldest age."""
    dramatiq_store = None
    if not settings.effective_broker_url.startswith(("amqp://", "amqps://")):
        broker_redis = redis_client(settings, settings.effective_broker_url)
        dramatiq_store = DramatiqDeadLetters(broker_redis, settings.dramatiq_namespace, DRAMATIQ_QUEUES)
    return DeadLetterRetention(
        BridgeDeadLetters(redis_client(settings)),
        dramatiq_store,
        queues=DRAMATIQ_QUEUES,
        retention=_retention(settings),
    )


# --- the operator's tool (wearon-admin) ----------------------------------------------------------


@dataclass(frozen=True)
class Admin:
    store: OperatorStore
    dead_letters: DeadLetterService
    queues: QueueStats
    intake: IntakeSwitch


def build_admin(settings: Settings) -> Admin:
    """What `wearon-admin` works on: the session store, both dead-letter stores (Dramatiq's on its
    Redis broker only), the queues and the intake switch. The actors are declared, so a replayed
    message goes to its queue and a generation's session can be read from it."""
    broker = build_messaging(settings).broker
    client = redis_client(settings)
    store, _ = build_storage(settings)
    redis_broker = broker if isinstance(broker, RedisBroker) else None
    stores: list[DeadLetters] = [BridgeDeadLetters(client)]
    if redis_broker is not None:
        stores.append(dramatiq_dead_letters(redis_broker))
    return Admin(
        store=store,
        dead_letters=DeadLetterService(stores, store, lambda letter: parse_task(raw_payload(letter))),
        queues=QueueStats(
            client,
            redis_broker.client if redis_broker else None,
            settings.dramatiq_namespace,
            DRAMATIQ_QUEUES,
        ),
        intake=IntakeSwitch(client),
    )


# --- the size API -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiResources:
    redis: redis.asyncio.Redis
    estimator: SizeEstimator


async def open_api_resources(
    settings: Settings,
    owned: AsyncExitStack,
    *,
    detector: BodyDetector | None = None,
    fetcher: ImageFetcher | None = None,
    client: redis.asyncio.Redis | None = None,
) -> ApiResources:
    """The API's pose models (loaded once, here), Redis client and estimator. Pieces may be given
    (tests share one loaded pose pool across apps); whatever is opened here is closed by `owned`."""
    detector = detector or await _load_poses(owned)
    client = client or _api_redis(settings, owned)
    estimator = SizeEstimator(fetcher=fetcher or _api_fetcher(settings, owned), detector=detector)
    return ApiResources(redis=client, estimator=estimator)


async def _load_poses(owned: AsyncExitStack) -> BodyDetector:
    from wearon.adapters.pose import PosePool  # MediaPipe and OpenCV: only the API process needs them

    pool = PosePool()
    await run_in_threadpool(pool.load)
    owned.push_async_callback(run_in_threadpool, pool.close)
    return pool


def _api_redis(settings: Settings, owned: AsyncExitStack) -> redis.asyncio.Redis:
    client = redis.asyncio.Redis.from_url(
        settings.redis_url,
        socket_timeout=API_REDIS_TIMEOUT_S,
        socket_connect_timeout=API_REDIS_TIMEOUT_S,
        retry=Retry(NoBackoff(), retries=0),
    )
    owned.push_async_callback(client.aclose)
    return client


def _api_fetcher(settings: Settings, owned: AsyncExitStack) -> ImageFetcher:
    downloader = build_fetcher(settings)
    owned.callback(downloader.close)
    return downloader
