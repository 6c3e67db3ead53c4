"""Publishes queue depths as `wearon_queue_depth{queue=...}` every few seconds.

Dramatiq's queues each give `dramatiq:<queue>` (waiting), `dramatiq_delayed:<queue>` (waiting out
a retry's delay) and `dramatiq_dead:<queue>` (dead letters); the refunds queue's first two are the
deferred refunds still owed.
"""

from __future__ import annotations

import threading

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from loguru import logger
from redis import Redis, RedisError

from wearon import keys, metrics

INTERVAL_S = 5.0
DRAMATIQ_QUEUES = ("generation", "maintenance", "refunds")


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
            ns = self._broker.namespace
            for queue in DRAMATIQ_QUEUES:
                depths[f"dramatiq:{queue}"] = int(self._broker.client.llen(f"{ns}:{queue}"))
                # Every message of the delay queue, also those a worker holds until they are due.
                depths[f"dramatiq_delayed:{queue}"] = int(self._broker.client.hlen(f"{ns}:{queue}.DQ.msgs"))
                depths[f"dramatiq_dead:{queue}"] = int(self._broker.client.zcard(f"{ns}:{queue}.XQ"))
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
