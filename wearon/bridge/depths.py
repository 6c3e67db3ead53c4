"""Publishes queue depths as `wearon_queue_depth{queue=...}` every few seconds, and how long the
longest-owed deferred refund has been owed (`wearon_deferred_refund_oldest_seconds`).

Dramatiq's queues each give `dramatiq:<queue>` (waiting), `dramatiq_delayed:<queue>` (waiting out
a retry's delay) and `dramatiq_dead:<queue>` (dead letters); the refunds queue's first two are the
deferred refunds still owed. The oldest one's age reads every owed refund message, also one a
worker holds or is trying (out of both lists then), from its timestamp: when it became owed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.errors import DecodeError
from loguru import logger
from redis import Redis, RedisError

from wearon import keys, metrics

INTERVAL_S = 5.0
REFUNDS = "refunds"
DRAMATIQ_QUEUES = ("generation", "maintenance", REFUNDS)


class DepthReporter:
    def __init__(self, client: Redis, broker: dramatiq.Broker, *, bridge_id: str) -> None:
        self._redis = client
        self._broker = broker
        self._lists = {
            "tasks": keys.TASKS,
            "dead_letters": keys.DEAD_LETTERS,
            "processing": keys.bridge_processing(bridge_id),
        }

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self._loop, args=(stop,), name="queue-depths", daemon=True)
        thread.start()
        return thread

    def report(self) -> dict[str, int]:
        depths = {name: int(self._redis.llen(key)) for name, key in self._lists.items()}
        if isinstance(self._broker, RedisBroker):
            depths |= dramatiq_depths(self._broker)
            metrics.DEFERRED_REFUND_OLDEST_SECONDS.set(oldest_deferred_refund_s(self._broker))
        for name, depth in depths.items():
            metrics.QUEUE_DEPTH.labels(queue=name).set(depth)
        return depths

    def _loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.report()
            except RedisError as exc:
                logger.debug("queue depths unavailable: {}", exc)
            stop.wait(INTERVAL_S)


def dramatiq_depths(broker: RedisBroker) -> dict[str, int]:
    ns, client = broker.namespace, broker.client
    depths = {}
    for queue in DRAMATIQ_QUEUES:
        depths[f"dramatiq:{queue}"] = int(client.llen(f"{ns}:{queue}"))
        # Every message of the delay queue, also those a worker holds until they are due.
        depths[f"dramatiq_delayed:{queue}"] = int(client.hlen(f"{ns}:{queue}.DQ.msgs"))
        depths[f"dramatiq_dead:{queue}"] = int(client.zcard(f"{ns}:{queue}.XQ"))
    return depths


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
