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
    #: Processing under this message's claim by another attempt whose lease is live: a copy of the
    #: message redelivered while that attempt still runs (its host cut off from the broker); wait.
    HELD = "held"
    MISSING = "missing"


#: How long a claim's lease lasts unless its holder renews it (every quarter of it): a copy of a
#: message redelivered after its attempt died waits at most this long before it takes over.
CLAIM_LEASE_S = 20


@dataclass(frozen=True)
class Lease:
    """One attempt's hold on the session it claimed: `holder` names the attempt (unique on every
    host), and the store keeps the hold `seconds` from each claim or renewal."""

    holder: str
    seconds: int = CLAIM_LEASE_S


@dataclass(frozen=True)
class SweepResult:
    """What one stuck-session sweep did: sessions failed with their credit refunded, and sessions
    it left open because their refund was refused (tried again by the next sweep)."""

    refunded: int
    skipped: int = 0
