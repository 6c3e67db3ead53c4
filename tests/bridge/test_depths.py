"""Queue depths, on the real Redis and the real RabbitMQ: one bridge at a time reports the shared
queues, whichever broker runs Dramatiq."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from dramatiq import Message
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from tests.conftest import RABBITMQ_BASE
from tests.helpers.broker import reader
from wearon import keys
from wearon.bootstrap import Messaging
from wearon.bridge.depths import DepthReporter

SHARED = {"tasks", "dead_letters", "dramatiq:generation", "dramatiq_dead:refunds"}


def test_of_two_bridges_one_reports_the_shared_queues_and_each_its_own_list(
    redis_client: redis.Redis, messaging: Messaging
) -> None:
    # Given two bridges, each with a task in hand, and two tasks waiting for either
    redis_client.lpush(keys.bridge_processing("a"), "task-a")
    redis_client.lpush(keys.bridge_processing("b"), "task-b")
    redis_client.lpush(keys.TASKS, "t1", "t2")
    first = DepthReporter(redis_client, messaging.broker, bridge_id="a")
    second = DepthReporter(redis_client, messaging.broker, bridge_id="b")
    # When both report
    a, b = first.report(), second.report()
    # Then a sum over both counts every list once
    assert a.keys() >= SHARED and (a["tasks"], a["processing"]) == (2, 1)
    assert b == {"processing": 1}


def test_another_bridge_reports_the_shared_queues_once_the_reporting_one_is_gone(
    redis_client: redis.Redis, messaging: Messaging
) -> None:
    first = DepthReporter(redis_client, messaging.broker, bridge_id="a")
    second = DepthReporter(redis_client, messaging.broker, bridge_id="b")
    assert first.report().keys() >= SHARED
    assert second.report().keys() == {"processing"}
    # When the first stops renewing its lease (here: it ran out)
    redis_client.delete(keys.QUEUE_DEPTHS_LEASE)
    # Then the next bridge to report takes it over, and the first, back, no longer reports them
    assert second.report().keys() >= SHARED
    assert first.report().keys() == {"processing"}


@pytest.fixture
def rabbitmq(redis_client: redis.Redis) -> Iterator[RabbitmqBroker]:
    """Dramatiq on this session's RabbitMQ virtual host."""
    slot = redis_client.connection_pool.connection_kwargs["db"]
    broker = reader(f"{RABBITMQ_BASE}/wearon_test_{slot}", "unused")
    assert isinstance(broker, RabbitmqBroker)
    broker.flush_all()
    yield broker
    broker.flush_all()
    broker.close()


def test_queue_depths_and_dead_letters_are_reported_on_rabbitmq(
    redis_client: redis.Redis, rabbitmq: RabbitmqBroker
) -> None:
    # Given two generations waiting, and one a worker took and dead-lettered
    for n in range(3):
        rabbitmq.enqueue(
            Message(queue_name="generation", actor_name="generate", args=(n,), kwargs={}, options={})
        )
    consumer = rabbitmq.consume("generation", prefetch=1, timeout=1000)
    taken = next(consumer)
    assert taken is not None
    consumer.nack(taken)
    consumer.close()
    # Then the bridge reports both, from RabbitMQ
    depths = DepthReporter(redis_client, rabbitmq, bridge_id="a").report()
    assert (depths["dramatiq:generation"], depths["dramatiq_dead:generation"]) == (2, 1)
    assert depths["dramatiq:refunds"] == depths["dramatiq_dead:refunds"] == 0
