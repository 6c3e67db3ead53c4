"""Publishes queue depths as `wearon_queue_depth{queue=...}` every few seconds.

Each bridge reports its own in-flight list (`processing`). The shared queues (the tasks list, the
dead letters, Dramatiq's queues: `wearon.actors.queue_depths`) are reported by one bridge at a
time, the holder of a short Redis lease, so that a sum over every bridge's series counts each
message once. A lease rather than the scheduler: the bridges are the processes that already read
these lists, and when the holder dies another bridge takes over within LEASE_MS.
"""

from __future__ import annotations

import threading
from uuid import uuid4

import dramatiq
from loguru import logger
from pika.exceptions import AMQPError
from redis import Redis, RedisError

from wearon import keys, metrics
from wearon.actors.queue_depths import broker_depths

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
        shared = self._shared_depths() if self._leads() else {}
        for gone in self._shared - shared.keys():
            metrics.QUEUE_DEPTH.remove(gone)
        self._shared = set(shared)
        depths |= shared
        for name, depth in depths.items():
            metrics.QUEUE_DEPTH.labels(queue=name).set(depth)
        return depths

    def _leads(self) -> bool:
        return bool(self._take_or_renew(keys=[keys.QUEUE_DEPTHS_LEASE], args=[self._token, LEASE_MS]))

    def _shared_depths(self) -> dict[str, int]:
        depths = {"tasks": int(self._redis.llen(keys.TASKS))}
        depths["dead_letters"] = int(self._redis.llen(keys.DEAD_LETTERS))
        return depths | broker_depths(self._broker)

    def _loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.report()
            except (RedisError, AMQPError) as exc:
                logger.debug("queue depths unavailable: {}", exc)
            stop.wait(INTERVAL_S)
