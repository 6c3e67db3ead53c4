"""What the broker holds, seen by the tests on either broker (WEARON_TEST_BROKER).

Dramatiq's Redis broker is read straight from Redis: a message stays in its queue's `.msgs` hash
from its enqueue to its ack (queued or in a worker's hand), and in `<queue>.DQ.msgs` while it waits
for a delay (a retry). A retry is enqueued on the delay queue before the attempt is acked, so for a
moment one message is in both, the delayed copy the newer. RabbitMQ shows only the messages no
consumer holds; an in-process worker's are followed by `Held`, a middleware on its broker.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.common import q_name

from wearon.actors.broker import PipelinedRedisBroker
from wearon.actors.queue_depths import QUEUES


def held_messages(client: redis.Redis, namespace: str, queue: str) -> list[dict[str, Any]]:
    """Every message of `queue` the broker holds, once each: queued, in hand, or waiting for its retry."""
    held: dict[str, dict[str, Any]] = {}
    for name in (queue, f"{queue}.DQ"):  # the delayed copy last: it wins
        for raw in client.hvals(f"{namespace}:{name}.msgs"):
            message = json.loads(raw)
            held[message["message_id"]] = message
    return list(held.values())


def reader(url: str, namespace: str) -> dramatiq.Broker:
    """A broker on `url` for reading its queues (`wearon.actors.queue_depths`), with none of ours."""
    if url.startswith("amqp"):
        broker: dramatiq.Broker = RabbitmqBroker(url=url, middleware=[])
    else:
        broker = PipelinedRedisBroker(url=url, namespace=namespace, middleware=[])
    for queue in QUEUES:
        broker.declare_queue(queue)
    return broker


class Held(dramatiq.Middleware):
    """Every message this process's broker sent and did not yet ack or nack: queued, in a worker's
    hand, or waiting for a retry's delay (each copy of a message counts once until acked)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._copies: Counter[str] = Counter()
        self._latest: dict[str, dramatiq.Message[Any]] = {}

    def clear(self) -> None:
        with self._lock:
            self._copies.clear()
            self._latest.clear()

    def after_enqueue(
        self, broker: dramatiq.Broker, message: dramatiq.Message[Any], delay: int | None
    ) -> None:
        with self._lock:
            self._copies[message.message_id] += 1
            self._latest[message.message_id] = message

    def after_ack(self, broker: dramatiq.Broker, message: dramatiq.Message[Any]) -> None:
        with self._lock:
            self._copies[message.message_id] -= 1

    after_nack = after_ack

    def messages(self, queue: str) -> list[dict[str, Any]]:
        """The newest copy of each message of `queue` still held; its queue_name ends in .DQ while
        it waits for a delay."""
        with self._lock:
            held = [self._latest[i] for i, n in self._copies.items() if n > 0]
        # As a worker decodes them (JSON: lists, not tuples)
        return [json.loads(m.encode()) for m in held if q_name(m.queue_name) == queue]
