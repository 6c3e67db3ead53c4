"""GET /health: is the pose model loaded, does Redis answer? Fast even when Redis does not."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse

from wearon.http.schemas import HealthChecks, HealthResponse
from wearon.metrics import API_HEALTH_CHECK_OK, API_HEALTH_OK

#: The whole Redis check, connect included, must fit well inside /health's 200 ms budget.
REDIS_CHECK_TIMEOUT_S = 0.1


async def health(request: Request) -> JSONResponse:
    """200 with "ok" or "degraded" (Redis down: sizing still works); 503 when the model is not
    loaded, since then no estimate can be served."""
    model_loaded = request.app.state.estimator.ready
    redis_ok = await redis_answers(request.app.state.redis)
    checks = HealthChecks(
        model="ok" if model_loaded else "not_loaded", redis="ok" if redis_ok else "unreachable"
    )
    body = HealthResponse(status="ok" if model_loaded and redis_ok else "degraded", checks=checks)
    API_HEALTH_OK.set(1 if body.status == "ok" else 0)
    API_HEALTH_CHECK_OK.labels(check="model").set(1 if model_loaded else 0)
    API_HEALTH_CHECK_OK.labels(check="redis").set(1 if redis_ok else 0)
    return JSONResponse(body.model_dump(), status_code=200 if model_loaded else 503)


async def redis_answers(client: Redis | None) -> bool:
    if client is None:
        return False
    try:
        async with asyncio.timeout(REDIS_CHECK_TIMEOUT_S):
            return bool(await client.ping())
    except (RedisError, OSError, TimeoutError):
        return False
