"""The provider's requests-per-minute budget, shared by every worker process through Redis.

Built on Dramatiq's Redis-backed BucketRateLimiter: calls are paced evenly (for 300/min, one per
202 ms bucket) rather than let through in bursts. Buckets are sized so that the calls of every
bucket a span of 60 s plus SEND_JITTER_MS can touch, however it is aligned, add up to at most
`per_minute`: never more than the limit in any sliding minute at the provider, even when calls
reach it up to SEND_JITTER_MS later or sooner than one another, at 297/min for 300. (Dramatiq's
WindowRateLimiter needs 61
one-second buckets for that guarantee, which caps it at 295/min, and it lets a whole minute's
budget out in one second, which a provider enforcing its limit over shorter periods answers
with 429s.)

A task held back here *waits*: raising RateLimitExceeded would spend a Dramatiq retry (the one a
429 is owed) and could end in a refund for what is only our own throttling. The wait is bounded by
the task's deadline (`wearon.task_deadline`).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

from dramatiq.rate_limits import BucketRateLimiter
from dramatiq.rate_limits.backends import RedisBackend
from redis import Redis, RedisError

from wearon import keys, metrics, task_deadline
from wearon.errors import InfrastructureError

#: A waiter wakes up to this far (as a share of one bucket, at random) past the next bucket's start,
#: so the waiters of every process do not all ask Redis at the same instant; the longer it has
#: waited, the earlier it wakes, so the oldest waiters tend to take the next slots.
WAKE_JITTER = 0.25
#: Waiters poll once a bucket: shorter buckets (high limits) take several calls each instead.
MIN_BUCKET_MS = 100
#: How much the time from passing the limiter to reaching the provider may differ between calls
#: (building and sending the request). With no allowance, 301 calls reached the bench's provider
#: stand-in in one sliding minute.
SEND_JITTER_MS = 350


def bucket_plan(per_minute: int, period_ms: int = 60_000, jitter_ms: int = SEND_JITTER_MS) -> tuple[int, int]:
    """(bucket length in ms, calls per bucket). A span of `period_ms + jitter_ms` touches at most
    ceil(span / bucket) + 1 buckets; with `calls` each, that must not exceed `per_minute`."""
    if per_minute < 2:
        raise ValueError("per_minute must be at least 2 for a paced limit")
    calls = max(1, min(per_minute // 2, per_minute * MIN_BUCKET_MS // period_ms))
    while True:
        bucket_ms = math.ceil((period_ms + jitter_ms) / (per_minute // calls - 1))
        if bucket_ms >= MIN_BUCKET_MS or per_minute // (calls + 1) < 2:
            return bucket_ms, calls
        calls += 1


class ProviderRateGate:
    def __init__(
        self,
        client: Redis,
        *,
        per_minute: int,
        key: str = keys.PROVIDER_RATE_LIMIT,
        period_ms: int = 60_000,
        jitter_ms: int = SEND_JITTER_MS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._bucket_ms, calls = bucket_plan(per_minute, period_ms, jitter_ms)
        backend = RedisBackend(client=client)
        self._limiter = BucketRateLimiter(backend, key, limit=calls, bucket=self._bucket_ms)
        self._sleep = sleep

    def wait(self) -> None:
        """Block until one request may be sent."""
        started = time.monotonic()
        while not self._try_acquire():
            task_deadline.check("a provider rate slot")
            self._sleep(task_deadline.cut(self._until_next_bucket_s(waited_s=time.monotonic() - started)))
        metrics.RATE_LIMIT_WAIT_SECONDS.observe(time.monotonic() - started)

    def _until_next_bucket_s(self, waited_s: float) -> float:
        now_ms = time.time() * 1000
        to_next = self._bucket_ms - now_ms % self._bucket_ms
        late = random.random() * WAKE_JITTER * self._bucket_ms / (1 + waited_s)
        return (to_next + late) / 1000

    def _try_acquire(self) -> bool:
        try:
            with self._limiter.acquire(raise_on_failure=False) as acquired:
                return bool(acquired)
        except RedisError as exc:
            raise InfrastructureError(f"rate limiter unavailable: {type(exc).__name__}") from None
