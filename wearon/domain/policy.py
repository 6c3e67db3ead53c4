"""The one place that decides, from an error's type, whether a generation retries or fails.

A final failure is refunded by the refund middleware; a retry is not (yet).
"""

from __future__ import annotations

from dataclasses import dataclass

from wearon.errors import (
    ImageRejected,
    InfrastructureError,
    ModerationBlocked,
    ProviderBadResponse,
    ProviderRateLimited,
    ProviderUnavailable,
    SessionNotFound,
    WearOnError,
)

#: The product spec: a 429 is retried once, after 10 s.
RATE_LIMIT_RETRY_DELAY_S = 10.0
#: Our own infrastructure is retried with a capped exponential back-off.
INFRA_MAX_BACKOFF_S = 30.0

_REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (ProviderRateLimited, "provider_rate_limited"),
    (ModerationBlocked, "moderation_blocked"),
    (ProviderUnavailable, "provider_unavailable"),
    (ProviderBadResponse, "provider_bad_response"),
    (ImageRejected, "image_rejected"),
    (InfrastructureError, "infrastructure"),
    (SessionNotFound, "session_not_found"),
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


def failure_reason(exc: BaseException) -> str:
    """A short, fixed label for metrics and the session row."""
    for kind, reason in _REASONS:
        if isinstance(exc, kind):
            return reason
    return "internal_error"


def user_message(reason: str) -> str:
    """What the end user is told about a failed generation (no internals, no secrets)."""
    if reason == "moderation_blocked":
        return ModerationBlocked.user_message
    if reason == "image_rejected":
        return ImageRejected.user_message
    if reason == "stuck":
        return "The generation took too long. Your credit has been refunded."
    if reason == "invalid_task":
        return "The request could not be processed. Your credit has been refunded."
    return WearOnError.user_message
