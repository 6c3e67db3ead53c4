"""The broker's pipelined enqueue (the bridge's burst path) and its enqueues through a Redis outage,
on the real Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from dramatiq import Actor, Message, Retry
from dramatiq.broker import MessageProxy
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import TimeLimitExceeded

from tests.helpers.processes import TcpProxy
from wearon.actors.broker import (
    BROKER_AWAY_RETRY_S,
    MAX_RETRIES,
    DurableRetries,
    PipelinedRedisBroker,
    enqueue_until_sent,
    pipelined,
    should_retry,
)
from wearon.bootstrap import Messaging

#: Dramatiq's Redis broker itself (our pipelined subclass); RabbitMQ enqueues one by one.
pytestmark = pytest.mark.redis_broker


@pytest.fixture
def broker(messaging: Messaging) -> PipelinedRedisBroker:
    assert isinstance(messaging.broker, PipelinedRedisBroker)
    return messaging.broker


@pytest.fixture
def generate(messaging: Messaging) -> Actor[Any, Any]:
    return messaging.actors.generate


def queued(client: redis.Redis, namespace: str = "wearon-test") -> list[dict[str, object]]:
    """The generation queue's messages, oldest first, as Dramatiq stored them."""
    queue = f"{namespace}:generation"
    ids = client.lrange(queue, 0, -1)
    return [json.loads(client.hget(f"{queue}.msgs", i)) for i in ids]  # type: ignore[arg-type]


def test_enqueues_in_a_pipelined_block_are_sent_together_when_it_ends(
    redis_client: redis.Redis, broker: PipelinedRedisBroker, generate: Actor[Any, Any]
) -> None:
    with pipelined(broker):
        sent = [generate.send({"n": n}) for n in range(5)]
        assert queued(redis_client) == []  # nothing on the wire yet
    assert [m["message_id"] for m in queued(redis_client)] == [m.message_id for m in sent]
    assert [m["args"] for m in queued(redis_client)] == [[{"n": n}] for n in range(5)]


def test_a_block_that_fails_sends_nothing(
    redis_client: redis.Redis, broker: PipelinedRedisBroker, generate: Actor[Any, Any]
) -> None:
    with pytest.raises(RuntimeError), pipelined(broker):
        generate.send({"n": 1})
        raise RuntimeError("the batch broke")
    assert queued(redis_client) == []
    # and the broker is back to one round trip per enqueue
    generate.send({"n": 2})
    assert [m["args"] for m in queued(redis_client)] == [[{"n": 2}]]


def test_other_brokers_enqueue_one_by_one() -> None:
    stub = StubBroker()
    stub.declare_queue("q")
    with pipelined(stub):
        stub.enqueue(Message(queue_name="q", actor_name="a", args=(), kwargs={}, options={}))
        assert stub.queues["q"].qsize() == 1  # sent at once


@pytest.fixture
def broker_behind_proxy(
    redis_client: redis.Redis, broker: PipelinedRedisBroker, generate: Actor[Any, Any]
) -> Iterator[tuple[PipelinedRedisBroker, TcpProxy]]:
    """A broker on the test database that reaches Redis through a proxy we can cut."""
    kwargs = redis_client.connection_pool.connection_kwargs
    proxy = TcpProxy(kwargs["port"])
    away = PipelinedRedisBroker(
        url=f"redis://127.0.0.1:{proxy.port}/{kwargs['db']}", namespace=broker.namespace
    )
    away.declare_actor(generate)
    yield away, proxy
    proxy.restore()
    away.close()


def test_an_enqueue_waits_out_a_broker_outage_instead_of_losing_the_message(
    redis_client: redis.Redis,
    broker_behind_proxy: tuple[PipelinedRedisBroker, TcpProxy],
    generate: Actor[Any, Any],
) -> None:
    away, proxy = broker_behind_proxy
    message = generate.message({"n": 1})
    waits: list[float] = []

    def outage_ends(seconds: float) -> None:
        waits.append(seconds)
        proxy.restore()

    proxy.cut()
    enqueue_until_sent(away, message, sleep=outage_ends)
    assert waits == [BROKER_AWAY_RETRY_S]
    assert [m["message_id"] for m in queued(redis_client)] == [message.message_id]


def test_a_time_limit_firing_during_the_wait_does_not_drop_the_message(
    redis_client: redis.Redis,
    broker_behind_proxy: tuple[PipelinedRedisBroker, TcpProxy],
    generate: Actor[Any, Any],
) -> None:
    # A Redis outage longer than the task's time limit: TimeLimit interrupts the waiting thread.
    away, proxy = broker_behind_proxy
    message = generate.message({"n": 1})
    waits: list[float] = []

    def interrupted_then_outage_ends(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 1:
            raise TimeLimitExceeded()
        proxy.restore()

    proxy.cut()
    enqueue_until_sent(away, message, sleep=interrupted_then_outage_ends)
    assert len(waits) == 2
    assert [m["message_id"] for m in queued(redis_client)] == [message.message_id]


def test_a_retry_is_not_dropped_when_the_broker_is_away_at_that_moment(
    redis_client: redis.Redis,
    broker_behind_proxy: tuple[PipelinedRedisBroker, TcpProxy],
    generate: Actor[Any, Any],
) -> None:
    # Dramatiq's own Retries logs the failed re-enqueue, swallows it, and the original is then acked.
    away, proxy = broker_behind_proxy
    message = MessageProxy(generate.message({"n": 1}))
    waits: list[float] = []

    def outage_ends(seconds: float) -> None:
        waits.append(seconds)
        proxy.restore()

    proxy.cut()
    retries = DurableRetries(max_retries=MAX_RETRIES, retry_when=should_retry, sleep=outage_ends)
    retries.after_process_message(away, message, exception=Retry("try again", delay=60_000))
    assert waits == [BROKER_AWAY_RETRY_S]
    assert not message.failed
    delayed = [json.loads(m) for m in redis_client.hvals(f"{away.namespace}:generation.DQ.msgs")]
    assert [(m["message_id"], m["options"]["retries"]) for m in delayed] == [(message.message_id, 1)]
