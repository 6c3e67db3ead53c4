"""Shared fixtures. Tests talk to the real Redis and PostgreSQL on this machine, in a Redis
database (8-15) and a PostgreSQL database (wearon_test_<n>) of their own, never anyone else's.

Each test session claims one free slot n with a lock key in Redis database n, so two sessions
on one machine (two developers, or a developer and CI) never flush each other's data. Under
pytest-xdist (`make test` runs groups in parallel) each worker process is a session of its own,
with its own slot; the controller, which runs no test, claims none. A process a test starts
inherits its test process's slot.

WEARON_TEST_BROKER=rabbitmq (`make test-rabbitmq`) puts Dramatiq on RabbitMQ, in the slot's
virtual host (wearon_test_<n>, made by scripts/ensure-services.sh), for every test that builds a
broker or starts a worker; the tests marked `redis_broker` (Dramatiq's Redis broker itself) are
deselected then. Redis still holds everything else (the tasks list, the rate limiter, locks).
"""

from __future__ import annotations

import atexit
import os
import sys
import time
from collections.abc import Iterator

import pika
import pytest
import redis

from tests.helpers.asgi import serve
from tests.helpers.images import image_app
from tests.helpers.processes import pid_alive
from wearon import bootstrap
from wearon.settings import Settings

#: A skip fails the run unless a later CI step runs the skipped tests (tests/skip_policy.py).
pytest_plugins = ["tests.skip_policy"]

REDIS_BASE = "redis://127.0.0.1:6379"
RABBITMQ_BASE = "amqp://guest:guest@127.0.0.1:5672"
BROKERS = ("redis", "rabbitmq")
TEST_BROKER = os.environ.get("WEARON_TEST_BROKER", "redis")
if TEST_BROKER not in BROKERS:
    raise RuntimeError(f"WEARON_TEST_BROKER={TEST_BROKER!r}: choose one of {', '.join(BROKERS)}")
ON_RABBITMQ = TEST_BROKER == "rabbitmq"
SLOTS = range(15, 7, -1)
LOCK_KEY = "wearon:test-session-lock"
LOCK_TTL_S = 3 * 3600
#: How long a session waits for a slot while every one is held (other people's runs end).
SLOT_WAIT_S = 30 * 60
TEST_NAMESPACE = "wearon-test"
#: Directories whose tests share expensive session fixtures (a loaded pose model, a database built
#: from its migrations, a broker with a worker): under xdist each runs whole on one worker. The
#: other tests (real processes, each with its own stack) are spread one by one.
SHARED_FIXTURE_DIRS = frozenset(
    {"actors", "adapters", "admin", "bridge", "contract", "domain", "http", "standins"}
)
#: Tests that run for minutes start first, so that the parallel groups finish together.
LONG_TESTS = ("tests/faults/test_chaos.py", "tests/ops/test_zero_downtime.py", "tests/cluster/")


def _try_slot(slot: int) -> bool:
    """Take slot's lock if it is free, or held by a process that is gone (atomically either way)."""
    client = redis.Redis.from_url(f"{REDIS_BASE}/{slot}")
    if client.set(LOCK_KEY, os.getpid(), ex=LOCK_TTL_S, nx=True):
        return True
    with client.pipeline() as pipe:
        try:
            pipe.watch(LOCK_KEY)
            holder = pipe.get(LOCK_KEY)
            if holder is None or pid_alive(int(holder)):
                return False
            pipe.multi()
            pipe.set(LOCK_KEY, os.getpid(), ex=LOCK_TTL_S)
            pipe.execute()
            return True
        except redis.WatchError:  # another session took it first
            return False


def _claim_slot() -> int:
    """The first Redis database 15..8 not held by a live test session on this machine."""
    deadline = time.monotonic() + SLOT_WAIT_S
    while time.monotonic() < deadline:
        for slot in SLOTS:
            if _try_slot(slot):
                atexit.register(redis.Redis.from_url(f"{REDIS_BASE}/{slot}").delete, LOCK_KEY)
                return slot
        print("every test slot (Redis databases 8-15) is held; waiting for one", file=sys.stderr)
        time.sleep(5)
    raise RuntimeError("every test slot (Redis databases 8-15) stayed held by running test sessions")


def _session_slot() -> int:
    """This session's slot: its test process's (a process a test started), or one it claims."""
    owner = os.environ.get("PYTEST_XDIST_WORKER", "main")
    inherited = os.environ.get("WEARON_TEST_SLOT")
    if inherited is not None and os.environ.get("WEARON_TEST_SLOT_OWNER") == owner:
        return int(inherited)
    slot = _claim_slot()
    os.environ.update(WEARON_TEST_SLOT=str(slot), WEARON_TEST_SLOT_OWNER=owner)
    # Processes the tests start read their settings from the environment: the test database.
    os.environ["REDIS_URL"] = f"{REDIS_BASE}/{slot}"
    os.environ.setdefault("DRAMATIQ_NAMESPACE", TEST_NAMESPACE)
    if ON_RABBITMQ:
        os.environ["BROKER_URL"] = _broker_url(slot)
        _check_vhost(os.environ["BROKER_URL"])
    return slot


def _check_vhost(url: str) -> None:
    try:
        pika.BlockingConnection(pika.URLParameters(url)).close()
    except pika.exceptions.AMQPError as exc:
        raise RuntimeError(f"RabbitMQ refused {url}: as root, run scripts/ensure-services.sh") from exc


def _broker_url(slot: int) -> str:
    """Dramatiq's broker for this slot: its Redis database, or its RabbitMQ virtual host."""
    return f"{RABBITMQ_BASE}/wearon_test_{slot}" if ON_RABBITMQ else f"{REDIS_BASE}/{slot}"


def __getattr__(name: str) -> str:
    """TEST_REDIS_URL, TEST_BROKER_URL and TEST_PG_DSN, claimed on first use: never in an xdist
    controller."""
    if name == "TEST_REDIS_URL":
        return f"{REDIS_BASE}/{_slot()}"
    if name == "TEST_BROKER_URL":
        return _broker_url(_slot())
    if name == "TEST_PG_DSN":
        return f"postgresql://postgres@127.0.0.1:5432/wearon_test_{_slot()}"
    raise AttributeError(name)


_claimed: list[int] = []


def _slot() -> int:
    if not _claimed:
        _claimed.append(_session_slot())
    return _claimed[0]


def pytest_configure(config: pytest.Config) -> None:
    if not _is_xdist_controller(config):
        _slot()


def _is_xdist_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput") and bool(getattr(config.option, "numprocesses", None))


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if ON_RABBITMQ:
        _deselect_redis_broker_tests(config, items)
    for item in items:
        directory = item.path.parent.name
        if directory in SHARED_FIXTURE_DIRS:
            item.add_marker(pytest.mark.xdist_group(directory))
    items.sort(key=lambda item: not item.nodeid.startswith(LONG_TESTS))


def _deselect_redis_broker_tests(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselected, not skipped: on RabbitMQ they have nothing to test (tests/skip_policy.py)."""
    redis_only = [item for item in items if item.get_closest_marker("redis_broker")]
    if redis_only:
        config.hook.pytest_deselected(items=redis_only)
        items[:] = [item for item in items if item not in redis_only]


def flush(client: redis.Redis) -> None:
    """Empty this session's database, keeping its lock."""
    holder = client.get(LOCK_KEY)
    client.flushdb()
    if holder is not None:
        client.set(LOCK_KEY, holder, ex=LOCK_TTL_S)


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(f"{REDIS_BASE}/{_slot()}")
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
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_url=f"{REDIS_BASE}/{_slot()}",
        broker_url=_broker_url(_slot()),
        dramatiq_namespace=TEST_NAMESPACE,
    )
    return bootstrap.build_messaging(settings)
