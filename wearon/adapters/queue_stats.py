"""What `wearon-admin queues` shows, read from Redis: every list a task passes through, its depth
and the age of its oldest entry, what each bridge holds in flight, and Dramatiq's queues (waiting,
in flight in workers, delayed retries, dead). Only with commands the services' Redis user is
granted (ops/redis/users.acl): KEYS and LRANGE, not SCAN and LINDEX."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from redis import Redis

from wearon import keys


class QueueStats:
    def __init__(
        self, client: Redis, broker_client: Redis | None, namespace: str, queues: tuple[str, ...]
    ) -> None:
        self._redis = client
        self._broker = broker_client
        self._ns = namespace
        self._queues = queues

    def report(self) -> dict[str, Any]:
        return {
            "intake_paused": self._redis.get(keys.INTAKE_PAUSED) is not None,
            "tasks": {"depth": self._redis.llen(keys.TASKS), "oldest_age_s": self._oldest_task_age()},
            "in_flight_per_bridge": self._bridges(),
            "bridge_dead_letters": self._redis.llen(keys.DEAD_LETTERS),
            "dramatiq": {q: self._dramatiq(q) for q in self._queues} if self._broker is not None else None,
        }

    def _oldest_task_age(self) -> float | None:
        """From the oldest task's created_at (the app's LPUSH); None if empty or unreadable."""
        oldest: list[bytes] = self._redis.lrange(keys.TASKS, -1, -1)  # type: ignore[assignment]
        try:
            return _age(datetime.fromisoformat(json.loads(oldest[0] if oldest else b"")["created_at"]))
        except (ValueError, KeyError, TypeError):
            return None

    def _bridges(self) -> dict[str, int]:
        prefix = keys.bridge_processing("")
        found: list[bytes] = self._redis.keys(prefix + "*")  # type: ignore[assignment]
        return {key.decode().removeprefix(prefix): int(self._redis.llen(key)) for key in found}

    def _dramatiq(self, queue: str) -> dict[str, Any]:
        assert self._broker is not None
        name = f"{self._ns}:{queue}"
        acks: list[bytes] = self._broker.keys(f"{self._ns}:__acks__.*.{queue}")  # type: ignore[assignment]
        return {
            "waiting": self._broker.llen(name),
            "oldest_age_s": self._oldest_message_age(name),
            "in_flight": sum(int(self._broker.scard(key)) for key in acks),
            "delayed": self._broker.hlen(f"{name}.DQ.msgs"),
            "dead": self._broker.zcard(f"{name}.XQ"),
        }

    def _oldest_message_age(self, name: str) -> float | None:
        """Dramatiq pushes on the right and takes from the left: the first is the oldest."""
        assert self._broker is not None
        first: list[bytes] = self._broker.lrange(name, 0, 0)  # type: ignore[assignment]
        raw: bytes | None = self._broker.hget(f"{name}.msgs", first[0]) if first else None  # type: ignore[assignment]
        if raw is None:
            return None
        return _age(datetime.fromtimestamp(json.loads(raw)["message_timestamp"] / 1000, UTC))


def _age(at: datetime) -> float:
    return round((datetime.now(UTC) - at).total_seconds(), 1)
