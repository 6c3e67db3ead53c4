"""`wearon-admin` against a real worker (tests/actors' pipeline: Redis broker, PostgreSQL behind the
Supabase stand-in, the OpenAI stand-in), with the three dead letters an operator meets: an invalid
task the bridge refused, a moderation failure, and an internal error (a bug)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

import dramatiq
import pytest
import redis
from click.testing import CliRunner, Result

from tests.actors import conftest as actors
from tests.actors import test_error_ids
from tests.actors.conftest import Backend, Pipeline
from tests.actors.test_error_ids import BuggyProvider
from tests.conftest import TEST_NAMESPACE, TEST_REDIS_URL
from tests.domain.test_task import raw
from wearon.actors import runtime
from wearon.admin.cli import cli
from wearon.bootstrap import Admin, build_admin
from wearon.bridge.bridge import Bridge
from wearon.domain.task import Channel, GenerationTask
from wearon.settings import Settings

# tests/actors' fixtures, shared: pytest finds a fixture by its name in a conftest.
backend = actors.backend
images_url = actors.images_url
local_backend = actors.local_backend
local_pipeline = actors.local_pipeline
pipeline = actors.pipeline
postgres_schema = actors.postgres_schema
standin = actors.standin
worker_broker = actors.worker_broker
log_lines = test_error_ids.log_lines


def admin_for(backend: Backend, broker: dramatiq.Broker) -> Admin:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_url=TEST_REDIS_URL,
        dramatiq_namespace=TEST_NAMESPACE,
        **backend.settings(),
    )
    built = build_admin(settings)
    dramatiq.set_broker(broker)  # build_admin declared its own; the worker's stays the global one
    return built


class AdminCli:
    """Runs `wearon-admin` commands in this process, on `admin`."""

    def __init__(self, admin: Admin) -> None:
        self.admin = admin

    def run(self, *args: str, answer: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), obj=self.admin, input=answer, catch_exceptions=False)

    def json(self, *args: str) -> Any:
        result = self.run(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.output)


@pytest.fixture
def wearon_admin(backend: Backend, worker_broker: dramatiq.Broker) -> AdminCli:
    return AdminCli(admin_for(backend, worker_broker))


@dataclass
class Failures:
    invalid: dict[str, Any]
    moderated: dict[str, Any]
    internal: dict[str, Any]


def bridge_for(
    client: redis.Redis, backend: Backend, broker: dramatiq.Broker, kind: type[Bridge] = Bridge
) -> Bridge:
    def enqueue(task: GenerationTask) -> None:
        broker.get_actor("generate").send(task.model_dump(mode="json"))

    def refund(channel: Channel, session_id: UUID, reason: Any) -> bool:
        return backend.inner.store.fail_and_refund(channel, session_id, reason.user_message)

    return kind(client, enqueue=enqueue, refund=refund, bridge_id="admin-test")


@pytest.fixture
def failures(
    pipeline: Pipeline, backend: Backend, redis_client: redis.Redis, log_lines: io.StringIO
) -> Failures:
    """Given: one task of each kind of failure, run to its end."""
    moderated = pipeline.push(Channel.B2B, "[standin:moderation]")
    pipeline.wait_terminal(moderated)
    invalid = pipeline.task(Channel.B2C, "an invalid task")
    backend.open_session(invalid, Pipeline.START_BALANCE)
    redis_client.lpush("wearon:tasks:generation", raw(**{**invalid, "version": 2}))
    bridge_for(redis_client, backend, pipeline.broker).step()
    services = runtime.services()
    runtime.install(replace(services, generation=replace(services.generation, provider=BuggyProvider())))
    internal = pipeline.push(Channel.B2C, "a try-on that meets a bug")
    pipeline.wait_terminal(internal)
    pipeline.wait_for(lambda: pipeline.dead_lettered() == 2)
    runtime.install(services)
    return Failures(invalid=invalid, moderated=moderated, internal=internal)
