"""The shared provider rate limit, on the real Redis."""

from __future__ import annotations

import math
import threading
import time
from uuid import uuid4

import httpx
import pytest
import redis
from pydantic import SecretStr

from tests.standins.openai import API_KEY, OpenAIStandIn, max_in_window
from wearon.adapters.openai_images import OpenAIImageProvider
from wearon.adapters.rate_gate import DEFAULT_MARGIN_MS, MIN_BUCKET_MS, ProviderRateGate, bucket_plan
from wearon.errors import InfrastructureError, ProviderRateLimited


class StopWaiting(Exception):
    pass


def test_buckets_keep_every_sliding_minute_within_the_limit() -> None:
    # 300/min: one call per 202.676 ms; a span of 60.6 s touches at most ceil(60600/202.676) + 1 =
    # 300 buckets, so calls whose send delays differ by up to 0.6 s still fit any sliding minute
    assert bucket_plan(300) == (202_676, 1)
    assert math.ceil((60_000 + DEFAULT_MARGIN_MS) * 1000 / 202_676) + 1 <= 300
    # 600/min: 101.169 ms, 593 calls a minute (a bucket in whole ms, 102, would give 588)
    assert bucket_plan(600) == (101_169, 1)
    # High limits take several calls a bucket, so that waiters poll at most 10 times a second
    for per_minute in (2, 3, 10, 299, 300, 1000, 5000, 10**7):
        bucket_us, calls = bucket_plan(per_minute)
        assert calls * (math.ceil((60_000 + DEFAULT_MARGIN_MS) * 1000 / bucket_us) + 1) <= per_minute
        assert calls * 60_000_000 / bucket_us >= 0.9 * per_minute or per_minute <= 10
        assert bucket_us >= MIN_BUCKET_MS * 1000
    with pytest.raises(ValueError):
        bucket_plan(1)


#: How much later than another a thread may note the time it passed the gate: on a busy machine
#: (a shared box, the suite's parallel groups) a thread can wait tens of ms for a CPU, which with
#: no allowance reads as an 11th call in a second. Production allows its send delays the same way.
NOTING_JITTER_MS = 150


def test_concurrent_threads_never_exceed_the_limit_in_any_sliding_period(redis_client: redis.Redis) -> None:
    # Given many threads, in two gates (two worker processes) on one key, 10 calls per 1 s period
    gates = [
        ProviderRateGate(
            redis_client, per_minute=10, key="test:paced", period_ms=1000, margin_ms=NOTING_JITTER_MS
        )
        for _ in range(2)
    ]
    passed: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + 4.0

    def call(gate: ProviderRateGate) -> None:
        while time.monotonic() < deadline:
            gate.wait()
            with lock:
                passed.append(time.monotonic())

    threads = [threading.Thread(target=call, args=(gates[n % 2],)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    # Then no sliding second saw more than 10, and the budget was used (7.8 a second; a loaded
    # machine may miss a few buckets)
    assert max_in_window(passed, 1.0) <= 10
    assert len(passed) >= 20


def test_a_waiter_sleeps_until_the_next_bucket(redis_client: redis.Redis) -> None:
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        raise StopWaiting

    gate = ProviderRateGate(redis_client, per_minute=2, key="test:sleep", sleep=sleep)
    gate.wait()  # takes this bucket (60 s long at 2 per minute)
    with pytest.raises(StopWaiting):
        gate.wait()
    # It waits for the next bucket (plus a little jitter), instead of raising RateLimitExceeded
    assert len(slept) == 1
    assert 0 < slept[0] <= 60 * 1.25


def test_redis_down_is_an_infrastructure_error() -> None:
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    with pytest.raises(InfrastructureError):
        ProviderRateGate(dead, per_minute=5).wait()


def test_the_longest_waiting_wake_first(redis_client: redis.Redis) -> None:
    gate = ProviderRateGate(redis_client, per_minute=2, key="test:age")  # 60.35 s buckets
    bucket_s = bucket_plan(2)[0] / 1_000_000
    to_next_us = bucket_plan(2)[0]  # a whole bucket to wait
    fresh = [gate._wake_after_s(to_next_us, waited_s=0) for _ in range(200)]
    old = [gate._wake_after_s(to_next_us, waited_s=99) for _ in range(200)]
    # Both wait for the next bucket; a task that has waited 99 s wakes at most 0.25 % of a bucket
    # past its start, a fresh one anywhere in the first quarter
    assert max(old) <= bucket_s * (1 + 0.25 / 100) + 0.01
    assert max(fresh) > max(old) + bucket_s * 0.1


class BusyBox(httpx.BaseTransport):
    """httpx's own transport, losing the time a starved thread loses between its rate slot and its
    send on a busy box: in the first half of every `period_s` (a busy spell), each request goes
    out `delay_s` late."""

    def __init__(self, delay_s: float, period_s: float) -> None:
        self._inner = httpx.HTTPTransport()
        self._delay_s, self._period_s = delay_s, period_s
        self._started = time.monotonic()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if (time.monotonic() - self._started) % self._period_s < self._period_s / 2:
            time.sleep(self._delay_s)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def test_a_strict_provider_sees_no_more_than_the_limit_in_any_window_however_late_sends_go(
    redis_client: redis.Redis,
) -> None:
    # Given a provider that answers 429 past 10 arrivals in any sliding second (the minute, scaled
    # down), two worker processes' gates on one key with a 500 ms margin, and sends held up 1.2 s
    # (far past the margin) in every other second
    key = f"test:strict:{uuid4().hex}"
    with OpenAIStandIn(strict_limit=10, strict_window_s=1.0).served() as stand:
        gates = [
            ProviderRateGate(redis_client, per_minute=10, key=key, period_ms=1000, margin_ms=500)
            for _ in range(2)
        ]
        providers = [
            OpenAIImageProvider(
                base_url=stand.base_url,
                api_key=SecretStr(API_KEY),
                model="gpt-image-1.5",
                max_retries=0,
                timeout_s=10,
                gate=gates[n],
                transport=BusyBox(delay_s=1.2, period_s=2.0),
            )
            for n in range(2)
        ]
        throttled = call_for(providers, seconds=6.0, threads=12)
    # Then no sliding second saw more than 10 arrivals, nobody got a 429, and the budget was used
    assert max_in_window(stand.arrivals, 1.0) <= 10
    assert (stand.throttled, throttled) == (0, 0)
    assert len(stand.arrivals) >= 20


def call_for(providers: list[OpenAIImageProvider], seconds: float, threads: int) -> int:
    """Threads calling the providers until `seconds` have passed; returns the 429s they met."""
    deadline = time.monotonic() + seconds
    throttled: list[int] = []

    def call(provider: OpenAIImageProvider) -> None:
        while time.monotonic() < deadline:
            try:
                provider.edit([b"\xff\xd8\xff\xe0fake-jpeg-bytes"], f"strict {uuid4().hex}")
            except ProviderRateLimited:
                throttled.append(1)

    workers = [threading.Thread(target=call, args=(providers[n % 2],)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=seconds + 30)
    return len(throttled)


class SlowRedis(redis.Redis):
    """A Redis client whose every command reaches the server `delay_s` late, as a thread held up on a
    busy box (or a slow network) does."""

    delay_s = 0.25

    def execute_command(self, *args: object, **options: object) -> object:
        time.sleep(self.delay_s)
        return super().execute_command(*args, **options)


def test_a_late_caller_never_takes_a_second_slot_in_a_bucket(redis_client: redis.Redis) -> None:
    # Given two processes' gates on one key, one of them reaching Redis 0.25 s late (longer than a
    # bucket: 10 calls a second, one per 167 ms bucket)
    key, seconds = f"test:late:{uuid4().hex}", 3.0
    slow = SlowRedis(connection_pool=redis_client.connection_pool)
    gates = [
        ProviderRateGate(client, per_minute=10, key=key, period_ms=1000, margin_ms=500)
        for client in (redis_client, slow)
    ]
    bucket_s = bucket_plan(10, 1000, 500)[0] / 1_000_000
    # When threads on both take slots for 3 s
    passed: list[float] = []
    lock = threading.Lock()
    started = time.monotonic()

    def take(gate: ProviderRateGate) -> None:
        while time.monotonic() < started + seconds:
            gate.wait()
            with lock:
                passed.append(time.monotonic())

    threads = [threading.Thread(target=take, args=(gates[n % 2],)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    # Then no more slots were taken than the buckets those 3 s (and the late answers) span
    in_time = [t for t in passed if t <= started + seconds]
    assert len(in_time) <= math.ceil((seconds + SlowRedis.delay_s) / bucket_s) + 1
    assert len(in_time) >= 8
