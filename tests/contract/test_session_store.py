"""The database contract, one suite for both backends: the embedded SQLite store and the Supabase
adapter (PostgREST RPC through the stand-in, real PostgreSQL behind it)."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from uuid import UUID, uuid4

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from tests.conftest import TEST_PG_DSN
from tests.helpers import postgres
from tests.helpers.asgi import free_port
from tests.helpers.backends import Backend, SupabaseBackend, sqlite_backend, supabase_backend
from tests.helpers.processes import TcpProxy
from tests.standins.supabase import POOL_SIZE, SERVICE_ROLE_KEY
from wearon.adapters.store.sqlite import SqliteSessionStore
from wearon.adapters.store.supabase import SupabaseSessionStore
from wearon.adapters.supabase_client import create_supabase_client
from wearon.domain.session import ClaimOutcome, Lease, SweepResult
from wearon.domain.task import Channel
from wearon.errors import InfrastructureError
from wearon.ports import SessionStore

B2C, B2B = Channel.B2C, Channel.B2B
T = TypeVar("T")
#: Owner ids are uuids, as in the app (a user's, or a store's).
OWNER, ACCT, SHOP, SAME, BROKE = (str(UUID(int=n, version=4)) for n in range(1, 6))


def opened(backend: Backend, channel: Channel = B2C, owner: str = OWNER, balance: int = 3) -> UUID:
    """A queued session whose credit was spent, as the Next.js API leaves it."""
    session = uuid4()
    backend.set_balance(channel, owner, balance)
    assert backend.open_session(channel, session, owner)
    return session


def claimed(backend: Backend, channel: Channel = B2C, owner: str = OWNER, balance: int = 3) -> UUID:
    session = opened(backend, channel, owner, balance)
    assert backend.store.claim(channel, session, "m1", Lease("m1-attempt")) is ClaimOutcome.CLAIMED
    return session


def status(backend: Backend, channel: Channel, session: UUID) -> str:
    row = backend.session(channel, session)
    assert row is not None
    return str(row["status"])


def all_at_once(callers: int, call: Callable[[], T]) -> list[T]:
    """Run `call` in `callers` threads released together; their results."""
    results: list[T] = []
    barrier = threading.Barrier(callers)

    def run() -> None:
        barrier.wait()
        results.append(call())

    threads = [threading.Thread(target=run) for _ in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == callers, "a caller raised"
    return results


# --- what the Next.js API does ------------------------------------------------------------------


def test_opening_a_session_spends_one_credit(backend: Backend) -> None:
    s = opened(backend, balance=3)
    assert backend.balance(B2C, OWNER) == 2
    assert status(backend, B2C, s) == "queued"


def test_opening_with_no_credit_is_refused(backend: Backend) -> None:
    backend.set_balance(B2C, BROKE, 0)
    session = uuid4()
    assert not backend.open_session(B2C, session, BROKE)
    assert backend.session(B2C, session) is None


# --- claim --------------------------------------------------------------------------------------


def test_claim_moves_queued_to_processing(backend: Backend) -> None:
    s = opened(backend)
    assert backend.store.claim(B2C, s, "m1", Lease("m1-attempt")) is ClaimOutcome.CLAIMED
    row = backend.session(B2C, s)
    assert row is not None
    assert (row["status"], row["claim_token"], row["attempts"]) == ("processing", "m1", 1)


def test_the_same_message_may_resume_its_claim_another_may_not(backend: Backend) -> None:
    s = opened(backend)
    assert backend.store.claim(B2C, s, "m1", Lease("attempt-1", seconds=1)) is ClaimOutcome.CLAIMED
    assert backend.store.claim(B2C, s, "m2", Lease("attempt-2")) is ClaimOutcome.BUSY  # a duplicate task
    time.sleep(1.1)  # the first attempt died: its lease ran out
    assert backend.store.claim(B2C, s, "m1", Lease("attempt-3")) is ClaimOutcome.CLAIMED  # redelivered
    assert backend.store.claim(B2C, s, "m2", Lease("attempt-4")) is ClaimOutcome.BUSY
    assert status(backend, B2C, s) == "processing"


def test_a_copy_of_the_message_waits_while_the_attempt_holding_it_renews_its_lease(backend: Backend) -> None:
    # Given an attempt of m1 holding the session for 2 s, a copy of m1 redelivered meanwhile
    s = opened(backend)
    assert backend.store.claim(B2C, s, "m1", Lease("attempt-1", seconds=2)) is ClaimOutcome.CLAIMED
    assert backend.store.claim(B2C, s, "m1", Lease("attempt-2", seconds=2)) is ClaimOutcome.HELD
    # When the holder renews it, past its first term
    for _ in range(3):
        time.sleep(0.8)
        assert backend.store.renew_leases(B2C, {s: "attempt-1", uuid4(): "attempt-1"}, 2) == {s}
    # Then the copy still waits, however often it asks
    assert backend.store.claim(B2C, s, "m1", Lease("attempt-2", seconds=2)) is ClaimOutcome.HELD
    assert status(backend, B2C, s) == "processing"
    row = backend.session(B2C, s)
    assert row is not None and row["attempts"] == 1
    # and once the holder stops renewing (it died), the copy takes over and the old holder's lease
    # is no longer its own
    time.sleep(2.1)
    assert backend.store.claim(B2C, s, "m1", Lease("attempt-2", seconds=2)) is ClaimOutcome.CLAIMED
    assert backend.store.renew_leases(B2C, {s: "attempt-1"}, 2) == set()
    assert backend.store.renew_leases(B2C, {s: "attempt-2"}, 2) == {s}


def test_a_lease_holds_only_while_processing(backend: Backend) -> None:
    # A requeued session (a 429's retry) and a finished one are not held by a lease still running
    waiting, done = opened(backend), opened(backend)
    for s in (waiting, done):
        assert backend.store.claim(B2C, s, "m1", Lease("attempt-1", seconds=60)) is ClaimOutcome.CLAIMED
    assert backend.store.requeue(B2C, waiting, "m1")
    assert backend.store.complete(B2C, done, "m1", "https://x/y.jpg")
    assert backend.store.claim(B2C, waiting, "m1", Lease("attempt-2")) is ClaimOutcome.CLAIMED
    assert backend.store.claim(B2C, done, "m1", Lease("attempt-2")) is ClaimOutcome.FINISHED


def test_finished_sessions_are_not_claimed_again(backend: Backend) -> None:
    done, failed = claimed(backend), claimed(backend)
    backend.store.complete(B2C, done, "m1", "https://x/y.jpg")
    backend.store.fail_and_refund(B2C, failed, "boom")
    for s in (done, failed):
        assert backend.store.claim(B2C, s, "m1", Lease("m1-attempt")) is ClaimOutcome.FINISHED
        assert backend.store.claim(B2C, s, "m9", Lease("m9-attempt")) is ClaimOutcome.FINISHED


def test_unknown_session_is_missing(backend: Backend) -> None:
    assert backend.store.claim(B2C, uuid4(), "m1", Lease("m1-attempt")) is ClaimOutcome.MISSING
    assert backend.store.requeue(B2C, uuid4(), "m1") is False
    assert backend.store.complete(B2C, uuid4(), "m1", "https://x/y.jpg") is False
    assert backend.store.fail_and_refund(B2C, uuid4(), "x") is False


def test_a_session_is_looked_up_in_its_own_channel_only(backend: Backend) -> None:
    s = opened(backend, B2B, owner=SHOP)
    assert backend.store.claim(B2C, s, "m1", Lease("m1-attempt")) is ClaimOutcome.MISSING
    assert backend.store.claim(B2B, s, "m1", Lease("m1-attempt")) is ClaimOutcome.CLAIMED


@pytest.mark.parametrize("callers", [2, 16])
def test_concurrent_claims_by_different_messages_let_one_through(backend: Backend, callers: int) -> None:
    s = opened(backend)
    tokens = iter(range(callers))
    lock = threading.Lock()

    def claim() -> ClaimOutcome:
        with lock:
            token = f"m{next(tokens)}"
        return backend.store.claim(B2C, s, token, Lease(f"{token}-attempt"))

    outcomes = all_at_once(callers, claim)
    assert sorted(outcomes) == sorted([ClaimOutcome.CLAIMED] + [ClaimOutcome.BUSY] * (callers - 1))


# --- requeue ------------------------------------------------------------------------------------


def test_requeue_then_the_retry_claims_again(backend: Backend) -> None:
    s = claimed(backend)
    assert backend.store.requeue(B2C, s, "m2") is False  # not our claim
    assert backend.store.requeue(B2C, s, "m1") is True
    assert status(backend, B2C, s) == "queued"
    assert backend.store.requeue(B2C, s, "m1") is False  # no longer processing
    assert backend.store.claim(B2C, s, "m1", Lease("m1-attempt")) is ClaimOutcome.CLAIMED
    row = backend.session(B2C, s)
    assert row is not None and row["attempts"] == 2


def test_a_queued_session_may_be_claimed_by_any_message(backend: Backend) -> None:
    s = claimed(backend)
    backend.store.requeue(B2C, s, "m1")
    assert backend.store.claim(B2C, s, "m2", Lease("m2-attempt")) is ClaimOutcome.CLAIMED
    assert backend.store.claim(B2C, s, "m1", Lease("m1-attempt")) is ClaimOutcome.BUSY


# --- complete -----------------------------------------------------------------------------------


def test_complete_needs_the_claim_and_happens_once(backend: Backend) -> None:
    s = claimed(backend)
    assert backend.store.complete(B2C, s, "m2", "https://x/other.jpg") is False
    assert backend.store.complete(B2C, s, "m1", "https://x/y.jpg") is True
    assert backend.store.complete(B2C, s, "m1", "https://x/z.jpg") is False
    row = backend.session(B2C, s)
    assert row is not None
    assert (row["status"], row["result_url"]) == ("completed", "https://x/y.jpg")


def test_an_unclaimed_session_cannot_be_completed(backend: Backend) -> None:
    s = opened(backend)
    assert backend.store.complete(B2C, s, "m1", "https://x/y.jpg") is False
    assert status(backend, B2C, s) == "queued"


# --- fail_and_refund: the money rule ------------------------------------------------------------


@pytest.mark.parametrize("channel", [B2C, B2B])
def test_fail_and_refund_returns_exactly_one_credit_to_the_owner(backend: Backend, channel: Channel) -> None:
    s = claimed(backend, channel, owner=ACCT, balance=5)
    assert backend.balance(channel, ACCT) == 4

    assert backend.store.fail_and_refund(channel, s, "The generation failed.") is True
    assert backend.store.fail_and_refund(channel, s, "again") is False

    assert backend.balance(channel, ACCT) == 5
    assert backend.refunds(channel, s) == 1
    row = backend.session(channel, s)
    assert row is not None
    assert (row["status"], row["error_message"]) == ("failed", "The generation failed.")


def test_a_queued_session_is_refunded_too(backend: Backend) -> None:
    # An invalid task never gets claimed; its session still must give the credit back.
    s = opened(backend, balance=1)
    assert backend.store.fail_and_refund(B2C, s, "invalid task") is True
    assert backend.balance(B2C, OWNER) == 1


def test_b2b_refunds_the_store_and_b2c_the_user(backend: Backend) -> None:
    # Same owner name in both channels: only the channel decides whose balance moves.
    shop_session = opened(backend, B2B, owner=SAME, balance=2)
    backend.set_balance(B2C, SAME, 7)
    assert backend.store.fail_and_refund(B2C, shop_session, "wrong channel") is False
    assert backend.store.fail_and_refund(B2B, shop_session, "right channel") is True
    assert backend.balance(B2C, SAME) == 7
    assert backend.balance(B2B, SAME) == 2


def test_a_completed_session_is_never_refunded(backend: Backend) -> None:
    s = claimed(backend, balance=1)
    backend.store.complete(B2C, s, "m1", "https://x/y.jpg")
    assert backend.store.fail_and_refund(B2C, s, "late failure") is False
    assert backend.balance(B2C, OWNER) == 0
    assert backend.refunds(B2C, s) == 0
    assert status(backend, B2C, s) == "completed"


def test_a_refunded_session_cannot_be_completed(backend: Backend) -> None:
    s = claimed(backend)
    backend.store.fail_and_refund(B2C, s, "swept")
    assert backend.store.complete(B2C, s, "m1", "https://x/y.jpg") is False
    assert status(backend, B2C, s) == "failed"


@pytest.mark.parametrize("callers", [2, 16])
def test_concurrent_fail_and_refund_refunds_once(backend: Backend, callers: int) -> None:
    s = claimed(backend, balance=1)
    results = all_at_once(callers, lambda: backend.store.fail_and_refund(B2C, s, "race"))
    assert sorted(results) == [False] * (callers - 1) + [True]
    assert backend.refunds(B2C, s) == 1
    assert backend.balance(B2C, OWNER) == 1


# --- sweep_stuck --------------------------------------------------------------------------------


def test_sweep_refunds_only_old_open_sessions(backend: Backend) -> None:
    old_queued, old_processing, fresh, old_done, old_failed = (opened(backend, balance=10) for _ in range(5))
    for s in (old_processing, old_done):
        backend.store.claim(B2C, s, "m1", Lease("m1-attempt"))
    backend.store.complete(B2C, old_done, "m1", "https://x/y.jpg")
    backend.store.fail_and_refund(B2C, old_failed, "earlier failure")
    for s in (old_queued, old_processing, old_done, old_failed):
        backend.age(B2C, s, 3600)
    shop_old = opened(backend, B2B, owner=SHOP, balance=1)
    backend.age(B2B, shop_old, 3600)
    user_balance = backend.balance(B2C, OWNER)

    assert backend.store.sweep_stuck(900, "stuck") == SweepResult(refunded=3)

    statuses = [status(backend, B2C, s) for s in (old_queued, old_processing, fresh, old_done, old_failed)]
    assert statuses == ["failed", "failed", "queued", "completed", "failed"]
    assert status(backend, B2B, shop_old) == "failed"
    assert backend.balance(B2C, OWNER) == user_balance + 2
    assert backend.balance(B2B, SHOP) == 1
    assert backend.store.sweep_stuck(900, "stuck") == SweepResult(refunded=0)


def test_sweep_and_a_late_failure_refund_once(backend: Backend) -> None:
    s = claimed(backend, balance=1)
    backend.age(B2C, s, 3600)
    results = all_at_once(2, lambda: backend.store.sweep_stuck(900, "stuck").refunded)
    results += [int(backend.store.fail_and_refund(B2C, s, "late"))]
    assert sum(results) == 1
    assert backend.balance(B2C, OWNER) == 1


# --- outages ------------------------------------------------------------------------------------


def test_unreachable_database_is_an_infrastructure_error(backend: Backend) -> None:
    s = opened(backend)
    backend.simulate_outage()
    calls: list[Callable[[], object]] = [
        lambda: backend.store.claim(B2C, s, "m1", Lease("m1-attempt")),
        lambda: backend.store.requeue(B2C, s, "m1"),
        lambda: backend.store.complete(B2C, s, "m1", "https://x/y.jpg"),
        lambda: backend.store.fail_and_refund(B2C, s, "x"),
        lambda: backend.store.sweep_stuck(900, "stuck"),
    ]
    for call in calls:
        with pytest.raises(InfrastructureError):
            call()


# --- the Supabase path: how outages look on the wire ---------------------------------------------


def _outage_by_503(supabase: SupabaseBackend) -> SessionStore:
    supabase.standin.outage = True
    return supabase.store


def _outage_by_proxy_page(supabase: SupabaseBackend) -> SessionStore:
    supabase.standin.proxy_error = True
    return supabase.store


def _outage_by_closed_port(supabase: SupabaseBackend) -> SessionStore:
    client = create_supabase_client(f"http://127.0.0.1:{free_port()}", SecretStr(SERVICE_ROLE_KEY))
    return SupabaseSessionStore(client)


@pytest.mark.parametrize("break_it", [_outage_by_503, _outage_by_proxy_page, _outage_by_closed_port])
def test_supabase_outages_are_infrastructure_errors_without_the_key(
    supabase: SupabaseBackend, break_it: Callable[[SupabaseBackend], SessionStore]
) -> None:
    s = opened(supabase)
    store = break_it(supabase)
    with pytest.raises(InfrastructureError) as caught:
        store.fail_and_refund(B2C, s, "x")
    for key in (SERVICE_ROLE_KEY, SERVICE_ROLE_KEY.split(".")[2]):
        assert key not in str(caught.value) and key not in repr(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert status(supabase, B2C, s) == "queued"


def test_the_database_is_reached_again_after_many_refused_connections(postgres_schema: None) -> None:
    # Given the database's port refuses more connections than the stand-in pools
    proxy = TcpProxy(5432)
    dsn = TEST_PG_DSN.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    with supabase_backend(dsn=dsn) as supabase:
        s = opened(supabase)
        proxy.cut()
        for _ in range(POOL_SIZE + 2):
            with pytest.raises(InfrastructureError):
                supabase.store.claim(B2C, s, "m1", Lease("m1-attempt"))
        # When it comes back, then the next call reaches it (no connection slot was lost)
        proxy.restore()
        assert supabase.store.claim(B2C, s, "m1", Lease("m1-attempt")) is ClaimOutcome.CLAIMED


def test_the_stand_in_refuses_a_function_outside_the_contract(supabase: SupabaseBackend) -> None:
    answer = httpx.post(
        f"{supabase.url}/rest/v1/rpc/pg_sleep",
        json={"seconds": 1},
        headers={"apikey": SERVICE_ROLE_KEY, "Authorization": f"Bearer {SERVICE_ROLE_KEY}"},
    )
    assert answer.status_code == 404 and answer.json()["code"] == "PGRST202"


# --- the migration itself -------------------------------------------------------------------------


def test_the_migration_can_be_applied_again(postgres_schema: None) -> None:
    with psycopg.connect(TEST_PG_DSN, autocommit=True) as conn:
        for migration in postgres.MIGRATIONS:
            postgres.apply(migration, conn)
    postgres.truncate()


def test_an_unknown_channel_is_refused(postgres_schema: None) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="unknown channel"):
        postgres.run_sql("select wearon_fail_and_refund('b2x', %s, 'x')", (uuid4(),))


def test_nobody_but_the_service_role_may_call_the_contract(postgres_schema: None) -> None:
    # Functions are executable by PUBLIC unless revoked; on Supabase that means anonymous callers.
    row = postgres.run_sql(
        "select count(*) as open_to_all"
        " from pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a"
        " where p.pronamespace = current_schema()::regnamespace and p.proname like 'wearon\\_%%'"
        " and a.grantee = 0"
    )
    assert row == {"open_to_all": 0}


# --- the SQLite path: separate processes share the file safely ----------------------------------


def _refund_in_child(database: str, session: str, results: multiprocessing.Queue[bool]) -> None:
    store = SqliteSessionStore(Path(database))
    results.put(store.fail_and_refund(B2C, UUID(session), "race"))


def test_sqlite_processes_refund_once(tmp_path: Path) -> None:
    with sqlite_backend(tmp_path) as local:
        s = claimed(local, balance=1)
        context = multiprocessing.get_context("fork")
        results: multiprocessing.Queue[bool] = context.Queue()
        children = [
            context.Process(target=_refund_in_child, args=(str(local.database), str(s), results))
            for _ in range(4)
        ]
        for child in children:
            child.start()
        for child in children:
            child.join(timeout=30)
        assert sorted(results.get(timeout=5) for _ in children) == [False, False, False, True]
        assert local.balance(B2C, OWNER) == 1


def test_an_unopenable_sqlite_file_is_an_infrastructure_error(tmp_path: Path) -> None:
    (tmp_path / "not-a-database").write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(InfrastructureError):
        SqliteSessionStore(tmp_path / "not-a-database")


def test_a_data_directory_from_before_the_lease_is_brought_up_to_date(tmp_path: Path) -> None:
    # Given an embedded database written by the release before claim leases (no lease columns)
    database = tmp_path / "wearon.sqlite3"
    with sqlite3.connect(database) as db:
        for table, owner in (("generation_sessions", "user_id"), ("store_generation_sessions", "store_id")):
            db.execute(
                f"create table {table} (id text primary key, {owner} text not null, status text not null"
                " default 'queued', prompt text, result_url text, error_message text, claim_token text,"
                " attempts integer not null default 0, created_at text not null, updated_at text not null)"
            )
        db.execute(
            "insert into generation_sessions (id, user_id, created_at, updated_at) values (?, ?, '', '')",
            (str(s := uuid4()), OWNER),
        )
    # When this release opens it, then its sessions are claimed with a lease, as a new one's are
    store = SqliteSessionStore(database)
    assert store.claim(B2C, s, "m1", Lease("attempt-1")) is ClaimOutcome.CLAIMED
    assert store.claim(B2C, s, "m1", Lease("attempt-2")) is ClaimOutcome.HELD
    store.close()
