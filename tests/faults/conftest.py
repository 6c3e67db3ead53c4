"""Real processes under faults: `python -m wearon.worker` workers and `python -m wearon.bridge`,
on real Redis (and Dramatiq on RabbitMQ under WEARON_TEST_BROKER=rabbitmq), with the OpenAI
stand-in and the image server in this process over HTTP."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

import pytest
import redis

from tests.conftest import ON_RABBITMQ, TEST_BROKER_URL, TEST_REDIS_URL
from tests.helpers.asgi import free_port
from tests.helpers.backends import SqliteBackend, SupabaseBackend, supabase_backend
from tests.helpers.broker import held_messages, reader
from tests.helpers.postgres import build_test_database
from tests.helpers.processes import (
    BRIDGE_READY,
    WORKER_READY,
    Proc,
    Ready,
    TcpProxy,
    python_env,
    wait_ready,
    wait_until,
)
from tests.standins.openai import API_KEY, OpenAIStandIn
from wearon import keys
from wearon.actors.generation import INFRA_FAILURES
from wearon.actors.queue_depths import broker_depths
from wearon.domain.task import Channel

NAMESPACE = "wearon-test"
START_BALANCE = 1_000_000


class FaultStack:
    def __init__(
        self,
        tmp: Path,
        standin: OpenAIStandIn,
        images_url: str,
        backend: SqliteBackend | SupabaseBackend,
        redis_url: str = TEST_REDIS_URL,
        namespace: str = NAMESPACE,
    ) -> None:
        self.tmp, self.standin, self.images_url, self.backend = tmp, standin, images_url, backend
        self.redis_url, self.namespace = redis_url, namespace
        self.redis = redis.Redis.from_url(redis_url)
        #: Dramatiq's: the Redis database, or this session's RabbitMQ virtual host.
        self.broker_url = TEST_BROKER_URL if ON_RABBITMQ else redis_url
        self.broker = reader(self.broker_url, namespace)
        self.broker.flush_all()  # RabbitMQ: a virtual host may hold an interrupted run's messages
        self.procs: list[Proc] = []
        self.extra_env: dict[str, str] = {}
        #: One owner per channel (uuids, as the app's), START_BALANCE credits each.
        self.owners = {Channel.B2C: str(uuid4()), Channel.B2B: str(uuid4())}
        for channel, owner in self.owners.items():
            backend.set_balance(channel, owner, START_BALANCE)

    def env(self) -> dict[str, str]:
        settings = {
            "REDIS_URL": self.redis_url,
            "BROKER_URL": self.broker_url,
            "DRAMATIQ_NAMESPACE": self.namespace,
            "OPENAI_API_KEY": API_KEY,
            "OPENAI_BASE_URL": self.standin.base_url,
            "OPENAI_MAX_RETRIES": "1",
            "OPENAI_TIMEOUT_S": "30",
            "DOWNLOAD_ALLOWED_HOSTS": urlsplit(self.images_url).hostname or "127.0.0.1",
            "DOWNLOAD_ALLOW_PRIVATE_NETWORKS": "true",
            "BRIDGE_METRICS_PORT": str(free_port()),
            # Never the checkout's .wearon-data, which parallel sessions would share.
            "LOCAL_DATA_DIR": str(self.tmp / "local-data"),
        }
        for name, value in self.backend.settings().items():
            secret = getattr(value, "get_secret_value", None)
            settings[name.upper()] = secret() if secret else str(value)
        return python_env(**{**settings, **self.extra_env})

    def worker(self, name: str = "worker", threads: int = 4) -> Proc:
        return self._start(name, *self.worker_command(name, threads))

    def worker_command(self, name: str, threads: int) -> tuple[list[str], dict[str, str], Ready]:
        """`python -m wearon.worker` with one process of `threads` threads: argv, env, readiness."""
        env = self.env()
        # What scripts/worker does: a fresh multiprocess directory for this worker's metrics.
        metrics_dir = self.tmp / f"prom-{name}-{uuid4().hex[:6]}"
        metrics_dir.mkdir(parents=True)
        env.update(
            PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
            dramatiq_prom_db=str(metrics_dir),
            dramatiq_prom_port=str(free_port()),
        )
        argv = [sys.executable, "-m", "wearon.worker", "-p", "1", "-t", str(threads)]
        argv += ["--queues", "generation", "maintenance", "refunds", "--worker-shutdown-timeout", "60000"]
        return argv, env, Ready(WORKER_READY, count=1, metrics_port=int(env["dramatiq_prom_port"]))

    def bridge(self, name: str = "bridge") -> Proc:
        return self._start(name, *self.bridge_command())

    def bridge_command(self) -> tuple[list[str], dict[str, str], Ready]:
        env = self.env()
        ready = Ready(BRIDGE_READY, metrics_port=int(env["BRIDGE_METRICS_PORT"]))
        return [sys.executable, "-m", "wearon.bridge"], env, ready

    def _start(self, name: str, argv: list[str], env: dict[str, str], ready: Ready) -> Proc:
        proc = Proc(name, argv, env, self.tmp, ready)
        self.procs.append(proc)
        return proc

    def task(self, channel: Channel, prompt: str) -> dict[str, Any]:
        b2b = channel is Channel.B2B
        return {
            "task_id": str(uuid4()),
            "channel": channel.value,
            "store_id": self.owners[channel] if b2b else None,
            "user_id": None if b2b else self.owners[channel],
            "session_id": str(uuid4()),
            "image_urls": [f"{self.images_url}/person.jpg"],
            "prompt": f"{prompt} #{uuid4().hex[:8]}",
            "request_id": f"req-{uuid4().hex[:8]}",
            "version": 1,
            "created_at": datetime.now(UTC).isoformat(),
        }

    def push(self, channel: Channel, prompt: str, onto: str = keys.TASKS) -> dict[str, Any]:
        """Open the session (a credit spent) and LPUSH the task, as the Next.js API does (or onto
        another list: a bridge's in-flight list, as its BLMOVE leaves it)."""
        task = self.task(channel, prompt)
        owner = task["store_id"] or task["user_id"]
        assert self.backend.open_session(channel, UUID(task["session_id"]), owner, task["prompt"])
        self.redis.lpush(onto, json.dumps(task))
        return task

    def push_during_outage(self, channel: Channel, prompt: str, proxy: TcpProxy) -> dict[str, Any]:
        """The Next.js API writes the session through its own connection, which still works."""
        proxy.restore()
        try:
            return self.push(channel, prompt)
        finally:
            proxy.cut()

    def row(self, task: dict[str, Any]) -> dict[str, Any] | None:
        return self.backend.session(Channel(task["channel"]), UUID(task["session_id"]))

    def status(self, task: dict[str, Any]) -> str | None:
        row = self.row(task)
        return None if row is None else str(row["status"])

    def refunds(self, task: dict[str, Any]) -> int:
        """The ledger's refunds for the task (0 or 1); `assert_balances` checks the owners' balances."""
        return self.backend.refunds(Channel(task["channel"]), UUID(task["session_id"]))

    def assert_balances(self, tasks: list[dict[str, Any]]) -> None:
        """Each owner's balance, in the app's table, is what the tasks spent and the ledger gave back:
        START_BALANCE - one per task pushed + one per refund. Call it with every task pushed."""
        for channel, owner in self.owners.items():
            mine = [t for t in tasks if t["channel"] == channel.value]
            expected = START_BALANCE - len(mine) + sum(self.refunds(t) for t in mine)
            assert self.backend.balance(channel, owner) == expected, (channel, owner)

    def wait_terminal(self, tasks: list[dict[str, Any]], timeout: float) -> None:
        wait_until(
            lambda: all(self.status(t) in ("completed", "failed") for t in tasks),
            timeout,
            interval=0.25,
            what=f"{len(tasks)} sessions terminal",
        )

    def held(self, task: dict[str, Any]) -> bool:
        """Whether the broker holds `task`'s message for a retry after an infrastructure failure
        (waiting for its delay, or queued or in hand again). RabbitMQ does not show a message a
        worker holds: there, whether a worker said it retries the task."""
        if ON_RABBITMQ:
            return any(r.get("task_id") == task["task_id"] for r in self._logged("retrying in"))
        return any(
            m["args"][0]["task_id"] == task["task_id"] and m["options"].get(INFRA_FAILURES, 0) >= 1
            for m in held_messages(self.redis, self.namespace, "generation")
        )

    def dead_lettered(self) -> int:
        return broker_depths(self.broker)["dramatiq_dead:generation"]

    def deferred_refunds(self) -> int:
        """Refunds handed to the refund actor because the database was away, not yet paid (on
        RabbitMQ: those the workers said they deferred)."""
        if ON_RABBITMQ:
            return len(self._logged("refund deferred"))
        return len(held_messages(self.redis, self.namespace, "refunds"))

    def _logged(self, text: str) -> list[dict[str, Any]]:
        """The JSON lines of every process whose message contains `text`."""
        return [r for p in self.procs for r in p.records() if text in str(r.get("message"))]

    def heartbeats(self) -> dict[str, float]:
        """Dramatiq's Redis broker: each broker's id -> when it last sent a command (ms since the epoch)."""
        beats = self.redis.zrange(f"{self.namespace}:__heartbeats__", 0, -1, withscores=True)
        return {member.decode(): score for member, score in beats}

    def calls(self, task: dict[str, Any]) -> int:
        return self.standin.count(task["prompt"])

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()
        self.broker.close()


@pytest.fixture
def standin() -> Iterator[OpenAIStandIn]:
    with OpenAIStandIn(latency_s=(2.0, 2.0), hang_s=120.0).served() as stand:
        yield stand


@pytest.fixture
def stack(
    tmp_path: Path, standin: OpenAIStandIn, images_url: str, redis_client: redis.Redis
) -> Iterator[FaultStack]:
    fault_stack = FaultStack(tmp_path, standin, images_url, SqliteBackend(tmp_path / "data"))
    try:
        yield fault_stack
    finally:
        fault_stack.stop()


@pytest.fixture
def supabase_stack(
    tmp_path: Path, standin: OpenAIStandIn, images_url: str, redis_client: redis.Redis
) -> Iterator[FaultStack]:
    """A FaultStack on the Supabase stand-in, with the real PostgreSQL (this session's) behind it."""
    build_test_database()
    with supabase_backend() as backend:
        supabase = FaultStack(tmp_path, standin, images_url, backend)
        try:
            yield supabase
        finally:
            supabase.stop()


def started(proc: Proc, timeout: float = 30.0) -> Proc:
    """Wait until a worker's consumers run and its metrics server answers, or a bridge's loop runs."""
    return wait_ready(proc, timeout)
