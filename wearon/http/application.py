"""The Starlette application: routes, middleware and error handlers, with its resources opened
by the lifespan through `wearon.bootstrap` (the pose models load there, once, never at import or
per request).

Pieces can be injected (tests share one loaded pose pool across apps); whatever the lifespan
opens itself, it also closes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from loguru import logger
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from wearon.bootstrap import build_local_blobs, open_api_resources, secrets_of
from wearon.http.error_handlers import EXCEPTION_HANDLERS
from wearon.http.files import files_route
from wearon.http.middleware import ObserveRequests
from wearon.http.routes import ROUTES
from wearon.log import configure_logging
from wearon.ports import BodyDetector, ImageFetcher
from wearon.settings import Settings, load_settings


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
            resources = await open_api_resources(
                settings, owned, detector=detector, fetcher=fetcher, client=redis
            )
            app.state.redis = resources.redis
            app.state.estimator = resources.estimator
            logger.info("size API ready")
            yield

    routes = [*ROUTES, *local_file_routes(settings)]
    return Starlette(
        routes=routes,
        middleware=[Middleware(ObserveRequests, routes=routes)],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )


def local_file_routes(settings: Settings) -> list[BaseRoute]:
    """With the embedded backend, this API also serves its signed `/files/...` result links."""
    if settings.uses_supabase:
        return []
    return [files_route(build_local_blobs(settings))]
