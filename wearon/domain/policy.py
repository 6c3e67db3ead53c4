"""The one place that decides, from an error's type, whether a generation retries or fails.

A final failure is refunded by the refund middleware; a retry is not (yet).
"""

from __future__ import annotations

from dataclasses import dataclass

from wearon.domain.failure import FailureReason
from wearon.errors import (
    ImageRejected,
    InfrastructureError,
    ModerationBlocked,
    ProviderBadResponse,
    ProviderRateLimited,
    ProviderUnavailable,
    SessionNotFound,
)

#: The product spec: a 429 is retried once, after 10 s.
RATE_LIMIT_RETRY_DELAY_S = 10.0
#: Our own infrastructure is retried with a capped exponential back-off.
INFRA_MAX_BACKOFF_S = 30.0

_REASONS: tuple[tuple[type[BaseException], FailureReason], ...] = (
    (ProviderRateLimited, FailureReason.PROVIDER_RATE_LIMITED),
    (ModerationBlocked, FailureReason.MODERATION_BLOCKED),
    (ProviderUnavailable, FailureReason.PROVIDER_UNAVAILABLE),
    (ProviderBadResponse, FailureReason.PROVIDER_BAD_RESPONSE),
    (ImageRejected, FailureReason.IMAGE_REJECTED),
    (InfrastructureError, FailureReason.INFRASTRUCTURE),
    (SessionNotFound, FailureReason.SESSION_NOT_FOUND),
)


@dataclass(frozen=True)
class Attempt:
    """What is known about the message when an attempt fails."""

    rate_limited_before: int
    infra_failures_before: int
    held_for_s: float


@dataclass(frozen=True)
class Decision:
    retry_in_s: float | None
    #: Set the session back to `queued` while it waits (the user sees it is not being worked on).
    requeue: bool = False

    @property
    def is_final(self) -> bool:
        return self.retry_in_s is None


FINAL = Decision(retry_in_s=None)


def decide(exc: BaseException, attempt: Attempt, *, infra_retry_for_s: float) -> Decision:
    if isinstance(exc, ProviderRateLimited):
        if attempt.rate_limited_before == 0:
            return Decision(retry_in_s=RATE_LIMIT_RETRY_DELAY_S, requeue=True)
        return FINAL
    if isinstance(exc, InfrastructureError) and attempt.held_for_s < infra_retry_for_s:
        # Not the user's fault: hold the task while the database or storage is away, within a bound.
        return Decision(retry_in_s=min(2.0**attempt.infra_failures_before, INFRA_MAX_BACKOFF_S))
    return FINAL


def failure_reason(exc: BaseException) -> FailureReason:
    """Why a generation that raised `exc` failed; anything unforeseen is an internal error."""
    for kind, reason in _REASONS:
        if isinstance(exc, kind):
            return reason
    return FailureReason.INTERNAL_ERROR
