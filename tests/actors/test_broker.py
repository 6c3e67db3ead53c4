"""The broker's pipelined enqueue (the bridge's burst path), on the real Redis."""

from __future__ import annotations

import json

import pytest
import redis
from dramatiq import Message
from dramatiq.brokers.stub import StubBroker

from wearon.actors import broker, generate
from wearon.actors.broker import PipelinedRedisBroker, pipelined


def queued(client: redis.Redis) -> list[dict[str, object]]:
    """The generation queue's messages, oldest first, as Dramatiq stored them."""
    assert isinstance(broker, PipelinedRedisBroker)
    queue = f"{broker.namespace}:generation"
    ids = client.lrange(queue, 0, -1)
    return [json.loads(client.hget(f"{queue}.msgs", i)) for i in ids]  # type: ignore[arg-type]


def test_enqueues_in_a_pipelined_block_are_sent_together_when_it_ends(redis_client: redis.Redis) -> None:
    with pipelined(broker):
        sent = [generate.send({"n": n}) for n in range(5)]
        assert queued(redis_client) == []  # nothing on the wire yet
    assert [m["message_id"] for m in queued(redis_client)] == [m.message_id for m in sent]
    assert [m["args"] for m in queued(redis_client)] == [[{"n": n}] for n in range(5)]


def test_a_block_that_fails_sends_nothing(redis_client: redis.Redis) -> None:
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
