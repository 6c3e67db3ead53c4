"""The provider's requests-per-minute budget, shared by every worker process through Redis.

Fixed buckets in Redis: calls are paced evenly (for 300/min, one per 202.676 ms bucket) rather than
let through in bursts. A bucket is chosen and counted in one Lua script, by the Redis server's
clock: Dramatiq's BucketRateLimiter, which this replaces, names the bucket by the caller's clock
and lets its key expire when the bucket ends, so a thread held up between reading the clock and
reaching Redis (a busy box) found its bucket's key gone and took a second slot in it (1,020
calls in 175 s where 862 fit, in the bench under a busy loop). Buckets are sized so that the calls of every
bucket a span of 60 s plus `margin_ms` can touch, however it is aligned, add up to at most
`per_minute`: never more than the limit in any sliding minute at the provider, as long as no call
reaches it more than `margin_ms` after its slot (296/min for 300 at the default 600 ms, 593/min for
600). Buckets are sized in microseconds: whole milliseconds would round a 101.17 ms bucket up to 102
and lose 5 calls a minute at 600/min.

That holds on a loaded box because a slot is checked again at the moment its request goes out
(`Slot.trace`, an httpcore hook as the request's head is written): a thread held up for longer
than half the margin between its slot and its send (CPU contention, the GIL, a new connection)
gives that slot up and takes a fresh one, so the time from slot to send is bounded, and the
other half of the margin is left for the request to reach the provider. The gap is measured
(`wearon_rate_slot_to_send_seconds`), and so are the slots given up.
(Dramatiq's WindowRateLimiter needs 61 one-second buckets for that guarantee, which caps it at
295/min, and it lets a whole minute's budget out in one second, which a provider enforcing its
limit over shorter periods answers with 429s.)

A task held back here *waits*: raising RateLimitExceeded would spend a Dramatiq retry (the one a
429 is owed) and could end in a refund for what is only our own throttling. The wait is bounded by
the task's deadline (`wearon.task_deadline`).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis import Redis, RedisError

from wearon import keys, metrics, task_deadline
from wearon.errors import InfrastructureError

#: A waiter wakes up to this far (as a share of one bucket, at random) past the next bucket's start,
#: so the waiters of every process do not all ask Redis at the same instant; the longer it has
#: waited, the earlier it wakes, so the oldest waiters tend to take the next slots.
WAKE_JITTER = 0.25
#: Waiters poll once a bucket: shorter buckets (high limits) take several calls each instead.
MIN_BUCKET_MS = 100
#: How much later than its slot a call may reach the provider (OPENAI_RATE_MARGIN_MS). With 350 ms
#: and no check at the send, 306 calls reached a strict provider in one sliding minute on a busy
#: 2-core box.
DEFAULT_MARGIN_MS = 600
#: Of the margin, the share a slot may age before its request starts going out.
SEND_SHARE = 0.5


def bucket_plan(
    per_minute: int, period_ms: int = 60_000, jitter_ms: int = DEFAULT_MARGIN_MS
) -> tuple[int, int]:
    """(bucket length in µs, calls per bucket). A span of `period_ms + jitter_ms` touches at most
    ceil(span / bucket) + 1 buckets; with `calls` each, that must not exceed `per_minute`."""
    if per_minute < 2:
        raise ValueError("per_minute must be at least 2 for a paced limit")
    calls = max(1, min(per_minute // 2, per_minute * MIN_BUCKET_MS // period_ms))
    while True:
        bucket_us = math.ceil((period_ms + jitter_ms) * 1000 / (per_minute // calls - 1))
        if bucket_us >= MIN_BUCKET_MS * 1000 or per_minute // (calls + 1) < 2:
            return bucket_us, calls
        calls += 1


#: KEYS[1] the limit's key; ARGV bucket_us, calls per bucket. Counts this call in the bucket the
#: server's clock is in; returns -1 when it fits, else the µs until the next bucket starts. The key
#: outlives its bucket, so a late call can never find it gone and count itself again. (Lua's
#: numbers are doubles: microseconds since 1970 are exact in them, but `tostring` would print
#: them as 1.7e+15, one key for many buckets; hence the format.)
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local bucket_us = tonumber(ARGV[1])
local start = now - now % bucket_us
local key = KEYS[1] .. '@' .. string.format('%.0f', start)
local n = redis.call('INCR', key)
if n == 1 then redis.call('PEXPIRE', key, math.ceil(4 * bucket_us / 1000)) end
if n <= tonumber(ARGV[2]) then return -1 end
return start + bucket_us - now
"""


@dataclass
class Slot:
    """A rate slot in hand, checked again as its request goes out."""

    gate: ProviderRateGate
    taken_at: float

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace hook: the request's head is about to be written."""
        if event.endswith("send_request_headers.started"):
            self.taken_at = self.gate.fresh(self.taken_at)


class ProviderRateGate:
    def __init__(
        self,
        client: Redis,
        *,
        per_minute: int,
        key: str = keys.PROVIDER_RATE_LIMIT,
        period_ms: int = 60_000,
        margin_ms: int = DEFAULT_MARGIN_MS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._bucket_us, self._calls = bucket_plan(per_minute, period_ms, margin_ms)
        self._max_age_s = margin_ms * SEND_SHARE / 1000
        self._key = key
        self._take = client.register_script(_TAKE)
        self._sleep = sleep

    def take(self) -> Slot:
        """Block until one request may be sent; pass the slot's `trace` to the request."""
        return Slot(self, self.wait())

    def wait(self) -> float:
        """Block until one request may be sent. Returns when (monotonic) the slot was asked for:
        the slot is no older than that, however long the answer took to come back."""
        started = time.monotonic()
        while True:
            asked_at = time.monotonic()
            to_next_us = self._try_acquire()
            if to_next_us < 0:
                break
            task_deadline.check("a provider rate slot")
            pause_s = self._wake_after_s(to_next_us, waited_s=time.monotonic() - started)
            self._sleep(task_deadline.cut(pause_s))
        metrics.RATE_LIMIT_WAIT_SECONDS.observe(time.monotonic() - started)
        return asked_at

    def fresh(self, taken_at: float) -> float:
        """At the send: a slot older than its share of the margin is given up for a new one.
        Returns when the slot in hand was taken."""
        while (age := time.monotonic() - taken_at) > self._max_age_s:
            metrics.RATE_SLOTS_RETAKEN.inc()
            taken_at = self.wait()
        metrics.RATE_SLOT_TO_SEND_SECONDS.observe(age)
        return taken_at

    def _wake_after_s(self, to_next_us: float, waited_s: float) -> float:
        late = random.random() * WAKE_JITTER * self._bucket_us / (1 + waited_s)
        return (to_next_us + late) / 1_000_000

    def _try_acquire(self) -> int:
        """-1 when a slot was taken, else the µs until the next bucket (by the server's clock)."""
        try:
            return int(self._take(keys=[self._key], args=[self._bucket_us, self._calls]))
        except RedisError as exc:
            raise InfrastructureError(f"rate limiter unavailable: {type(exc).__name__}") from None
