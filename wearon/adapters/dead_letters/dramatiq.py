"""Dramatiq's dead letters on its Redis broker: per queue, a sorted set of message ids by death
time (`<ns>:<queue>.XQ`) and the messages (`.XQ.msgs`), which Dramatiq expires after the broker's
`dead_message_ttl`. Dramatiq keeps the message as it was enqueued, not why it died: the worker
records the last error beside it (`record_error`, from wearon.actors.middleware.dead_letter_errors)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import dramatiq
from redis import Redis

from wearon import keys
from wearon.domain.dead_letter import DeadLetter, DeadLetterStore
from wearon.domain.task import GenerationTask

#: The generation task a message carries, or None (wiring passes wearon.actors.middleware.task_of).
TaskOf = Callable[[dramatiq.Message[Any]], GenerationTask | None]
Enqueue = Callable[[dramatiq.Message[Any]], None]


def _no_task(message: dramatiq.Message[Any]) -> None:
    return None


def _no_enqueue(message: dramatiq.Message[Any]) -> None:
    raise RuntimeError("this DramatiqDeadLetters was built without a broker to replay onto")


#: Options Dramatiq and our middleware add while a message runs; a replay starts without them.
_RUN_OPTIONS = (
    "retries",
    "traceback",
    "eta",
    "redis_message_id",
    "wearon_failure",
    "wearon_error_id",
    "wearon_last_error",
)


class DramatiqDeadLetters:
    store = DeadLetterStore.DRAMATIQ

    def __init__(
        self,
        client: Redis,
        namespace: str,
        queues: tuple[str, ...],
        *,
        task_of: TaskOf = _no_task,
        enqueue: Enqueue = _no_enqueue,
    ) -> None:
        self._redis = client
        self._ns = namespace
        self._queues = queues
        self._task_of = task_of
        self._enqueue = enqueue

    def letters(self) -> list[DeadLetter]:
        found = [letter for queue in self._queues for letter in self._letters_of(queue)]
        return sorted(found, key=lambda letter: letter.at)

    def remove(self, letter: DeadLetter) -> bool:
        pipe = self._redis.pipeline(transaction=True)
        pipe.zrem(self._xq(letter.queue), letter.id)
        pipe.hdel(self._xq(letter.queue) + ".msgs", letter.id)
        pipe.hdel(keys.DRAMATIQ_DEAD_ERRORS, letter.id)
        return bool(pipe.execute()[0])

    def requeue(self, letter: DeadLetter) -> bool:
        """Enqueued afresh (its retry count and errors reset), then removed: a crash in between
        leaves a duplicate, which the actor ignores, never a loss."""
        message = dramatiq.Message.decode(letter.handle)
        options = {k: v for k, v in message.options.items() if k not in _RUN_OPTIONS}
        self._enqueue(message.copy(options=options))
        return self.remove(letter)

    def oldest(self, queue: str) -> datetime | None:
        first = self._redis.zrangebyscore(self._xq(queue), "-inf", "+inf", start=0, num=1, withscores=True)
        return _at(float(first[0][1])) if first else None

    def record_error(self, message_id: str, error: str, error_id: str | None) -> None:
        record = {"id": message_id, "error": error, "error_id": error_id, "at": datetime.now(UTC).isoformat()}
        self._redis.hset(keys.DRAMATIQ_DEAD_ERRORS, message_id, json.dumps(record))

    def prune(self, before: datetime) -> int:
        """Forget recorded errors older than `before` (Dramatiq expires the messages themselves)."""
        old = [mid for mid, record in self._errors().items() if datetime.fromisoformat(record["at"]) < before]
        return int(self._redis.hdel(keys.DRAMATIQ_DEAD_ERRORS, *old)) if old else 0

    def _letters_of(self, queue: str) -> list[DeadLetter]:
        xq = self._xq(queue)
        ids_at: list[tuple[bytes, float]] = self._redis.zrangebyscore(xq, "-inf", "+inf", withscores=True)  # type: ignore[assignment]
        if not ids_at:
            return []
        messages: list[bytes | None] = self._redis.hmget(xq + ".msgs", [mid for mid, _ in ids_at])  # type: ignore[assignment]
        errors = self._errors()
        return [
            self._letter(queue, mid.decode(), _at(score), raw, errors.get(mid.decode(), {}))
            for (mid, score), raw in zip(ids_at, messages, strict=True)
            if raw is not None
        ]

    def _letter(self, queue: str, mid: str, at: datetime, raw: bytes, error: dict[str, Any]) -> DeadLetter:
        message = dramatiq.Message.decode(raw)
        task = self._task_of(message)
        return DeadLetter(
            store=DeadLetterStore.DRAMATIQ,
            id=mid,
            queue=queue,
            at=at,
            kind=message.actor_name,
            reason=error.get("error") or "(no error recorded)",
            error_id=error.get("error_id"),
            payload={"actor": message.actor_name, "args": list(message.args), "options": message.options},
            session=(task.channel, task.session_id) if task else None,
            handle=raw,
        )

    def _errors(self) -> dict[str, dict[str, Any]]:
        # HVALS (each record names its message): the services' Redis user is not granted HGETALL.
        found: list[bytes] = self._redis.hvals(keys.DRAMATIQ_DEAD_ERRORS)  # type: ignore[assignment]
        records = [json.loads(record) for record in found]
        return {record["id"]: record for record in records}

    def _xq(self, queue: str) -> str:
        return f"{self._ns}:{queue}.XQ"


def _at(score: float) -> datetime:
    return datetime.fromtimestamp(score / 1000, UTC)
