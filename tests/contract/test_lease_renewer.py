"""The worker's lease renewer against both real stores: a running attempt keeps its session's
lease, an ended or overdue one lets it go, a failed one ends it at once, and a renewal the database
refuses or one taken over is counted, never raised."""

from __future__ import annotations

import time
from uuid import UUID, uuid4

import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from tests.contract.test_session_store import opened
from tests.helpers.asgi import free_port
from tests.helpers.backends import Backend
from tests.standins.supabase import SERVICE_ROLE_KEY
from wearon import task_deadline
from wearon.adapters.lease_renewer import ThreadedLeaseRenewer
from wearon.adapters.store.supabase import SupabaseSessionStore
from wearon.adapters.supabase_client import create_supabase_client
from wearon.domain.session import ClaimOutcome, Lease
from wearon.domain.task import Channel
from wearon.errors import InfrastructureError

B2C = Channel.B2C
#: The renewer's own thread stays out of the way: each test renews by hand (`renew_once`).
HOUR = 3600.0


def renewals(outcome: str) -> float:
    return REGISTRY.get_sample_value("wearon_claim_lease_renewals_total", {"outcome": outcome}) or 0.0


def claimed_for(backend: Backend, lease: Lease) -> UUID:
    session = opened(backend)
    assert backend.store.claim(B2C, session, "m1", lease) is ClaimOutcome.CLAIMED
    return session


def copy_is_held(backend: Backend, session: UUID) -> bool:
    """Whether a copy of m1 redelivered now would wait (it takes the claim otherwise)."""
    return backend.store.claim(B2C, session, "m1", Lease(uuid4().hex, seconds=1)) is ClaimOutcome.HELD


def test_a_running_attempt_keeps_its_lease_past_its_term_and_lets_it_go_when_it_ends(
    backend: Backend,
) -> None:
    renewer = ThreadedLeaseRenewer(backend.store, every_s=HOUR)
    lease = Lease("attempt-1", seconds=1)
    session = claimed_for(backend, lease)
    before = renewals("renewed")
    with renewer.renewing(B2C, session, lease):
        for _ in range(3):
            time.sleep(0.5)
            renewer.renew_once()
        # 1.5 s after a claim for 1 s, a copy still waits
        assert copy_is_held(backend, session)
    assert renewals("renewed") == before + 3
    renewer.renew_once()  # the attempt ended: nothing to renew
    time.sleep(1.1)
    assert not copy_is_held(backend, session)
    assert renewals("renewed") == before + 3


def test_an_attempt_past_its_deadline_is_not_renewed(backend: Backend) -> None:
    renewer = ThreadedLeaseRenewer(backend.store, every_s=HOUR)
    lease = Lease("attempt-1", seconds=1)
    session = claimed_for(backend, lease)
    # A thread stuck past its deadline (its time limit) still inside the attempt
    with task_deadline.running(0.3), renewer.renewing(B2C, session, lease):
        time.sleep(0.4)
        renewer.renew_once()
        time.sleep(0.7)
        assert not copy_is_held(backend, session)


def test_a_lease_taken_over_is_counted_lost(backend: Backend) -> None:
    renewer = ThreadedLeaseRenewer(backend.store, every_s=HOUR)
    lease = Lease("attempt-1", seconds=1)
    session = claimed_for(backend, lease)
    before = renewals("lost")
    with renewer.renewing(B2C, session, lease):
        time.sleep(1.1)  # renewals failed for a whole lease: a copy takes over
        assert backend.store.claim(B2C, session, "m1", Lease("attempt-2")) is ClaimOutcome.CLAIMED
        renewer.renew_once()
    assert renewals("lost") == before + 1


def test_a_database_that_cannot_be_reached_is_counted_not_raised() -> None:
    unreachable = SupabaseSessionStore(
        create_supabase_client(f"http://127.0.0.1:{free_port()}", SecretStr(SERVICE_ROLE_KEY))
    )
    renewer = ThreadedLeaseRenewer(unreachable, every_s=HOUR)
    before = renewals("failed")
    with (
        renewer.renewing(B2C, uuid4(), Lease("attempt-1")),
        renewer.renewing(B2C, uuid4(), Lease("attempt-2")),
    ):
        renewer.renew_once()
    assert renewals("failed") == before + 2


def test_an_attempt_that_fails_ends_its_lease_at_once(backend: Backend) -> None:
    renewer = ThreadedLeaseRenewer(backend.store, every_s=HOUR)
    lease = Lease("attempt-1", seconds=60)
    session = claimed_for(backend, lease)
    with pytest.raises(InfrastructureError), renewer.renewing(B2C, session, lease):
        raise InfrastructureError("the database dropped the completing call")
    # Its retry (another attempt of the same message) need not wait a minute
    assert not copy_is_held(backend, session)
