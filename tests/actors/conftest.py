"""A real Dramatiq worker in this process, on the real broker (Redis, or RabbitMQ under
WEARON_TEST_BROKER=rabbitmq), with the worker's services
wired by `wearon.bootstrap` from settings that point at the stand-ins."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import dramatiq
import pytest
import redis
from dramatiq.middleware import TimeLimit
from pydantic import SecretStr

from tests.conftest import TEST_REDIS_URL
from tests.helpers.asgi import serve
from tests.helpers.backends import SqliteBackend, SupabaseBackend, supabase_backend
from tests.helpers.broker import Held
from tests.helpers.images import image_app
from tests.helpers.postgres import build_test_database
from tests.standins.openai import API_KEY, OpenAIStandIn
from wearon.actors import runtime
from wearon.actors.queue_depths import broker_depths
from wearon.bootstrap import Messaging, build_services
from wearon.domain.task import Channel
from wearon.settings import Settings


class Backend:
    """A storage backend seen task by task (each task has an owner of its own)."""

    def __init__(self, inner: SqliteBackend | SupabaseBackend) -> None:
        self.inner = inner
        self._left: dict[str, int] = {}  # session id -> the owner's balance once its credit was spent

    def settings(self) -> dict[str, Any]:
        return self.inner.settings()

    def open_session(self, task: dict[str, Any], balance: int) -> None:
        channel, owner = _owner(task)
        self.inner.set_balance(channel, owner, balance)
        assert self.inner.open_session(channel, UUID(task["session_id"]), owner, task["prompt"])
        self._left[task["session_id"]] = balance - 1

    def session_of(self, task: dict[str, Any]) -> dict[str, Any] | None:
        return self.inner.session(Channel(task["channel"]), UUID(task["session_id"]))

    def balance_of(self, task: dict[str, Any]) -> int:
        return self.inner.balance(*_owner(task))

    def refunds(self, task: dict[str, Any]) -> int:
        """Credits given back for the task: the ledger's count, which the owner's balance (in the
        app's table) must show too."""
        ledger = self.inner.refunds(Channel(task["channel"]), UUID(task["session_id"]))
        if task["session_id"] in self._left:  # (a task whose session the API never opened has no owner)
            returned = self.balance_of(task) - self._left[task["session_id"]]
            assert returned == ledger, (
                f"the ledger has {ledger} refunds, the owner's balance moved by {returned}"
            )
        return ledger

    def stored(self, path: str) -> bytes | None:
        return self.inner.stored(path)


def _owner(task: dict[str, Any]) -> tuple[Channel, str]:
    channel = Channel(task["channel"])
    return channel, task["store_id"] if channel is Channel.B2B else task["user_id"]


@pytest.fixture(scope="session")
def postgres_schema() -> None:
    build_test_database()


@pytest.fixture
def backend(postgres_schema: None) -> Iterator[Backend]:
    with supabase_backend() as supabase:
        yield Backend(supabase)


@pytest.fixture
def local_backend(tmp_path: Path) -> Backend:
    return Backend(SqliteBackend(tmp_path))


@pytest.fixture(scope="session")
def standin() -> Iterator[OpenAIStandIn]:
    with OpenAIStandIn(hang_s=30.0).served() as stand:
        yield stand


@pytest.fixture(scope="session")
def images_url() -> Iterator[str]:
    with serve(image_app()) as url:
        yield url


@pytest.fixture(scope="session")
def worker_broker(messaging: Messaging) -> dramatiq.Broker:
    # The CLI's process boot arms TimeLimit's watchdog; an in-process Worker must do it itself, once
    # (tests/admin shares this fixture, so a session may ask for it from two directories).
    for middleware in messaging.broker.middleware:
        if isinstance(middleware, TimeLimit) and not middleware.manager.is_alive():
            middleware.after_process_boot(messaging.broker)
    messaging.broker.add_middleware(Held())
    return messaging.broker


def held_by(broker: dramatiq.Broker) -> Held:
    return next(m for m in broker.middleware if isinstance(m, Held))


class Pipeline:
    START_BALANCE = 5
    MAX_RETRIES = 2

    def __init__(
        self,
        backend: Backend,
        standin: OpenAIStandIn,
        images_url: str,
        client: redis.Redis,
        broker: dramatiq.Broker,
    ) -> None:
        self.backend, self.standin, self.images_url, self.redis = backend, standin, images_url, client
        self.broker = broker
        self.held = held_by(broker)

    def task(
        self,
        channel: Channel,
        prompt: str,
        *,
        image_paths: list[str] | None = None,
        urls: list[str] | None = None,
    ) -> dict[str, Any]:
        b2b = channel is Channel.B2B
        paths = image_paths or ["/person.jpg", "/garment.jpg"]
        return {
            "task_id": str(uuid4()),
            "channel": channel.value,
            "store_id": str(uuid4()) if b2b else None,
            "user_id": None if b2b else str(uuid4()),
            "session_id": str(uuid4()),
            "image_urls": urls or [self.images_url + p for p in paths],
            "prompt": f"{prompt} #{uuid4().hex[:6]}",  # unique: the stand-in counts calls per prompt
            "request_id": f"req-{uuid4().hex[:8]}",
            "version": 1,
            "created_at": datetime.now(UTC).isoformat(),
        }

    def push(
        self,
        channel: Channel,
        prompt: str,
        *,
        copies: int = 1,
        options: dict[str, Any] | None = None,
        **kw: Any,
    ) -> dict[str, Any]:
        task = self.task(channel, prompt, **kw)
        self.backend.open_session(task, self.START_BALANCE)
        for _ in range(copies):
            self.send(task, options)
        return task

    def push_existing(self, task: dict[str, Any]) -> None:
        self.send(task)

    def send(self, task: dict[str, Any], options: dict[str, Any] | None = None) -> None:
        self.broker.get_actor("generate").send_with_options(args=(task,), **(options or {}))

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("condition not reached in time")
            time.sleep(0.05)

    def wait_terminal(self, task: dict[str, Any], timeout: float = 15.0) -> dict[str, Any]:
        def terminal() -> bool:
            row = self.backend.session_of(task)
            return row is not None and row["status"] in ("completed", "failed")

        self.wait_for(terminal, timeout)
        row = self.backend.session_of(task)
        assert row is not None
        return row

    def drain(self, timeout: float = 15.0) -> None:
        """Wait until the worker has nothing queued, delayed or in hand."""
        self.wait_for(lambda: not self.held.messages("generation"), timeout)

    def dead_lettered(self, queue: str = "generation") -> int:
        """Dead letters, as the broker counts them."""
        return broker_depths(self.broker)[f"dramatiq_dead:{queue}"]

    def delayed(self, queue: str) -> int:
        """Messages waiting out a retry's delay (on the broker, or held by the worker until due)."""
        return sum(m["queue_name"].endswith(".DQ") for m in self.held.messages(queue))

    def waiting_refunds(self, task: dict[str, Any]) -> list[dict[str, Any]]:
        """The deferred-refund messages for `task`'s session the broker holds."""
        return [m for m in self.held.messages("refunds") if m["args"][1] == task["session_id"]]

    def call_times(self, task: dict[str, Any]) -> list[float]:
        return [
            t
            for t, prompt in zip(self.standin.calls, self.standin.prompts, strict=True)
            if prompt == task["prompt"]
        ]


@pytest.fixture
def pipeline(
    backend: Backend,
    standin: OpenAIStandIn,
    images_url: str,
    worker_broker: dramatiq.Broker,
    redis_client: redis.Redis,
) -> Iterator[Pipeline]:
    with running_pipeline(backend, standin, images_url, worker_broker, redis_client) as running:
        yield running


@pytest.fixture
def local_pipeline(
    local_backend: Backend,
    standin: OpenAIStandIn,
    images_url: str,
    worker_broker: dramatiq.Broker,
    redis_client: redis.Redis,
) -> Iterator[Pipeline]:
    with running_pipeline(local_backend, standin, images_url, worker_broker, redis_client) as running:
        yield running


@contextmanager
def running_pipeline(
    backend: Backend,
    standin: OpenAIStandIn,
    images_url: str,
    worker_broker: dramatiq.Broker,
    redis_client: redis.Redis,
) -> Iterator[Pipeline]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_url=TEST_REDIS_URL,
        openai_api_key=SecretStr(API_KEY),
        openai_base_url=standin.base_url,
        openai_max_retries=Pipeline.MAX_RETRIES,
        openai_timeout_s=1.0,
        download_allowed_hosts=("127.0.0.1",),
        download_allow_private_networks=True,
        **backend.settings(),
    )
    runtime.install(build_services(settings))
    worker_broker.flush_all()  # RabbitMQ: a virtual host may hold an interrupted run's messages
    held_by(worker_broker).clear()
    worker = dramatiq.Worker(worker_broker, worker_threads=8, worker_timeout=100)
    worker.start()
    try:
        yield Pipeline(backend, standin, images_url, redis_client, worker_broker)
    finally:
        worker.stop()
        runtime.install(None)
        worker_broker.flush_all()
