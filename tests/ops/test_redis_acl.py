"""The in-stack Redis as production starts it (ops/redis/start.sh, redis.conf, users.acl, a
certificate from ops/scripts/redis-tls.sh), on a throwaway redis-server: the Next.js API's
producer user over TLS can only LPUSH onto the task list, and our services' user runs the real
bridge and worker, and every client we build, over a rediss:// URL."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import dramatiq
import httpx
import pytest
import redis
from click.testing import CliRunner
from prometheus_client import REGISTRY

from tests.faults.conftest import FaultStack, started
from tests.faults.conftest import standin as standin
from tests.helpers.asgi import free_port, serve
from tests.helpers.backends import SqliteBackend
from tests.helpers.processes import wait_until
from tests.standins.openai import OpenAIStandIn
from wearon import keys
from wearon.actors.queue_depths import QUEUES as DRAMATIQ_QUEUES
from wearon.adapters.dead_letters.dramatiq import DramatiqDeadLetters
from wearon.admin.cli import cli as cli_root
from wearon.bootstrap import build_admin, build_messaging, build_retention, redis_client, secrets_of
from wearon.bridge.bridge import Bridge
from wearon.bridge.dead_letters import dead_letter
from wearon.bridge.depths import DepthReporter
from wearon.domain.task import Channel
from wearon.errors import InvalidTask
from wearon.http import create_app
from wearon.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SERVICE_PASSWORD = "0123456789abcdef0123456789abcdef"
APP_PASSWORD = "fedcba9876543210fedcba9876543210"
EXPORTER_PASSWORD = "00112233445566778899aabbccddeeff"


@dataclass
class StackRedis:
    plain_port: int
    tls_port: int
    ca: Path

    def url(self, user: str, password: str, *, tls: bool = True) -> str:
        if not tls:
            return f"redis://{user}:{password}@127.0.0.1:{self.plain_port}/0"
        return f"rediss://{user}:{password}@127.0.0.1:{self.tls_port}/0?ssl_ca_certs={self.ca}"

    @property
    def service_url(self) -> str:
        return self.url("wearon", SERVICE_PASSWORD)

    @property
    def app_url(self) -> str:
        return self.url("wearon-app", APP_PASSWORD)


@pytest.fixture(scope="module")
def stack_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackRedis]:
    """redis-server started by our start.sh with our ACL file, on free loopback ports."""
    tmp = tmp_path_factory.mktemp("stack-redis")
    subprocess.run([ROOT / "ops/scripts/redis-tls.sh", tmp / "tls", "127.0.0.1"], check=True)
    plain, tls = free_port(), free_port()
    argv = [ROOT / "ops/redis/start.sh", "--bind", "127.0.0.1", "--port", str(plain), "--tls-port", str(tls)]
    argv += ["--tls-cert-file", tmp / "tls/redis.crt", "--tls-key-file", tmp / "tls/redis.key"]
    argv += ["--dir", tmp, "--save", "", "--appendonly", "no"]
    env = {"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp)}
    env |= {"REDIS_PASSWORD": SERVICE_PASSWORD, "REDIS_APP_PASSWORD": APP_PASSWORD}
    env |= {"REDIS_EXPORTER_PASSWORD": EXPORTER_PASSWORD}
    with (tmp / "redis.log").open("wb") as log:
        process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = StackRedis(plain, tls, tmp / "tls/ca.crt")
    try:
        service = redis.Redis.from_url(server.service_url)
        wait_until(lambda: _answers(service), 10, what="redis from start.sh")
        yield server
    finally:
        process.terminate()
        process.wait(10)


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def test_the_producer_can_push_onto_the_task_list_and_do_nothing_else(stack_redis: StackRedis) -> None:
    producer = redis.Redis.from_url(stack_redis.app_url)
    assert producer.lpush(keys.TASKS, b'{"task": 1}') >= 1
    refused = {
        "read the list": lambda: producer.lrange(keys.TASKS, 0, -1),
        "take from the list": lambda: producer.rpop(keys.TASKS),
        "push elsewhere": lambda: producer.lpush(keys.DEAD_LETTERS, b"x"),
        "read a key": lambda: producer.get("wearon:ratelimit:openai"),
        "FLUSHALL": producer.flushall,
        "CONFIG": lambda: producer.config_get("requirepass"),
        "ACL": producer.acl_list,
        "KEYS": lambda: producer.keys("*"),
    }
    for what, attempt in refused.items():
        with pytest.raises(redis.exceptions.NoPermissionError):
            attempt()
            pytest.fail(f"the producer could {what}")


def test_the_exporter_reads_info_and_no_key(stack_redis: StackRedis) -> None:
    # Given redis-exporter's user on the plain port, as docker-compose.prod.yml connects it,
    exporter = redis.Redis.from_url(stack_redis.url("wearon-exporter", EXPORTER_PASSWORD, tls=False))
    # then it reads what RedisMemoryHigh and RedisEvictingKeys need, and its per-scrape diagnostics,
    assert {"used_memory", "maxmemory", "evicted_keys"} <= exporter.info("all").keys()
    exporter.slowlog_get()
    exporter.slowlog_len()
    exporter.execute_command("LATENCY", "LATEST")
    exporter.client_setname("redis_exporter")
    # and nothing else: no key, no configuration, no write.
    refused = {
        "read the task list": lambda: exporter.lrange(keys.TASKS, 0, -1),
        "read a key": lambda: exporter.get("wearon:ratelimit:openai"),
        "KEYS": lambda: exporter.keys("*"),
        "CONFIG": lambda: exporter.config_get("maxmemory-policy"),
        "CONFIG SET": lambda: exporter.config_set("maxmemory-policy", "allkeys-lru"),
        "FLUSHALL": exporter.flushall,
        "LPUSH": lambda: exporter.lpush(keys.TASKS, b"x"),
    }
    for what, attempt in refused.items():
        with pytest.raises(redis.exceptions.NoPermissionError):
            attempt()
            pytest.fail(f"the exporter could {what}")


def test_nobody_gets_in_without_a_user_or_without_tls(stack_redis: StackRedis) -> None:
    anonymous = f"rediss://127.0.0.1:{stack_redis.tls_port}/0?ssl_ca_certs={stack_redis.ca}"
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis.from_url(anonymous).ping()
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis.from_url(stack_redis.url("wearon-app", "wrong")).ping()
    plain_on_tls_port = f"redis://wearon-app:{APP_PASSWORD}@127.0.0.1:{stack_redis.tls_port}/0"
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(plain_on_tls_port, socket_timeout=2).ping()


def test_a_rediss_url_works_through_our_settings_and_its_password_is_scrubbed(
    stack_redis: StackRedis,
) -> None:
    settings = Settings(redis_url=stack_redis.service_url, dramatiq_namespace="dramatiq")
    assert redis_client(settings).ping()
    assert SERVICE_PASSWORD in secrets_of(settings)
    # The Dramatiq broker: its Lua dispatch script over TLS, under the service user's ACL.
    previous = dramatiq.get_broker()
    broker = build_messaging(settings).broker
    try:
        queue = f"acl-{uuid4().hex[:8]}"
        broker.declare_queue(queue)
        message = dramatiq.Message(queue_name=queue, actor_name="probe", args=(), kwargs={}, options={})
        broker.enqueue(message)
        consumer = broker.consume(queue, timeout=1000)
        received = next(consumer)
        assert received is not None and received.message_id == message.message_id
        consumer.ack(received)
        consumer.close()
    finally:
        broker.close()
        dramatiq.set_broker(previous)  # build_messaging sets the global one


def test_the_bridge_reads_the_queue_depths_and_the_owed_refunds_as_the_service_user(
    stack_redis: StackRedis,
) -> None:
    # Given the bridge's depth reporter on the service user, over TLS (a command the ACL does not
    # grant raises NoPermissionError here; the reporter's own loop would only log it at debug),
    settings = Settings(redis_url=stack_redis.service_url, dramatiq_namespace="dramatiq")
    previous = dramatiq.get_broker()
    broker = build_messaging(settings).broker
    try:
        reporter = DepthReporter(redis_client(settings), broker, bridge_id="acl")
        # then it reads every depth, and the owed refunds' age.
        assert {"tasks", "dramatiq:refunds", "dramatiq_delayed:refunds"} <= reporter.report().keys()
        assert REGISTRY.get_sample_value("wearon_deferred_refund_oldest_seconds") == 0
    finally:
        broker.close()
        dramatiq.set_broker(previous)


def test_wearon_admin_and_the_dead_letter_retention_work_as_the_service_user(
    stack_redis: StackRedis, tmp_path: Path
) -> None:
    # Given a bridge dead letter and a Dramatiq one (with its recorded error), on the service user
    settings = Settings(
        redis_url=stack_redis.service_url, dramatiq_namespace="dramatiq", local_data_dir=tmp_path
    )
    client = redis_client(settings)
    client.lpush(keys.DEAD_LETTERS, dead_letter(b"{}", InvalidTask("schema", "not a task")))
    message = dramatiq.Message(queue_name="generation", actor_name="generate", args=(), kwargs={}, options={})
    client.zadd("dramatiq:generation.XQ", {message.message_id: 1})
    client.hset("dramatiq:generation.XQ.msgs", message.message_id, message.encode())
    previous = dramatiq.get_broker()
    try:
        cli = CliRunner()
        admin = build_admin(settings)
        DramatiqDeadLetters(client, "dramatiq", ("generation",)).record_error(
            message.message_id, "E: x", None
        )
        # then every command an operator runs, and the bridge's retention and pause, are granted
        for args in (["dead", "list", "--json"], ["dead", "show", message.message_id], ["queues", "--json"]):
            assert cli.invoke(cli_root, args, obj=admin).exit_code == 0, args
        for args in (
            ["intake", "pause", "--yes"],
            ["intake", "resume", "--yes"],
            ["dead", "purge", "--all", "--yes"],
        ):
            assert cli.invoke(cli_root, args, obj=admin).exit_code == 0, args
        assert build_retention(settings).run_once() == {f"dramatiq:{q}": 0.0 for q in DRAMATIQ_QUEUES} | {
            "bridge": 0.0
        }
        assert Bridge(client, enqueue=print, refund=lambda *_: False).paused() is False
    finally:
        dramatiq.set_broker(previous)


def test_the_api_health_reaches_redis_over_tls(stack_redis: StackRedis) -> None:
    settings = Settings(redis_url=stack_redis.service_url, log_level="WARNING")
    with serve(create_app(settings, detector=_LoadedDetector()), lifespan=True) as url:
        # /health gives Redis 0.1 s, a TLS handshake included when it connects for the first
        # time: on a busy machine the first answers may say unreachable.
        wait_until(lambda: httpx.get(f"{url}/health").json()["checks"]["redis"] == "ok", 10, what="redis ok")


@pytest.mark.slow
def test_the_real_bridge_and_worker_run_as_the_service_user(
    stack_redis: StackRedis, tmp_path: Path, standin: OpenAIStandIn, images_url: str
) -> None:
    # Given the bridge and a worker on the in-stack Redis's service user, over TLS, in
    # Dramatiq's production namespace, with the provider rate limiter on (OPENAI_API_KEY set),
    stack = FaultStack(
        tmp_path,
        standin,
        images_url,
        SqliteBackend(tmp_path / "data"),
        stack_redis.service_url,
        namespace="dramatiq",
    )
    stack.redis = redis.Redis.from_url(stack_redis.app_url)  # push() is the Next.js API's LPUSH
    service = redis.Redis.from_url(stack_redis.service_url)
    service.delete(keys.TASKS, keys.DEAD_LETTERS)  # what the other tests of this module pushed
    procs = [started(stack.bridge()), started(stack.worker())]
    try:
        # when the producer pushes a task and a payload the bridge must dead-letter,
        task = stack.push(Channel.B2C, "acl")
        stack.redis.lpush(keys.TASKS, b"not json")
        stack.wait_terminal([task], timeout=60)
        wait_until(lambda: service.llen(keys.DEAD_LETTERS) == 1, 10, what="dead letter")
    except AssertionError:
        print(_outputs(procs)[-5000:])  # what refused what
        raise
    finally:
        stack.stop()
    # then the task completed, and no process met a refusal of the ACL.
    assert stack.status(task) == "completed", _outputs(procs)
    assert "NOPERM" not in _outputs(procs)


def _outputs(procs: list[Any]) -> str:
    return "\n".join(proc.output() for proc in procs)


class _LoadedDetector:
    loaded = True
