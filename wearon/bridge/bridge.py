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
Parse = Callable[[bytes], GenerationTask]
Salvage = Callable[[bytes], tuple[Channel, UUID] | None]

#: Tasks taken per round trip once the first one arrives (the burst path).
BATCH = 200
BLOCK_S = 1
#: How many unknown field names a bridge names in its log, and how much of each (see _NewFields).
MAX_FIELD_NAMES = 64
FIELD_NAME_CHARS = 64
#: Redis (or the broker) down: wait this long between attempts, never a tight loop.
OUTAGE_BACKOFF_S = 5.0
#: While intake is paused (`wearon-admin intake pause`), look again this often.
PAUSED_POLL_S = 1.0


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
        parse: Parse = parse_task,
        salvage: Salvage = salvage_session,
    ) -> None:
        self._redis = client
        self._parse = parse
        self._salvage = salvage
        self._enqueue = enqueue
        self._batch = batch
        self._refund = refund
        self._processing = keys.bridge_processing(bridge_id)
        self._transient: tuple[type[Exception], ...] = (RedisError, *broker_errors)
        self._backoff_s = outage_backoff_s
        self._new_fields = _NewFields()
        self._was_paused = False

    def run(self, stop: threading.Event) -> None:
        """Move tasks until `stop` is set; the task in hand is always finished first."""
        pending_redrive = True
        while not stop.is_set():
            try:
                if pending_redrive:
                    self.redrive()
                    pending_redrive = False
                if self.paused():
                    stop.wait(PAUSED_POLL_S)
                    continue
                self.step()
            except self._transient as exc:
                logger.warning("redis or broker unavailable ({}); retrying in {:.0f} s", exc, self._backoff_s)
                pending_redrive = True
                stop.wait(self._backoff_s)

    def paused(self) -> bool:
        """An operator paused intake: tasks wait on the list, untouched, until it is resumed."""
        # GET, not EXISTS: the services' Redis user may send only the commands users.acl grants.
        paused = self._redis.get(keys.INTAKE_PAUSED) is not None
        if paused != self._was_paused:
            logger.warning("intake paused by an operator" if paused else "intake resumed")
            self._was_paused = paused
        return paused

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
            task = self._parse(raw)
        except InvalidTask as exc:
            self._reject(raw, exc)
            return None
        except Exception as exc:  # noqa: BLE001  a parser bug costs this payload, never the bridge
            logger.opt(exception=exc).error("the task parser failed on a payload")
            self._reject(raw, InvalidTask("parser_error", f"the parser failed: {_summary(exc)}"))
            return None
        with _task_context(task):
            self._new_fields.log(task.ignored_fields)
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
        try:
            salvaged = self._salvage(raw)
        except Exception as exc:  # noqa: BLE001  the payload is dead-lettered already; go on
            logger.opt(exception=exc).error("could not read the session of an invalid task: not refunded now")
            return
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


def _summary(exc: BaseException) -> str:
    """The exception's type and the start of its text (which may quote the payload)."""
    return f"{type(exc).__name__}: {str(exc)[:200]}"


class _NewFields:
    """Names each field the app added that we ignore, once: a deploy of the app that adds one must
    be seen, but not on every task. The names are the producer's to choose, so only the first
    MAX_FIELD_NAMES are remembered (each cut to FIELD_NAME_CHARS); past that, one line says so."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._full = False

    def log(self, fields: frozenset[str]) -> None:
        new = sorted({name[:FIELD_NAME_CHARS] for name in fields} - self._seen)
        if self._full or not new:
            return
        room = MAX_FIELD_NAMES - len(self._seen)
        if named := new[:room]:
            self._seen.update(named)
            logger.warning("the app sent fields this worker does not know, ignored: {}", ", ".join(named))
        if len(new) > room:
            self._full = True
            logger.warning("more than {} unknown field names; no more are named", MAX_FIELD_NAMES)


def _task_context(task: GenerationTask) -> AbstractContextManager[None]:
    return logger.contextualize(**task.log_fields)
