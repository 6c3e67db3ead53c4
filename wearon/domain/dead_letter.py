"""A dead letter as an operator sees it, whichever store holds it: the bridge's list (payloads it
could not parse) or Dramatiq's (messages that failed for good)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from wearon.domain.task import Channel


class DeadLetterStore(StrEnum):
    BRIDGE = "bridge"
    DRAMATIQ = "dramatiq"


@dataclass(frozen=True)
class DeadLetter:
    store: DeadLetterStore
    #: The bridge's: a hash of its record (the list has no ids); Dramatiq's: the message id.
    id: str
    #: The bridge's dead-letter list, or the Dramatiq queue the message died on.
    queue: str
    at: datetime
    #: The bridge's kind of refusal (`schema`, `invalid_json`...), or the Dramatiq actor's name.
    kind: str
    #: Why it died: the bridge's reason, or the message's last error.
    reason: str
    error_id: str | None
    #: The payload as the operator reads it: the raw text, or the message's actor, args and options.
    payload: Any
    session: tuple[Channel, UUID] | None
    #: What the store finds it by (the bridge's exact record bytes); never shown.
    handle: bytes = b""

    def age_s(self, now: datetime | None = None) -> float:
        return ((now or datetime.now(UTC)) - self.at).total_seconds()

    def to_json(self) -> dict[str, Any]:
        channel, session_id = self.session or (None, None)
        return {
            "store": self.store.value,
            "id": self.id,
            "queue": self.queue,
            "at": self.at.isoformat(),
            "kind": self.kind,
            "reason": self.reason,
            "error_id": self.error_id,
            "channel": channel.value if channel else None,
            "session_id": str(session_id) if session_id else None,
            "payload": self.payload,
        }
