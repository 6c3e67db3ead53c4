"""The queue-depth reporter on the real Redis and the real RabbitMQ: how long the longest-owed
deferred refund has been owed, whichever of Dramatiq's Redis structures its message is in; one
bridge at a time reports the shared queues, whichever broker runs Dramatiq."""

from __future__ import annotations

import time
from collections.abc import Iterator

import dramatiq
import pytest
import redis
from dramatiq import Message
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from prometheus_client import REGISTRY

from tests.conftest import RABBITMQ_BASE
from tests.helpers.broker import reader
from wearon import bootstrap, keys
from wearon.bootstrap import Messaging
from wearon.bridge.depths import REFUNDS, DepthReporter, owed_for_s

ELEVEN_MINUTES_S = 660


@pytest.fixture
def broker(messaging: bootstrap.Messaging, redis_client: redis.Redis) -> Iterator[RedisBroker]:
    assert isinstance(messaging.broker, RedisBroker)
    yield messaging.broker  # redis_client empties the database before and after


def owed_refund(age_s: float) -> dramatiq.Message:  # type: ignore[type-arg]
    """A deferred refund's message, owed since `age_s` ago (its timestamp: when it became owed)."""
    return dramatiq.Message(
        queue_name=REFUNDS,
        actor_name="refund_session",
        args=("b2c", "00000000-0000-0000-0000-000000000001", "moderation_blocked"),
        kwargs={},
        options={},
        message_timestamp=int((time.time() - age_s) * 1000),
    )


def oldest(reporter: DepthReporter) -> float:
    reporter.report()
    value = REGISTRY.get_sample_value("wearon_deferred_refund_oldest_seconds")
    assert value is not None
    return value


@pytest.mark.redis_broker
def test_a_refund_being_tried_is_still_owed(broker: RedisBroker, redis_client: redis.Redis) -> None:
    reporter = DepthReporter(redis_client, broker, bridge_id="test")
    assert oldest(reporter) == 0
    # Given a refund owed for 11 minutes that a worker has taken and is trying (not yet acked),
    broker.enqueue(owed_refund(ELEVEN_MINUTES_S))
    consumer = broker.consume(REFUNDS, prefetch=1, timeout=1000)
    taken = next(consumer)
    assert taken is not None
    try:
        # then it is out of both queue depths DeferredRefundsPending used to read,
        depths = reporter.report()
        assert depths[f"dramatiq:{REFUNDS}"] == 0 and depths[f"dramatiq_delayed:{REFUNDS}"] == 0
        # and still owed, for as long as it has been.
        assert ELEVEN_MINUTES_S <= oldest(reporter) < ELEVEN_MINUTES_S + 30
        # Once paid (acked), nothing is owed.
        consumer.ack(taken)
        assert oldest(reporter) == 0
    finally:
        consumer.close()


@pytest.mark.redis_broker
def test_a_refund_waiting_out_its_retry_is_owed_since_it_first_was(
    broker: RedisBroker, redis_client: redis.Redis
) -> None:
    reporter = DepthReporter(redis_client, broker, bridge_id="test")
    # Given two refunds waiting out a retry's delay (the delay queue), owed 11 and 2 minutes,
    broker.enqueue(owed_refund(ELEVEN_MINUTES_S), delay=60_000)
    broker.enqueue(owed_refund(120), delay=60_000)
    # then the older one counts, from its first deferral, not from its retry.
    assert reporter.report()[f"dramatiq_delayed:{REFUNDS}"] == 2
    assert ELEVEN_MINUTES_S <= oldest(reporter) < ELEVEN_MINUTES_S + 30


@pytest.mark.redis_broker
def test_a_refund_given_up_is_no_longer_pending(broker: RedisBroker, redis_client: redis.Redis) -> None:
    reporter = DepthReporter(redis_client, broker, bridge_id="test")
    broker.enqueue(owed_refund(ELEVEN_MINUTES_S))
    consumer = broker.consume(REFUNDS, prefetch=1, timeout=1000)
    taken = next(consumer)
    assert taken is not None
    # When it is given up (dead-lettered: DeferredRefundsGivenUp's business, not this one's),
    consumer.nack(taken)
    consumer.close()
    # then it is not pending any more.
    assert reporter.report()[f"dramatiq_dead:{REFUNDS}"] == 1
    assert oldest(reporter) == 0


def test_an_undecodable_message_is_skipped() -> None:
    good = owed_refund(60).encode()
    assert owed_for_s([b"not json", good], now_ms=time.time() * 1000) == pytest.approx(60, abs=5)
    assert owed_for_s([b"not json"], now_ms=0) == 0


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
