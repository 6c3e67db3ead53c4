from __future__ import annotations

import pytest

from tests.helpers.readme import documented_seconds
from wearon.domain.failure import FailureReason
from wearon.domain.policy import (
    HELD_RETRY_DELAY_S,
    INFRA_MAX_BACKOFF_S,
    RATE_LIMIT_RETRY_DELAY_S,
    REFUND_MAX_BACKOFF_S,
    Attempt,
    RefundAttempt,
    attempt_deadline_s,
    decide,
    decide_refund,
    failure_reason,
)
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
from wearon.settings import Settings

FIRST = Attempt(rate_limited_before=0, infra_failures_before=0, held_for_s=0.0)


def test_first_429_retries_after_10_s_and_requeues() -> None:
    decision = decide(ProviderRateLimited("429"), FIRST, infra_retry_for_s=600)
    assert decision.retry_in_s == RATE_LIMIT_RETRY_DELAY_S == 10.0
    assert decision.requeue


def test_second_429_is_final() -> None:
    second = Attempt(rate_limited_before=1, infra_failures_before=0, held_for_s=11.0)
    assert decide(ProviderRateLimited("429"), second, infra_retry_for_s=600).is_final


@pytest.mark.parametrize(
    "exc",
    [
        ModerationBlocked("blocked"),
        ProviderUnavailable("5xx"),
        ProviderBadResponse("garbage"),
        ImageRejected("too_large", "big"),
        SessionNotFound("gone"),
        RuntimeError("bug"),
    ],
)
def test_everything_else_fails_at_once(exc: BaseException) -> None:
    assert decide(exc, FIRST, infra_retry_for_s=600).is_final


def test_infrastructure_is_held_with_capped_backoff_then_final() -> None:
    delays = [
        decide(InfrastructureError("db"), Attempt(0, n, 10.0), infra_retry_for_s=600).retry_in_s
        for n in range(8)
    ]
    assert delays == [1, 2, 4, 8, 16, INFRA_MAX_BACKOFF_S, INFRA_MAX_BACKOFF_S, INFRA_MAX_BACKOFF_S]
    assert not decide(InfrastructureError("db"), Attempt(0, 3, 10.0), infra_retry_for_s=600).requeue
    assert decide(InfrastructureError("db"), Attempt(0, 3, 600.0), infra_retry_for_s=600).is_final


def test_a_session_held_by_a_running_attempt_is_waited_for_never_failed_by_the_policy() -> None:
    # However long the copy has waited: the holder's own deadline bounds its attempt
    for waited in (FIRST, Attempt(1, 5, 10_000.0)):
        decision = decide(SessionHeld("held"), waited, infra_retry_for_s=600)
        assert decision.retry_in_s == HELD_RETRY_DELAY_S == 10.0
        assert not decision.requeue  # the holder is working on it: not `queued` to the user


def test_reasons_and_user_messages() -> None:
    assert failure_reason(ModerationBlocked("x")) == "moderation_blocked"
    assert failure_reason(ProviderRateLimited("x")) == "provider_rate_limited"
    assert failure_reason(KeyError("x")) == "internal_error"
    assert "content safety" in FailureReason.MODERATION_BLOCKED.user_message
    assert all("refunded" in reason.user_message for reason in FailureReason)


def test_by_default_our_infrastructure_is_waited_for_the_readmes_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("INFRA_RETRY_FOR_S", raising=False)
    window_s = Settings(_env_file=None).infra_retry_for_s
    assert window_s == documented_seconds("INFRA_RETRY_FOR_S")
    held = [Attempt(0, 5, held_for_s=window_s - 1), Attempt(0, 5, held_for_s=window_s)]
    decisions = [decide(InfrastructureError("db"), a, infra_retry_for_s=window_s) for a in held]
    assert [d.is_final for d in decisions] == [False, True]


def test_a_misconfiguration_fails_at_once_however_early() -> None:
    # Unlike an outage (held for infra_retry_for_s), waiting changes nothing
    refused = Misconfigured("wearon_claim_session", "42501", "permission denied")
    assert decide(refused, FIRST, infra_retry_for_s=600).is_final
    assert failure_reason(refused) == FailureReason.MISCONFIGURED == "misconfigured"
    assert "refunded" in FailureReason.MISCONFIGURED.user_message


@pytest.mark.parametrize(
    "exc", [InfrastructureError("away"), Misconfigured("wearon_fail_and_refund", "P0002")]
)
def test_a_deferred_refund_backs_off_while_owed_then_is_given_up_at_the_bound(exc: BaseException) -> None:
    delays = [
        decide_refund(exc, RefundAttempt(tries_before=n, owed_for_s=10.0), give_up_after_s=900).retry_in_s
        for n in range(8)
    ]
    assert delays == [5, 10, 20, 40, 80, 160, REFUND_MAX_BACKOFF_S, REFUND_MAX_BACKOFF_S]
    # The last try falls on the bound, not a whole back-off past it; at the bound, it is given up
    assert decide_refund(exc, RefundAttempt(7, owed_for_s=850.0), give_up_after_s=900).retry_in_s == 50
    assert decide_refund(exc, RefundAttempt(8, owed_for_s=900.0), give_up_after_s=900).is_final


def test_a_deferred_refund_failing_on_a_bug_is_given_up_at_once() -> None:
    assert decide_refund(KeyError("x"), RefundAttempt(0, owed_for_s=1.0), give_up_after_s=900).is_final


def test_an_attempt_keeps_a_reserve_of_its_time_limit_for_failing_and_refunding() -> None:
    assert attempt_deadline_s(300) == 297.0
    assert attempt_deadline_s(6) == pytest.approx(5.4)


def test_a_passed_task_deadline_fails_at_once_as_the_time_limit() -> None:
    exc = TaskDeadlineExceeded("deadline")
    assert decide(exc, Attempt(0, 0, 1.0), infra_retry_for_s=600).is_final
    assert failure_reason(exc) is FailureReason.TIME_LIMIT
