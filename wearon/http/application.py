"""The Starlette application: routes, middleware and error handlers, with its resources opened
by the lifespan (the pose models load there, once, never at import or per request).

Pieces can be injected (tests share one loaded pose pool across apps); whatever the lifespan
opens itself, it also closes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from loguru import logger
from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from wearon.adapters.pose import PosePool
from wearon.bootstrap import build_fetcher, build_local_blobs, secrets_of
from wearon.http.errors import EXCEPTION_HANDLERS
from wearon.http.estimator import BodyDetector, SizeEstimator
from wearon.http.files import files_route
from wearon.http.metrics import MetricsMiddleware
from wearon.http.request_id import RequestIdMiddleware
from wearon.http.routes import ROUTES
from wearon.log import configure_logging
from wearon.ports import ImageFetcher
from wearon.settings import Settings, load_settings

#: /health must answer in well under 200 ms with Redis down: connect and read time out fast,
#: and a failed ping is not retried.
REDIS_TIMEOUT_S = 0.1


def create_app(
    settings: Settings | None = None,
    *,
    detector: BodyDetector | None = None,
    fetcher: ImageFetcher | None = None,
    redis: Redis | None = None,
) -> Starlette:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        configure_logging("api", level=settings.log_level, secrets=secrets_of(settings))
        async with AsyncExitStack() as owned:
            app.state.detector = detector or await _load_poses(owned)
            app.state.redis = redis or _open_redis(owned, settings)
            app.state.estimator = SizeEstimator(
                fetcher=fetcher or _open_fetcher(owned, settings), detector=app.state.detector
            )
            logger.info("size API ready")
            yield

    routes = [*ROUTES, *local_file_routes(settings)]
    return Starlette(
        routes=routes,
        middleware=[Middleware(RequestIdMiddleware), Middleware(MetricsMiddleware, routes=routes)],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )


def local_file_routes(settings: Settings) -> list[BaseRoute]:
    """With the embedded backend, this API also serves its signed `/files/...` result links."""
    if settings.uses_supabase:
        return []
    return [files_route(build_local_blobs(settings))]


async def _load_poses(owned: AsyncExitStack) -> PosePool:
    pool = PosePool()
    await run_in_threadpool(pool.load)
    owned.push_async_callback(run_in_threadpool, pool.close)
    return pool


def _open_redis(owned: AsyncExitStack, settings: Settings) -> Redis:
    client = Redis.from_url(
        settings.redis_url,
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
        retry=Retry(NoBackoff(), retries=0),
    )
    owned.push_async_callback(client.aclose)
    return client


def _open_fetcher(owned: AsyncExitStack, settings: Settings) -> ImageFetcher:
    downloader = build_fetcher(settings)
    owned.callback(downloader.close)
    return downloader
