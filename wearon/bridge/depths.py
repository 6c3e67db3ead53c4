"""Publishes queue depths as `wearon_queue_depth{queue=...}` every few seconds, and how long the
longest-owed deferred refund has been owed (`wearon_deferred_refund_oldest_seconds`).

Each bridge reports its own in-flight list (`processing`). The shared queues (the tasks list, the
dead letters, Dramatiq's queues: `wearon.actors.queue_depths`) and the oldest refund's age are
reported by one bridge at a time, the holder of a short Redis lease, so that a sum over every
bridge's series counts each message once (the others report an age of 0: max() stays right). A
lease rather than the scheduler: the bridges are the processes that already read these lists, and
when the holder dies another bridge takes over within LEASE_MS.

The oldest refund's age reads every owed refund message, also one a worker holds or is trying
(out of both lists then), from its timestamp: when it became owed. Dramatiq's Redis broker only:
RabbitMQ does not show the messages its consumers hold, and there the age stays 0.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from uuid import uuid4

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.errors import DecodeError
from loguru import logger
from pika.exceptions import AMQPError
from redis import Redis, RedisError

from wearon import keys, metrics
from wearon.actors.queue_depths import broker_depths
from wearon.actors.refunds import QUEUE as REFUNDS

INTERVAL_S = 5.0
#: Three reports long: a holder that misses one keeps it; a dead one loses it in 15 s.
LEASE_MS = int(3 * INTERVAL_S * 1000)
#: Take the lease if it is free, or renew it if it is ours (one atomic step either way).
_TAKE_OR_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return redis.call('set', KEYS[1], ARGV[1], 'nx', 'px', ARGV[2]) and 1 or 0
"""


class DepthReporter:
    def __init__(self, client: Redis, broker: dramatiq.Broker, *, bridge_id: str) -> None:
        self._redis = client
        self._broker = broker
        # Unique per process: two bridges wrongly given one id must still not both lead.
        self._token = f"{bridge_id}:{uuid4().hex[:12]}"
        self._processing = keys.bridge_processing(bridge_id)
        self._take_or_renew = client.register_script(_TAKE_OR_RENEW)
        self._shared: set[str] = set()  # the shared queues this bridge last reported

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self._loop, args=(stop,), name="queue-depths", daemon=True)
        thread.start()
        return thread

    def report(self) -> dict[str, int]:
        """Set the gauges; return what this bridge reports (the shared queues only while it leads)."""
        depths = {"processing": int(self._redis.llen(self._processing))}
        leads = self._leads()
        shared = self._shared_depths() if leads else {}
        for gone in self._shared - shared.keys():
            metrics.QUEUE_DEPTH.remove(gone)
        self._shared = set(shared)
        depths |= shared
        for name, depth in depths.items():
            metrics.QUEUE_DEPTH.labels(queue=name).set(depth)
        metrics.DEFERRED_REFUND_OLDEST_SECONDS.set(self._oldest_refund_s() if leads else 0.0)
        return depths

    def _leads(self) -> bool:
        return bool(self._take_or_renew(keys=[keys.QUEUE_DEPTHS_LEASE], args=[self._token, LEASE_MS]))

    def _shared_depths(self) -> dict[str, int]:
        depths = {"tasks": int(self._redis.llen(keys.TASKS))}
        depths["dead_letters"] = int(self._redis.llen(keys.DEAD_LETTERS))
        return depths | broker_depths(self._broker)

    def _oldest_refund_s(self) -> float:
        return oldest_deferred_refund_s(self._broker) if isinstance(self._broker, RedisBroker) else 0.0

    def _loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.report()
            except (RedisError, AMQPError) as exc:
                logger.debug("queue depths unavailable: {}", exc)
            stop.wait(INTERVAL_S)


def oldest_deferred_refund_s(broker: RedisBroker) -> float:
    """Seconds the longest-owed deferred refund has been owed; 0 when none is. Every message of the
    refunds queue and of its delay queue (Dramatiq keeps each in a hash until it is acked), so a
    refund being tried, or held by a busy worker, still counts; a dead-lettered one does not."""
    ns, client = broker.namespace, broker.client
    owed = [*client.hvals(f"{ns}:{REFUNDS}.msgs"), *client.hvals(f"{ns}:{REFUNDS}.DQ.msgs")]
    return owed_for_s(owed, now_ms=time.time() * 1000)


def owed_for_s(messages: Iterable[bytes], *, now_ms: float) -> float:
    """The age of the oldest of these encoded Dramatiq messages (0 for none); one that does not
    decode is skipped (it cannot be a refund Dramatiq would run)."""
    stamps = []
    for raw in messages:
        try:
            stamps.append(dramatiq.Message.decode(raw).message_timestamp)
        except DecodeError:
            logger.warning("an undecodable message ({} bytes) in the refunds queue", len(raw))
    return max((now_ms - min(stamps)) / 1000, 0.0) if stamps else 0.0
