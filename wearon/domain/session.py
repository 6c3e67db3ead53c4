"""A generation session's life: queued → processing → completed | failed."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SessionStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self in (SessionStatus.COMPLETED, SessionStatus.FAILED)


class ClaimOutcome(StrEnum):
    """What `claim` found. Only CLAIMED lets the worker go on."""

    CLAIMED = "claimed"
    #: Already completed or failed: a duplicate or a late redelivery; do nothing.
    FINISHED = "finished"
    #: Processing under another message's claim (a duplicate task in flight); do nothing.
    BUSY = "busy"
    MISSING = "missing"


@dataclass(frozen=True)
class SweepResult:
    """What one stuck-session sweep did: sessions failed with their credit refunded, and sessions
    it left open because their refund was refused (tried again by the next sweep)."""

    refunded: int
    skipped: int = 0
