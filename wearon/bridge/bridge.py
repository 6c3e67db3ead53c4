"""The bridge loop: a reliable-queue consumer of the tasks list.

Each task is moved atomically (BLMOVE) from the tasks list onto this bridge's processing
list, then enqueued into Dramatiq (or dead-lettered), and only then removed from the
processing list. A crash in between leaves it there, and it is re-driven on the next start
or after a Redis outage; the actor makes the resulting duplicate harmless.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from uuid import UUID

from loguru import logger
from redis import Redis, RedisError

from wearon import keys, metrics
from wearon.bridge.dead_letters import dead_letter
from wearon.domain.failure import FailureReason
from wearon.domain.task import Channel, GenerationTask, parse_task, salvage_session
from wearon.errors import InvalidTask, WearOnError

Enqueue = Callable[[GenerationTask], None]
#: A block whose enqueues are sent together when it ends (one round trip per batch).
Batch = Callable[[], AbstractContextManager[None]]
Refund = Callable[[Channel, UUID, FailureReason], bool]

#: Tasks taken per round trip once the first one arrives (the burst path).
BATCH = 200
BLOCK_S = 1
#: Redis (or the broker) down: wait this long between attempts, never a tight loop.
OUTAGE_BACKOFF_S = 5.0


class Bridge:
    def __init__(
        self,
        client: Redis,
        *,
        enqueue: Enqueue,
        refund: Refund,
        batch: Batch = nullcontext,
        bridge_id: str = "default",
        broker_errors: tuple[type[Exception], ...] = (),
        outage_backoff_s: float = OUTAGE_BACKOFF_S,
    ) -> None:
        self._redis = client
        self._enqueue = enqueue
        self._batch = batch
        self._refund = refund
        self._processing = keys.bridge_processing(bridge_id)
        self._transient: tuple[type[Exception], ...] = (RedisError, *broker_errors)
        self._backoff_s = outage_backoff_s

    def run(self, stop: threading.Event) -> None:
        """Move tasks until `stop` is set; the task in hand is always finished first."""
        pending_redrive = True
        while not stop.is_set():
            try:
                if pending_redrive:
                    self.redrive()
                    pending_redrive = False
                self.step()
            except self._transient as exc:
                logger.warning("redis or broker unavailable ({}); retrying in {:.0f} s", exc, self._backoff_s)
                pending_redrive = True
                stop.wait(self._backoff_s)

    def redrive(self) -> int:
        """Handle what a previous run took but did not finish."""
        leftovers: list[bytes] = self._redis.lrange(self._processing, 0, -1)  # type: ignore[assignment]
        self._handle_all(list(reversed(leftovers)))  # oldest first
        if leftovers:
            logger.warning("re-drove {} tasks left in flight by a previous run", len(leftovers))
        return len(leftovers)

    def step(self) -> int:
        """Take up to BATCH tasks (waiting up to BLOCK_S for the first) and handle them."""
        batch = self._take()
        self._handle_all(batch)
        return len(batch)

    def _handle_all(self, batch: list[bytes]) -> None:
        """Enqueue (or dead-letter) each task, send the enqueues together, then drop them from the
        processing list in one round trip. A crash in between re-drives duplicates, which the actor
        ignores; nothing is removed before it is in Dramatiq's queue."""
        enqueued: list[tuple[bytes, GenerationTask]] = []
        with self._batch():
            for raw in batch:
                task = self._enqueue_one(raw)
                if task is not None:
                    enqueued.append((raw, task))
        if not enqueued:
            return
        pipe = self._redis.pipeline(transaction=False)
        for raw, _ in enqueued:
            pipe.lrem(self._processing, 1, raw)  # type: ignore[arg-type]  # redis-py types values as str
        pipe.execute()
        for _, task in enqueued:
            with _task_context(task):
                metrics.BRIDGE_MOVED.inc()
                metrics.BRIDGE_LAG_SECONDS.observe(
                    max((datetime.now(UTC) - task.created_at).total_seconds(), 0.0)
                )
                logger.info("task handed to the worker queue")

    def _enqueue_one(self, raw: bytes) -> GenerationTask | None:
        """Enqueue one task, or dead-letter it (and take it off the processing list): None."""
        try:
            task = parse_task(raw)
        except InvalidTask as exc:
            self._reject(raw, exc)
            return None
        with _task_context(task):
            _log_new_fields(task.ignored_fields)
            self._enqueue(task)
        return task

    def _take(self) -> list[bytes]:
        first = self._redis.blmove(keys.TASKS, self._processing, BLOCK_S, "RIGHT", "LEFT")
        if first is None:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for _ in range(BATCH - 1):
            pipe.lmove(keys.TASKS, self._processing, "RIGHT", "LEFT")
        return [first, *(raw for raw in pipe.execute() if raw is not None)]

    def _reject(self, raw: bytes, error: InvalidTask) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.lpush(keys.DEAD_LETTERS, dead_letter(raw, error))
        pipe.lrem(self._processing, 1, raw)  # type: ignore[arg-type]
        pipe.execute()
        metrics.BRIDGE_INVALID.labels(reason=error.kind).inc()
        logger.error("invalid task dead-lettered: {}", error.reason)
        self._refund_salvaged(raw)

    def _refund_salvaged(self, raw: bytes) -> None:
        salvaged = salvage_session(raw)
        if salvaged is None:
            return
        channel, session_id = salvaged
        with logger.contextualize(session_id=str(session_id), channel=channel):
            try:
                refunded = self._refund(channel, session_id, FailureReason.INVALID_TASK)
            except WearOnError as exc:
                # The session stays queued; the stuck-session sweep refunds it later.
                logger.error("could not fail and refund the session now: {}", exc)
                return
            logger.info("session of the invalid task failed; refunded: {}", refunded)


_fields_logged: set[str] = set()
_fields_lock = threading.Lock()


def _log_new_fields(fields: frozenset[str]) -> None:
    """Name each field the app added that we ignore, once per process: a deploy of the app that
    adds one must be seen, but not on every task."""
    with _fields_lock:
        new = sorted(fields - _fields_logged)
        _fields_logged.update(new)
    if new:
        logger.warning("the app sent fields this worker does not know, ignored: {}", ", ".join(new))


def _task_context(task: GenerationTask) -> AbstractContextManager[None]:
    return logger.contextualize(**task.log_fields)
