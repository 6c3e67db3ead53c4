"""The provider's requests-per-minute budget, shared by every worker process through Redis.

Built on Dramatiq's Redis-backed WindowRateLimiter. A task held back here *waits*: raising
RateLimitExceeded would spend a Dramatiq retry (the one a 429 is owed) and could end in a
refund for what is only our own throttling. The wait is bounded by the actor's time limit.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from dramatiq.rate_limits import WindowRateLimiter
from dramatiq.rate_limits.backends import RedisBackend
from redis import Redis, RedisError

from wearon import keys, metrics
from wearon.errors import InfrastructureError

#: Dramatiq's window is made of whole wall-clock seconds. Any 60 s span, however it is aligned,
#: lies inside 61 consecutive buckets, so counting over 61 keeps every sliding minute at the limit.
WINDOW_S = 61
#: Polling interval while the window is full; jittered so waiting threads do not move in step.
POLL_S = 0.2


class ProviderRateGate:
    def __init__(
        self,
        client: Redis,
        *,
        per_minute: int,
        key: str = keys.PROVIDER_RATE_LIMIT,
        window_s: int = WINDOW_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._limiter = WindowRateLimiter(RedisBackend(client=client), key, limit=per_minute, window=window_s)
        self._sleep = sleep

    def wait(self) -> None:
        """Block until one request may be sent."""
        started = time.monotonic()
        while not self._try_acquire():
            self._sleep(POLL_S * (0.5 + random.random()))
        metrics.RATE_LIMIT_WAIT_SECONDS.observe(time.monotonic() - started)

    def _try_acquire(self) -> bool:
        try:
            with self._limiter.acquire(raise_on_failure=False) as acquired:
                return bool(acquired)
        except RedisError as exc:
            raise InfrastructureError(f"rate limiter unavailable: {type(exc).__name__}") from None
