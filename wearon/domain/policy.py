"""The one place that decides, from an error's type, whether a generation retries or fails, and
whether a deferred refund is tried again or given up.

A final failure is refunded by the refund middleware; a retry is not (yet). A refund the store
refused then is deferred, and tried again here within a bound.
"""

from __future__ import annotations

from dataclasses import dataclass

from wearon.domain.failure import FailureReason
from wearon.domain.session import CLAIM_LEASE_S
from wearon.errors import (
    ImageRejected,
    InfrastructureError,
    Misconfigured,
    ModerationBlocked,
    ProviderBadResponse,
    ProviderRateLimited,
    ProviderUnavailable,
    SessionHeld,
    SessionNotFound,
    TaskDeadlineExceeded,
)

#: The product spec: a 429 is retried once, after 10 s.
RATE_LIMIT_RETRY_DELAY_S = 10.0
#: Our own infrastructure is retried with a capped exponential back-off.
INFRA_MAX_BACKOFF_S = 30.0
#: Of an attempt's time limit, the part kept for failing and refunding it once its deadline has cut
#: its calls short (at most this, and at most a tenth of the limit).
DEADLINE_RESERVE_S, DEADLINE_RESERVE_SHARE = 3.0, 0.1
#: A copy of a message whose session another attempt holds looks again after half a lease: by then
#: that attempt has ended (the session is finished, or queued for its retry) or stopped renewing.
HELD_RETRY_DELAY_S = CLAIM_LEASE_S / 2
#: A deferred refund is tried again after 5 s, doubling to 5 min.
REFUND_MIN_BACKOFF_S, REFUND_MAX_BACKOFF_S = 5.0, 300.0

_REASONS: tuple[tuple[type[BaseException], FailureReason], ...] = (
    (ProviderRateLimited, FailureReason.PROVIDER_RATE_LIMITED),
    (ModerationBlocked, FailureReason.MODERATION_BLOCKED),
    (ProviderUnavailable, FailureReason.PROVIDER_UNAVAILABLE),
    (ProviderBadResponse, FailureReason.PROVIDER_BAD_RESPONSE),
    (ImageRejected, FailureReason.IMAGE_REJECTED),
    (InfrastructureError, FailureReason.INFRASTRUCTURE),
    (Misconfigured, FailureReason.MISCONFIGURED),
    (SessionNotFound, FailureReason.SESSION_NOT_FOUND),
    (SessionHeld, FailureReason.INFRASTRUCTURE),
    (TaskDeadlineExceeded, FailureReason.TIME_LIMIT),
)


def attempt_deadline_s(time_limit_s: float) -> float:
    """How long an attempt's own calls may take: its time limit, less a reserve for failing and
    refunding it, so that it ends failed and refunded within the limit whatever the provider does."""
    return time_limit_s - min(DEADLINE_RESERVE_S, DEADLINE_RESERVE_SHARE * time_limit_s)


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
    if isinstance(exc, Misconfigured):
        # Waiting changes nothing until someone fixes the deployment: fail now (the refund
        # middleware refunds, and the misconfiguration is counted and alerted where it was seen).
        return FINAL
    if isinstance(exc, SessionHeld):
        # Never final on its own: the holder's attempt is bounded by its deadline, and ends the
        # session or queues it for a retry; failing it here would refund work still under way.
        return Decision(retry_in_s=HELD_RETRY_DELAY_S)
    if isinstance(exc, ProviderRateLimited):
        if attempt.rate_limited_before == 0:
            return Decision(retry_in_s=RATE_LIMIT_RETRY_DELAY_S, requeue=True)
        return FINAL
    if isinstance(exc, InfrastructureError) and attempt.held_for_s < infra_retry_for_s:
        # Not the user's fault: hold the task while the database or storage is away, within a bound.
        return Decision(retry_in_s=min(2.0**attempt.infra_failures_before, INFRA_MAX_BACKOFF_S))
    return FINAL


@dataclass(frozen=True)
class RefundAttempt:
    """What is known about a deferred refund when the store refuses it again."""

    tries_before: int
    #: Since the generation failed (the refund was deferred).
    owed_for_s: float


def decide_refund(exc: BaseException, attempt: RefundAttempt, *, give_up_after_s: float) -> Decision:
    """A deferred refund the store refused again: tried later, outage or misconfiguration alike (the
    refund is owed until one is fixed), until it has been owed `give_up_after_s`; then given up
    (final). The caller passes the stuck-session sweep's threshold: by then the session has been
    untouched that long, so the sweep fails and refunds it on its first tick the store accepts."""
    if not isinstance(exc, InfrastructureError | Misconfigured):
        return FINAL  # a bug: another try would meet it again
    left_s = give_up_after_s - attempt.owed_for_s
    if left_s <= 0:
        return FINAL
    backoff_s = min(REFUND_MIN_BACKOFF_S * 2.0**attempt.tries_before, REFUND_MAX_BACKOFF_S)
    # The last try falls on the bound, so giving up never waits a whole back-off past it.
    return Decision(retry_in_s=min(backoff_s, max(left_s, 1.0)))


def failure_reason(exc: BaseException) -> FailureReason:
    """Why a generation that raised `exc` failed; anything unforeseen is an internal error."""
    for kind, reason in _REASONS:
        if isinstance(exc, kind):
            return reason
    return FailureReason.INTERNAL_ERROR
