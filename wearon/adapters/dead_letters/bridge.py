"""The bridge's dead letters: JSON records on a Redis list (`wearon.bridge.dead_letters` writes
them, newest on the left), read, replayed onto the tasks list, purged and pruned by age here."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime

from redis import Redis

from wearon import keys
from wearon.domain.dead_letter import DeadLetter, DeadLetterStore
from wearon.domain.task import salvage_session

#: Replay is atomic: the record leaves the dead letters only as its payload joins the tasks list,
#: and a record another operator already took is not pushed twice.
_REPLAY = """
if redis.call('lrem', KEYS[1], -1, ARGV[1]) == 1 then
    redis.call('lpush', KEYS[2], ARGV[2])
    return 1
end
return 0
"""


class BridgeDeadLetters:
    store = DeadLetterStore.BRIDGE

    def __init__(self, client: Redis) -> None:
        self._redis = client
        self._replay = client.register_script(_REPLAY)

    def letters(self) -> list[DeadLetter]:
        records: list[bytes] = self._redis.lrange(keys.DEAD_LETTERS, 0, -1)  # type: ignore[assignment]
        return [_letter(record) for record in reversed(records)]  # oldest first

    def remove(self, letter: DeadLetter) -> bool:
        return bool(self._redis.lrem(keys.DEAD_LETTERS, -1, _record_of(letter)))  # type: ignore[arg-type]

    def requeue(self, letter: DeadLetter) -> bool:
        """Back onto the tasks list, where the bridge takes (and validates) it again."""
        raw = raw_payload(letter)
        return bool(self._replay(keys=[keys.DEAD_LETTERS, keys.TASKS], args=[_record_of(letter), raw]))

    def oldest(self) -> datetime | None:
        record = self._last()
        return _letter(record).at if record is not None else None

    def prune(self, before: datetime) -> int:
        """Drop the records older than `before`, oldest first (the list is in time order)."""
        pruned = 0
        while (record := self._last()) is not None:
            if _letter(record).at >= before:
                break
            pruned += int(self._redis.lrem(keys.DEAD_LETTERS, -1, record))  # type: ignore[arg-type]
        return pruned

    def _last(self) -> bytes | None:
        """The oldest record (LRANGE: the services' Redis user is not granted LINDEX)."""
        found: list[bytes] = self._redis.lrange(keys.DEAD_LETTERS, -1, -1)  # type: ignore[assignment]
        return found[0] if found else None


def raw_payload(letter: DeadLetter) -> bytes:
    """The payload exactly as the app pushed it."""
    record = json.loads(_record_of(letter))
    return record["raw"].encode() if "raw" in record else base64.b64decode(record["raw_b64"])


def _letter(record: bytes) -> DeadLetter:
    data = json.loads(record)
    raw = data["raw"].encode() if "raw" in data else base64.b64decode(data.get("raw_b64", ""))
    return DeadLetter(
        store=DeadLetterStore.BRIDGE,
        id=hashlib.sha256(record).hexdigest()[:12],
        queue=keys.DEAD_LETTERS,
        at=datetime.fromisoformat(data["at"]),
        kind=data.get("kind", ""),
        reason=data.get("reason", ""),
        error_id=None,
        payload={k: data[k] for k in ("raw", "raw_b64") if k in data},
        session=salvage_session(raw),
        handle=record,
    )


def _record_of(letter: DeadLetter) -> bytes:
    return letter.handle
