"""The contract in the app's database (tests/fixtures/app_database.sql): the money moves through
the app's refund_credits, in the app's tables; our migration owns only wearon_* objects; and every
call runs as service_role through the stand-in's role switch, so the grants are what is tested."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import psycopg
import pytest

from tests.contract.test_session_store import all_at_once, claimed, opened, status
from tests.helpers import postgres
from tests.helpers.backends import SupabaseBackend
from tests.standins.supabase import ANON_KEY
from wearon.domain.session import ClaimOutcome, Lease, SweepResult
from wearon.domain.task import Channel
from wearon.errors import Misconfigured

B2C, B2B = Channel.B2C, Channel.B2B
#: The session columns the README documents as the ones the worker writes.
DOCUMENTED_COLUMNS = {"status", "result_url", "error_message", "updated_at"}


def owner() -> str:
    return str(uuid4())


# --- the money goes through the app's refund_credits -------------------------------------------


@pytest.mark.parametrize("channel", [B2C, B2B])
def test_a_refund_moves_the_owners_balance_by_one_through_refund_credits(
    supabase: SupabaseBackend, channel: Channel
) -> None:
    who = owner()
    s = opened(supabase, channel, who, balance=5)
    assert postgres.balance(channel, who) == 4

    assert supabase.store.fail_and_refund(channel, s, "The generation failed.") is True

    assert postgres.balance(channel, who) == 5  # the app's own balance table
    assert postgres.app_refunds(channel, who) == [1]  # recorded by the app's refund_credits, once
    assert postgres.refund_count(channel, s) == 1


def test_ten_concurrent_fail_and_refund_calls_refund_once(supabase: SupabaseBackend) -> None:
    who = owner()
    s = claimed(supabase, B2C, who, balance=1)
    results = all_at_once(10, lambda: supabase.store.fail_and_refund(B2C, s, "race"))
    assert sorted(results) == [False] * 9 + [True]
    assert postgres.balance(B2C, who) == 1
    assert postgres.app_refunds(B2C, who) == [1]
    assert postgres.refund_count(B2C, s) == 1


def test_when_the_app_refuses_the_refund_nothing_is_written(supabase: SupabaseBackend) -> None:
    # Given refund_credits raises (the owner's balance row is gone)
    who = owner()
    s = claimed(supabase, B2C, who, balance=2)
    postgres.run_sql("delete from public.user_credit_balances where user_id = %s", (who,))
    # When the worker fails the session
    with pytest.raises(Misconfigured, match="P0002"):
        supabase.store.fail_and_refund(B2C, s, "failed")
    # Then the session, our ledger and the app's records are as they were: the refund is still owed
    assert status(supabase, B2C, s) == "processing"
    assert postgres.refund_count(B2C, s) == 0
    assert postgres.app_refunds(B2C, who) == []


def test_an_owner_whose_refund_is_refused_does_not_block_the_sweep(supabase: SupabaseBackend) -> None:
    # Given three stuck sessions, one of whose owner the app's refund_credits refuses
    owners = [owner() for _ in range(3)]
    stuck = [claimed(supabase, B2C, who, balance=2) for who in owners]
    for s in stuck:
        supabase.age(B2C, s, 3600)
    postgres.run_sql("delete from public.user_credit_balances where user_id = %s", (owners[1],))
    # When the sweep runs, the other two are refunded and the refused one is left open, counted
    assert supabase.store.sweep_stuck(900, "stuck") == SweepResult(refunded=2, skipped=1)
    assert [status(supabase, B2C, s) for s in stuck] == ["failed", "processing", "failed"]
    assert [postgres.balance(B2C, who) for who in (owners[0], owners[2])] == [2, 2]
    assert postgres.refund_count(B2C, stuck[1]) == 0
    # and once the app's row is back, the next sweep pays it, once
    postgres.set_balance(B2C, owners[1], 1)
    assert supabase.store.sweep_stuck(900, "stuck") == SweepResult(refunded=1, skipped=0)
    assert postgres.balance(B2C, owners[1]) == 2
    assert postgres.app_refunds(B2C, owners[1]) == [1]


# --- of the app's rows, only the documented columns --------------------------------------------


@pytest.mark.parametrize("channel", [B2C, B2B])
def test_the_worker_writes_only_the_documented_session_columns(
    supabase: SupabaseBackend, channel: Channel
) -> None:
    done, failed = opened(supabase, channel, owner()), opened(supabase, channel, owner())
    before = {s: postgres.app_session(channel, s) for s in (done, failed)}
    store = supabase.store
    assert store.claim(channel, done, "m1", Lease("m1-attempt")) is ClaimOutcome.CLAIMED
    assert (
        store.requeue(channel, done, "m1")
        and store.claim(channel, done, "m2", Lease("m2-attempt")) is ClaimOutcome.CLAIMED
    )
    assert store.complete(channel, done, "m2", "https://x/y.jpg")
    assert store.claim(channel, failed, "m3", Lease("m3-attempt")) is ClaimOutcome.CLAIMED
    assert store.fail_and_refund(channel, failed, "The generation failed.")
    for s, row in before.items():
        after = postgres.app_session(channel, s)
        assert row is not None and after is not None
        assert {column for column in row if row[column] != after[column]} <= DOCUMENTED_COLUMNS


# --- grants: every call runs as service_role --------------------------------------------------


@pytest.fixture
def revoked(supabase: SupabaseBackend) -> Iterator[Any]:
    """revoked(privilege, object): take a grant from service_role for one test."""
    taken: list[tuple[str, str]] = []

    def revoke(privilege: str, on: str) -> None:
        postgres.run_sql(f"revoke {privilege} on {on} from service_role")
        taken.append((privilege, on))

    yield revoke
    for privilege, on in taken:
        postgres.run_sql(f"grant {privilege} on {on} to service_role")


def test_a_function_service_role_may_not_execute_fails(supabase: SupabaseBackend, revoked: Any) -> None:
    s = opened(supabase, B2C, owner())
    revoked("execute", "function public.wearon_claim_session(text, uuid, text, text, integer)")
    with pytest.raises(Misconfigured, match="42501"):
        supabase.store.claim(B2C, s, "m1", Lease("m1-attempt"))


def test_a_table_service_role_may_not_write_fails_the_whole_call(
    supabase: SupabaseBackend, revoked: Any
) -> None:
    who = owner()
    s = opened(supabase, B2C, who, balance=2)
    revoked("insert", "table public.wearon_refunds")
    with pytest.raises(Misconfigured, match="42501"):
        supabase.store.fail_and_refund(B2C, s, "failed")
    assert status(supabase, B2C, s) == "queued"
    assert postgres.balance(B2C, who) == 1


SESSION_ARGS = {"p_channel": "b2c", "p_session_id": "00000000-0000-4000-8000-000000000000"}
CONTRACT_CALLS = {
    "wearon_claim_session": {**SESSION_ARGS, "p_token": "t", "p_holder": "a", "p_lease_s": 20},
    "wearon_renew_leases": {"p_channel": "b2c", "p_leases": [], "p_lease_s": 20},
    "wearon_requeue_session": {**SESSION_ARGS, "p_token": "t"},
    "wearon_complete_session": {**SESSION_ARGS, "p_token": "t", "p_result_url": "https://x/y.jpg"},
    "wearon_fail_and_refund": {**SESSION_ARGS, "p_reason": "x"},
    "wearon_sweep_stuck": {"p_older_than_s": 0, "p_reason": "x"},
}


@pytest.mark.parametrize(("function", "args"), CONTRACT_CALLS.items())
def test_the_anon_key_cannot_call_the_contract(supabase: SupabaseBackend, function: str, args: Any) -> None:
    answer = httpx.post(
        f"{supabase.url}/rest/v1/rpc/{function}",
        json=args,
        headers={"apikey": ANON_KEY, "Authorization": f"Bearer {ANON_KEY}"},
    )
    assert (answer.status_code, answer.json()["code"]) == (403, "42501")


def test_only_service_role_may_execute_our_functions_and_each_has_a_fixed_search_path(
    postgres_schema: None,
) -> None:
    with psycopg.connect(postgres.TEST_PG_DSN, autocommit=True) as conn:
        rows = conn.execute(
            "select p.proname, p.proconfig,"
            " array(select a.grantee::regrole::text from aclexplode(p.proacl) a"
            "       where a.grantee <> p.proowner and a.privilege_type = 'EXECUTE')"
            " from pg_proc p where p.pronamespace = 'public'::regnamespace and p.proname like 'wearon\\_%'"
        ).fetchall()
    assert {name for name, _, _ in rows} >= set(CONTRACT_CALLS)
    for name, config, grantees in rows:
        assert grantees == ["service_role"], name
        assert config == ['search_path=""'], name


def test_our_tables_are_closed_to_the_apps_users(postgres_schema: None) -> None:
    rows = postgres.run_sql(
        "select count(*) filter (where not c.relrowsecurity) as without_rls,"
        " count(*) filter (where has_table_privilege('anon', c.oid, 'select')"
        "   or has_table_privilege('authenticated', c.oid, 'select')) as readable"
        " from pg_class c where c.relnamespace = 'public'::regnamespace and c.relname like 'wearon\\_%%'"
        " and c.relkind = 'r'"
    )
    assert rows == {"without_rls": 0, "readable": 0}


# --- the migration ------------------------------------------------------------------------------


def catalog(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    """What a migration could change, relation by relation (names, columns, constraints, indexes,
    triggers, policies, row level security and grants), in the app's schemas."""
    queries = {
        "relations": "select c.relname, c.relkind, c.relrowsecurity, c.relacl::text from pg_class c"
        " where c.relnamespace in ('public'::regnamespace, 'auth'::regnamespace)",
        "columns": "select c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,"
        " pg_get_expr(d.adbin, d.adrelid) from pg_attribute a join pg_class c on c.oid = a.attrelid"
        " left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum"
        " where c.relnamespace in ('public'::regnamespace, 'auth'::regnamespace)"
        " and a.attnum > 0 and not a.attisdropped",
        "constraints": "select conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
        " from pg_constraint where connamespace in ('public'::regnamespace, 'auth'::regnamespace)",
        "indexes": "select indexdef from pg_indexes where schemaname in ('public', 'auth')",
        "triggers": "select tgrelid::regclass::text, tgname from pg_trigger where not tgisinternal",
        "policies": "select tablename, policyname, cmd, roles::text, qual from pg_policies",
        "functions": "select p.oid::regprocedure::text, p.prosrc, p.proacl::text, p.proconfig::text"
        " from pg_proc p where p.pronamespace in ('public'::regnamespace, 'auth'::regnamespace)",
    }
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {name: sorted(conn.execute(query).fetchall(), key=repr) for name, query in queries.items()}


def without_ours(snapshot: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    return {name: [row for row in rows if "wearon_" not in repr(row)] for name, rows in snapshot.items()}


def apply_migrations(dsn: str) -> list[str]:
    """Apply supabase/migrations; the notices of WARNING or worse it raised."""
    warnings: list[str] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.add_notice_handler(
            lambda d: (
                warnings.append(str(d.message_primary)) if d.severity not in ("NOTICE", "INFO") else None
            )
        )
        for migration in postgres.MIGRATIONS:
            postgres.apply(migration, conn)
    return warnings


def test_the_migration_creates_no_credit_table_and_alters_none_of_the_apps(postgres_schema: None) -> None:
    with postgres.scratch_database() as dsn:
        before = catalog(dsn)
        apply_migrations(dsn)
        after = catalog(dsn)
    assert without_ours(after) == before
    ours = {name for name, kind, *_ in after["relations"] if kind == "r"} - {
        name for name, kind, *_ in before["relations"] if kind == "r"
    }
    assert ours == {"wearon_session_claims", "wearon_refunds"}


def test_the_migration_applied_twice_is_clean(postgres_schema: None) -> None:
    with postgres.scratch_database() as dsn:
        assert apply_migrations(dsn) == []
        once = catalog(dsn)
        assert apply_migrations(dsn) == []
        assert catalog(dsn) == once


def app_schema_with(*replacements: tuple[str, str], then: str = "") -> str:
    """The app's schema with some text replaced, and `then` run at its end."""
    schema = postgres.APP_SCHEMA.read_text()
    for old, new in replacements:
        assert old in schema, old
        schema = schema.replace(old, new)
    return schema + then


#: The app's b2c owner as text instead of uuid (and its read policy to match).
TEXT_OWNER = (
    ("user_id       uuid not null references auth.users (id) on delete cascade,", "user_id text not null,"),
    ("using (user_id = auth.uid());\ncreate policy \"users read their own balance\"",
     "using (user_id = auth.uid()::text);\ncreate policy \"users read their own balance\""),
)  # fmt: skip
WITHOUT_ERROR_MESSAGE = ("    result_url    text,\n    error_message text,\n", "    result_url    text,\n")


@pytest.mark.parametrize(
    ("app_schema", "lacks"),
    [
        (
            app_schema_with(then="drop function public.refund_credits(uuid, uuid, integer);"),
            "function public.refund_credits(p_user_id uuid, p_store_id uuid, p_amount integer)",
        ),
        (app_schema_with(*TEXT_OWNER), "column public.generation_sessions.user_id as uuid (it is text)"),
        (
            app_schema_with(then="revoke all on function public.refund_credits from service_role;"),
            "EXECUTE on public.refund_credits for service_role",
        ),
        (
            app_schema_with(WITHOUT_ERROR_MESSAGE),
            "column public.generation_sessions.error_message text;"
            " column public.store_generation_sessions.error_message text",
        ),
    ],
    ids=["no-refund-credits", "text-owner-id", "refund-credits-not-granted", "no-error-column"],
)
def test_the_migration_stops_with_one_line_naming_what_the_database_lacks(
    postgres_schema: None, app_schema: str, lacks: str
) -> None:
    with postgres.scratch_database(app_schema) as dsn:
        with pytest.raises(psycopg.errors.UndefinedObject) as caught:
            apply_migrations(dsn)
        message = str(caught.value.diag.message_primary)
        assert message == f"wearon contract: this database lacks {lacks}"
        # Nothing of ours was created
        assert not any("wearon_" in repr(row) for rows in catalog(dsn).values() for row in rows)


def test_a_session_owned_by_a_uuid_user_is_refunded_not_stuck(supabase: SupabaseBackend) -> None:
    # The app's b2c owner is a uuid referencing auth.users: the case that failed with 42804.
    who = owner()
    s = claimed(supabase, B2C, who, balance=1)
    assert supabase.store.fail_and_refund(B2C, s, "failed") is True
    row = postgres.app_session(B2C, s)
    assert row is not None and isinstance(row["user_id"], UUID) and row["status"] == "failed"


#: The app's database without Supabase's default privileges (a project whose migrations run as
#: another role, or that revoked them): the app's own tables granted to service_role by hand.
DEFAULT_PRIVILEGE = (
    "alter default privileges in schema public grant all on {} to anon, authenticated, service_role;"
)
WITHOUT_DEFAULT_PRIVILEGES = tuple(
    (DEFAULT_PRIVILEGE.format(kind), "") for kind in ("tables", "functions", "sequences")
)


def as_service_role(dsn: str, query: str, args: tuple[Any, ...]) -> Any:
    """One call as PostgREST makes it: logged in as authenticator, `set local role service_role`."""
    conninfo = psycopg.conninfo.make_conninfo(dsn, user="authenticator")
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        conn.execute("set local role service_role")
        row = conn.execute(query, args).fetchone()
    return None if row is None else row[0]


def test_our_grants_do_not_lean_on_supabases_default_privileges(postgres_schema: None) -> None:
    schema = app_schema_with(
        *WITHOUT_DEFAULT_PRIVILEGES, then="grant all on all tables in schema public to service_role;"
    )
    with postgres.scratch_database(schema) as dsn:
        apply_migrations(dsn)
        who, done, failed = uuid4(), uuid4(), uuid4()
        with psycopg.connect(dsn, autocommit=True) as app:  # the app opens two sessions
            app.execute("insert into auth.users (id) values (%s)", (who,))
            app.execute("insert into public.user_credit_balances values (%s, 0)", (who,))
            for session in (done, failed):
                app.execute(
                    "insert into public.generation_sessions (id, user_id, prompt) values (%s, %s, 'p')",
                    (session, who),
                )
        assert (
            as_service_role(dsn, "select public.wearon_claim_session('b2c', %s, 'm1', 'a1', 20)", (done,))
            == "claimed"
        )
        assert as_service_role(dsn, "select public.wearon_requeue_session('b2c', %s, 'm1')", (done,)) is True
        assert (
            as_service_role(dsn, "select public.wearon_claim_session('b2c', %s, 'm1', 'a1', 20)", (done,))
            == "claimed"
        )
        assert (
            as_service_role(
                dsn, "select public.wearon_complete_session('b2c', %s, 'm1', 'https://x/y.jpg')", (done,)
            )
            is True
        )
        assert (
            as_service_role(dsn, "select public.wearon_fail_and_refund('b2c', %s, 'failed')", (failed,))
            is True
        )
        assert as_service_role(dsn, "select refunded from public.wearon_sweep_stuck(0, 'stuck')", ()) == 0
