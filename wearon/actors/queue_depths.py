"""How many messages each of our Dramatiq queues holds, read from whichever broker runs them.

Per queue `q`: `dramatiq:q` (waiting), `dramatiq_delayed:q` (waiting out a retry's delay) and
`dramatiq_dead:q` (dead letters); the refunds queue's first two are the deferred refunds still owed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from pika.exceptions import AMQPError

from wearon.actors import generation, maintenance, refunds

#: Every queue our actors are declared on.
QUEUES = (generation.QUEUE, maintenance.QUEUE, refunds.QUEUE)


def broker_depths(broker: dramatiq.Broker) -> dict[str, int]:
    """Every queue's three depths; none for a broker we cannot read (the stub)."""
    read = _reader(broker)
    return {name: n for queue in QUEUES for name, n in read(queue).items()} if read else {}


def _reader(broker: dramatiq.Broker) -> Callable[[str], dict[str, int]] | None:
    if isinstance(broker, RedisBroker):
        return partial(_redis_depths, broker)
    if isinstance(broker, RabbitmqBroker):
        return partial(_rabbitmq_depths, broker)
    return None


def _redis_depths(broker: RedisBroker, queue: str) -> dict[str, int]:
    ns, client = broker.namespace, broker.client
    return {
        f"dramatiq:{queue}": int(client.llen(f"{ns}:{queue}")),
        # Every message of the delay queue, also those a worker holds until they are due.
        f"dramatiq_delayed:{queue}": int(client.hlen(f"{ns}:{queue}.DQ.msgs")),
        f"dramatiq_dead:{queue}": int(client.zcard(f"{ns}:{queue}.XQ")),
    }


def _rabbitmq_depths(broker: RabbitmqBroker, queue: str) -> dict[str, int]:
    """The ready messages of the queue, its delay queue and its dead-letter queue. A message a
    worker holds is unacknowledged, which AMQP does not count: the delay queue's messages are
    fetched by workers at once and held until due, so `dramatiq_delayed:` is mostly 0 here (the
    management plugin's `messages_unacknowledged` shows them)."""
    try:
        # Declares the three queues as Dramatiq does (the same arguments), which also reads them.
        waiting, delayed, dead = broker.get_queue_message_counts(queue)
    except AMQPError:
        del broker.connection  # this thread's next read opens a new one
        raise
    return {
        f"dramatiq:{queue}": waiting,
        f"dramatiq_delayed:{queue}": delayed,
        f"dramatiq_dead:{queue}": dead,
    }
