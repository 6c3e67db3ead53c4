"""The wiring: its Redis client, on the real Redis, and the broker it builds from the settings."""

from __future__ import annotations

import threading

import redis
from dramatiq.middleware import TimeLimit

from tests.conftest import TEST_REDIS_URL
from tests.helpers.readme import documented_seconds
from wearon import bootstrap
from wearon.settings import Settings


def test_more_threads_than_connections_wait_their_turn(redis_client: redis.Redis) -> None:
    # Given a worker's client and many more threads than it keeps connections (a worker has 128)
    client = bootstrap.redis_client(Settings(redis_url=TEST_REDIS_URL))
    errors: list[Exception] = []

    def hold_a_connection() -> None:
        try:
            client.blpop(["wearon-test:nothing"], timeout=0.2)
        except redis.RedisError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=hold_a_connection) for _ in range(5 * bootstrap.REDIS_MAX_CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then each waited for a connection instead of failing (redis-py's default pool raises past 100)
    assert errors == []
    client.close()


def test_a_generation_gets_the_readmes_time_limit_by_default(messaging: bootstrap.Messaging) -> None:
    # The session's broker is built from the default settings; every other test shortens the limit
    [limit] = [m for m in messaging.broker.middleware if isinstance(m, TimeLimit)]
    assert limit.time_limit == documented_seconds("TASK_TIME_LIMIT_S") * 1000
    assert "time_limit" not in messaging.actors.generate.options  # the broker's limit is the one
