"""A misconfigured database or storage in a real Dramatiq worker, on the app's database through the
Supabase stand-in: the task fails at once (INFRA_RETRY_FOR_S is 600 s here, as in production),
the misconfiguration is counted, and the credit comes back exactly once: at once when the refund
itself goes through, else by the deferred refund once the misconfiguration is fixed, else (given
up) by the stuck-session sweep.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

import dramatiq
import pytest

from tests.actors.conftest import Backend, Pipeline
from tests.helpers import postgres
from tests.helpers.backends import SupabaseBackend
from tests.helpers.misconfigurations import (
    RENAMED_REFUND_CREDITS,
    RETYPED_ERROR_COLUMN,
    REVOKED_CLAIM,
    Drift,
    misconfigured,
)
from tests.standins.openai import OpenAIStandIn
from wearon import metrics
from wearon.domain.failure import FailureReason
from wearon.domain.session import Lease
from wearon.domain.task import Channel

#: Well under INFRA_RETRY_FOR_S (600 s): the task was not held as if the database were away.
AT_ONCE_S = 10.0
#: The deferred refund's first try is at once, its second 5 s later (policy.REFUND_MIN_BACKOFF_S).
REFUND_RETRY_S = 5.0


def value(counter: Any, **labels: str) -> float:
    return float(counter.labels(**labels)._value.get())


def failed(reason: FailureReason) -> float:
    return value(metrics.GENERATIONS, channel="b2c", outcome="failed", reason=reason.value)


def supabase_of(backend: Backend) -> SupabaseBackend:
    assert isinstance(backend.inner, SupabaseBackend)
    return backend.inner


def status(backend: Backend, task: dict[str, Any]) -> str:
    row = backend.session_of(task)
    assert row is not None
    return str(row["status"])


# --- refused, then refunded at once ---------------------------------------------------------------


def test_a_revoked_grant_fails_the_task_at_once_and_refunds_it(
    pipeline: Pipeline, backend: Backend, standin: OpenAIStandIn
) -> None:
    before = value(metrics.MISCONFIGURATIONS, call="wearon_claim_session", code="42501")
    failures = failed(FailureReason.MISCONFIGURED)
    with misconfigured(REVOKED_CLAIM):
        # Given service_role may not claim sessions, when a task comes
        started = time.monotonic()
        task = pipeline.push(Channel.B2C, "revoked grant")
        # Then it fails at once, with no provider call, and its credit comes back once
        row = pipeline.wait_terminal(task, timeout=AT_ONCE_S)
    assert time.monotonic() - started < AT_ONCE_S
    assert row["status"] == "failed"
    assert standin.count(task["prompt"]) == 0
    assert backend.refunds(task) == 1
    assert backend.balance_of(task) == pipeline.START_BALANCE
    # And both the misconfiguration and the failure are counted
    assert value(metrics.MISCONFIGURATIONS, call="wearon_claim_session", code="42501") == before + 1
    assert failed(FailureReason.MISCONFIGURED) == failures + 1


@pytest.fixture
def without_the_bucket(backend: Backend) -> Iterator[SupabaseBackend]:
    """The app's project without the bucket the worker is configured for."""
    supabase = supabase_of(backend)
    buckets = supabase.standin.buckets
    supabase.standin.buckets = frozenset({"avatars"})
    yield supabase
    supabase.standin.buckets = buckets


def test_a_missing_bucket_fails_the_task_at_once_and_refunds_it(
    pipeline: Pipeline, backend: Backend, without_the_bucket: SupabaseBackend
) -> None:
    before = value(metrics.MISCONFIGURATIONS, call="storage upload", code="Bucket not found")
    started = time.monotonic()
    task = pipeline.push(Channel.B2C, "no bucket")
    row = pipeline.wait_terminal(task, timeout=AT_ONCE_S)
    assert time.monotonic() - started < AT_ONCE_S
    assert row["status"] == "failed"
    assert backend.refunds(task) == 1
    assert backend.balance_of(task) == pipeline.START_BALANCE
    assert value(metrics.MISCONFIGURATIONS, call="storage upload", code="Bucket not found") == before + 1


# --- the refund itself refused: deferred, paid once fixed --------------------------------------------


def refusals(code: str) -> float:
    return value(metrics.MISCONFIGURATIONS, call="wearon_fail_and_refund", code=code)


def deferred_then_fixed(
    pipeline: Pipeline, backend: Backend, task: dict[str, Any], fix: Callable[[], None]
) -> None:
    """The task failed and its refund was refused: it stays owed (the session not finished, no
    credit back) and pending in the broker, until `fix()`; then the deferred refund pays it, once."""
    pipeline.wait_for(lambda: pipeline.dead_lettered() == 1, timeout=AT_ONCE_S)  # failed, not held
    # The deferred refund's first try meets the misconfiguration too, and waits to try again
    pipeline.wait_for(lambda: pipeline.delayed("refunds") == 1)
    assert status(backend, task) in ("queued", "processing")
    assert postgres.refund_count(Channel.B2C, UUID(task["session_id"])) == 0  # the ledger: none yet
    fix()
    row = pipeline.wait_terminal(task, timeout=REFUND_RETRY_S * 3)
    assert row["status"] == "failed"
    assert backend.refunds(task) == 1
    assert backend.balance_of(task) == pipeline.START_BALANCE
    pipeline.wait_for(lambda: pipeline.delayed("refunds") == 0)


@pytest.mark.parametrize(
    ("drift", "reason"),
    [
        (RENAMED_REFUND_CREDITS, FailureReason.MODERATION_BLOCKED),  # the generation failed for its own
        (RETYPED_ERROR_COLUMN, FailureReason.MISCONFIGURED),  # the claim met the type error first
    ],
    ids=lambda d: getattr(d, "code", ""),
)
def test_a_refund_refused_as_misconfigured_is_paid_once_it_is_fixed(
    pipeline: Pipeline, backend: Backend, drift: Drift, reason: FailureReason
) -> None:
    deferred = value(metrics.REFUNDS_DEFERRED, reason="misconfigured")
    failures, refused = failed(reason), refusals(drift.code)
    with misconfigured(drift) as broken:
        # Given refund_credits is gone (or every write of a b2c session meets a type error), when a
        # generation fails, its refund is deferred; once fixed, it is paid once
        task = pipeline.push(Channel.B2C, "[standin:moderation] refund refused")
        deferred_then_fixed(pipeline, backend, task, broken.fix)
    # Refused when the generation failed, and by the deferred refund's first try at least
    assert refusals(drift.code) >= refused + 2
    assert value(metrics.REFUNDS_DEFERRED, reason="misconfigured") == deferred + 1
    # Counted once, under the generation's own reason
    pipeline.wait_for(lambda: failed(reason) == failures + 1)


def test_a_refund_credits_that_raises_is_paid_once_the_owner_is_mended(
    pipeline: Pipeline, backend: Backend
) -> None:
    # Given the app's refund_credits raises for this owner (P0002: its balance row is gone)
    task = pipeline.task(Channel.B2C, "[standin:moderation] refund raises")
    backend.open_session(task, pipeline.START_BALANCE)
    who, left = task["user_id"], pipeline.START_BALANCE - 1
    postgres.run_sql("delete from public.user_credit_balances where user_id = %s", (who,))
    refused = refusals("P0002")
    # When the generation fails, the refund is refused and deferred; once the row is back, it is paid
    pipeline.send(task)
    deferred_then_fixed(pipeline, backend, task, lambda: postgres.set_balance(Channel.B2C, who, left))
    assert refusals("P0002") >= refused + 2


# --- a refund owed too long: given up, left for the sweep ---------------------------------------------


def test_a_deferred_refund_owed_past_the_bound_is_given_up_and_the_sweep_pays_it(
    pipeline: Pipeline, backend: Backend, worker_broker: dramatiq.Broker
) -> None:
    supabase = supabase_of(backend)
    # Given a session whose generation failed 901 s ago (STUCK_SESSION_AFTER_S is 900) and whose
    # refund is still refused
    task = pipeline.task(Channel.B2C, "owed too long")
    backend.open_session(task, pipeline.START_BALANCE)
    session = UUID(task["session_id"])
    supabase.store.claim(Channel.B2C, session, "a-message-long-gone", Lease("a-message-long-gone-attempt"))
    given_up = value(metrics.DEFERRED_REFUNDS_GIVEN_UP, reason="misconfigured")
    with misconfigured(RENAMED_REFUND_CREDITS) as broken:
        refund = worker_broker.get_actor("refund_session").message("b2c", str(session), "moderation_blocked")
        worker_broker.enqueue(refund.copy(message_timestamp=refund.message_timestamp - 901_000))
        # When its deferred refund is refused again, it is given up: counted, dead-lettered, still owed
        pipeline.wait_for(lambda: pipeline.dead_lettered("refunds") == 1, timeout=AT_ONCE_S)
        assert value(metrics.DEFERRED_REFUNDS_GIVEN_UP, reason="misconfigured") == given_up + 1
        assert status(backend, task) == "processing"
        assert backend.refunds(task) == 0
        broken.fix()
    # Then, once fixed, the stuck-session sweep fails and refunds it, once
    supabase.age(Channel.B2C, session, 901)
    assert supabase.store.sweep_stuck(900, FailureReason.STUCK.user_message).refunded == 1
    assert status(backend, task) == "failed"
    assert backend.refunds(task) == 1
    assert backend.balance_of(task) == pipeline.START_BALANCE
