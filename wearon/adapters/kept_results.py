"""ResultKeeper on the Redis every worker host shares: one key per session, with a TTL, bounded
in size.

Keeping is best effort (the bytes are still in hand, and the upload is retried in place); reading
is not: an attempt that cannot tell whether an image was already paid for must not pay again.
"""

from __future__ import annotations

from uuid import UUID

from loguru import logger
from redis import Redis, RedisError

from wearon import keys, metrics
from wearon.domain.task import Channel
from wearon.errors import InfrastructureError

#: Results are JPEGs of at most 4096 px a side (wearon.services.generation): a few MB.
DEFAULT_MAX_BYTES = 16 * 1024 * 1024


class RedisResultKeeper:
    def __init__(self, client: Redis, *, ttl_s: int, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._redis = client
        self._ttl_s = ttl_s
        self._max_bytes = max_bytes

    def keep(self, channel: Channel, session_id: UUID, data: bytes) -> None:
        if len(data) > self._max_bytes:
            logger.warning("result of {} bytes is too large to keep until stored", len(data))
            metrics.KEPT_RESULTS.labels(event="too_large").inc()
            return
        try:
            self._redis.set(_key(channel, session_id), data, ex=self._ttl_s)
        except RedisError as exc:
            logger.warning("could not keep the result until stored: {}", type(exc).__name__)
            metrics.KEPT_RESULTS.labels(event="keep_failed").inc()
            return
        metrics.KEPT_RESULTS.labels(event="kept").inc()

    def kept(self, channel: Channel, session_id: UUID) -> bytes | None:
        try:
            data = self._redis.get(_key(channel, session_id))
        except RedisError as exc:
            raise InfrastructureError(f"kept results unreadable: {type(exc).__name__}") from None
        if data is not None:
            metrics.KEPT_RESULTS.labels(event="reused").inc()
        return data  # type: ignore[return-value]

    def drop(self, channel: Channel, session_id: UUID) -> None:
        try:
            self._redis.delete(_key(channel, session_id))
        except RedisError as exc:  # the TTL removes it anyway
            logger.warning("could not drop the kept result: {}", type(exc).__name__)


def _key(channel: Channel, session_id: UUID) -> str:
    return keys.kept_result(channel.value, str(session_id))
