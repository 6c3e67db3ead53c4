"""Shared fixtures. Tests talk to the real Redis and PostgreSQL on this machine, in a Redis
database (8-15) and a PostgreSQL database (wearon_test_<n>) of their own, never anyone else's.

Each test session claims one free slot n with a lock key in Redis database n, so two sessions
on one machine (two developers, or a developer and CI) never flush each other's data.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterator

import pytest
import redis

from tests.helpers.asgi import serve
from tests.helpers.images import image_app
from tests.helpers.processes import pid_alive
from wearon import bootstrap
from wearon.settings import Settings

REDIS_BASE = "redis://127.0.0.1:6379"
SLOTS = range(15, 7, -1)
LOCK_KEY = "wearon:test-session-lock"
LOCK_TTL_S = 3 * 3600


def _claim_slot() -> int:
    """The first Redis database 15..8 not held by a live test session on this machine."""
    for slot in SLOTS:
        client = redis.Redis.from_url(f"{REDIS_BASE}/{slot}")
        holder = client.get(LOCK_KEY)
        if holder is not None and pid_alive(int(holder)):
            continue
        client.set(LOCK_KEY, os.getpid(), ex=LOCK_TTL_S)
        atexit.register(client.delete, LOCK_KEY)
        return slot
    raise RuntimeError("every test slot (Redis databases 8-15) is held by a running test session")


_SLOT = int(os.environ["WEARON_TEST_SLOT"]) if "WEARON_TEST_SLOT" in os.environ else _claim_slot()
os.environ["WEARON_TEST_SLOT"] = str(_SLOT)  # subprocesses of this session use the same slot
TEST_REDIS_URL = f"{REDIS_BASE}/{_SLOT}"
TEST_PG_DSN = f"postgresql://postgres@127.0.0.1:5432/wearon_test_{_SLOT}"

TEST_NAMESPACE = "wearon-test"
# Processes the tests start read their settings from the environment: the test database by default.
os.environ.setdefault("REDIS_URL", TEST_REDIS_URL)
os.environ.setdefault("DRAMATIQ_NAMESPACE", TEST_NAMESPACE)


def flush(client: redis.Redis) -> None:
    """Empty this session's database, keeping its lock."""
    holder = client.get(LOCK_KEY)
    client.flushdb()
    if holder is not None:
        client.set(LOCK_KEY, holder, ex=LOCK_TTL_S)


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(TEST_REDIS_URL)
    flush(client)
    yield client
    flush(client)
    client.close()


@pytest.fixture(scope="session")
def images_url() -> Iterator[str]:
    """Small input photos over HTTP (tests/actors serves full-size ones under the same name)."""
    with serve(image_app(small=True)) as url:
        yield url


@pytest.fixture(scope="session")
def messaging() -> bootstrap.Messaging:
    """Dramatiq's broker on the test database, with every actor declared, as a worker has them."""
    settings = Settings(_env_file=None, redis_url=TEST_REDIS_URL, dramatiq_namespace=TEST_NAMESPACE)  # type: ignore[call-arg]
    return bootstrap.build_messaging(settings)
