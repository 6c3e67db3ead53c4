"""The shared provider rate limit, on the real Redis."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from wearon.adapters.rate_gate import ProviderRateGate
from wearon.errors import InfrastructureError


class StopWaiting(Exception):
    pass


def test_slots_are_shared_by_every_gate_on_the_key(redis_client: redis.Redis) -> None:
    # Given two gates, as two worker processes would have, on one Redis key
    gates = [ProviderRateGate(redis_client, per_minute=5, key="test:rl") for _ in range(2)]
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        raise StopWaiting

    # When they take 5 slots between them
    for i in range(5):
        gates[i % 2].wait()
    # Then the sixth waits (instead of raising RateLimitExceeded), whichever gate asks
    blocked = ProviderRateGate(redis_client, per_minute=5, key="test:rl", sleep=sleep)
    with pytest.raises(StopWaiting):
        blocked.wait()
    assert len(waited) == 1


def test_waiters_proceed_when_the_window_slides(redis_client: redis.Redis) -> None:
    gate = ProviderRateGate(redis_client, per_minute=2, key="test:slide", window_s=1)
    seconds = []
    for _ in range(6):
        gate.wait()
        seconds.append(int(time.time()))
    # Dramatiq's window counts whole wall-clock seconds: at most 2 passes in any one of them
    assert max(seconds.count(s) for s in set(seconds)) == 2
    assert len(set(seconds)) == 3


def test_concurrent_threads_never_exceed_the_limit(redis_client: redis.Redis) -> None:
    passed: list[int] = []
    stop = threading.Event()

    def sleep(seconds: float) -> None:
        if stop.is_set():
            raise StopWaiting
        time.sleep(0.01)

    waiting = ProviderRateGate(redis_client, per_minute=10, key="test:threads", window_s=60, sleep=sleep)

    def worker(n: int) -> None:
        try:
            waiting.wait()
            passed.append(n)
        except StopWaiting:
            pass

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(30)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(timeout=5)
    assert len(passed) == 10


def test_redis_down_is_an_infrastructure_error() -> None:
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    with pytest.raises(InfrastructureError):
        ProviderRateGate(dead, per_minute=5).wait()
