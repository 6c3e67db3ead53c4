"""The test database: this session's `wearon_test_<slot>`, shaped like the app's Supabase database,
with our contract migration applied on top, as in production.

Each test session has a database of its own (its slot, tests/conftest.py), built once per session
from nothing: the app's schema (tests/fixtures/app_database.sql: Supabase's roles and default
grants, auth.users, the app's sessions and credit balances, its refund_credits), then
supabase/migrations. Our functions are called through the Supabase stand-in, as service_role; the
helpers here act as the app (as the superuser, the app's own way: its deduct_credits, its tables)
and read what a test checks from the app's tables.

    build_test_database()                     # once per test session (the `postgres_schema` fixtures)
    truncate()                                # before each test that needs empty tables
    seed_session(Channel.B2C, sid, owner, balance=3)
    balance(Channel.B2C, owner), refund_count(Channel.B2C, sid), session_row(Channel.B2C, sid)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from tests.conftest import TEST_PG_DSN
from wearon.domain.task import Channel

ROOT = Path(__file__).resolve().parents[2]
APP_SCHEMA = ROOT / "tests" / "fixtures" / "app_database.sql"
MIGRATIONS = sorted((ROOT / "supabase" / "migrations").glob("*.sql"))

#: channel -> (the app's sessions table, its owner column, its balance table, the owners' table)
TABLES = {
    Channel.B2C: ("generation_sessions", "user_id", "user_credit_balances", "auth.users"),
    Channel.B2B: ("store_generation_sessions", "store_id", "store_credit_balances", "public.stores"),
}
#: Emptied before each test, those that point at others first.
TABLES_TO_EMPTY = (
    "public.wearon_refunds",
    "public.wearon_session_claims",
    "public.credit_transactions",
    "public.generation_sessions",
    "public.store_generation_sessions",
    "public.user_credit_balances",
    "public.store_credit_balances",
    "public.stores",
    "auth.users",
)

_built: set[str] = set()


def admin_dsn(dsn: str = TEST_PG_DSN) -> str:
    return dsn.rsplit("/", 1)[0] + "/postgres"


def database_name(dsn: str = TEST_PG_DSN) -> str:
    return dsn.rsplit("/", 1)[1]


def build_test_database(dsn: str = TEST_PG_DSN) -> None:
    """The first call of a session builds its database from nothing; later ones empty its tables."""
    if dsn in _built:
        truncate(dsn)
        return
    create_app_database(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for migration in MIGRATIONS:
            apply(migration, conn)
    _built.add(dsn)


def create_app_database(dsn: str, app_schema: str | None = None) -> None:
    """(Re)create the database of `dsn` as the app's, before our migration: the fixture, or `app_schema`."""
    name = sql.Identifier(database_name(dsn))
    with psycopg.connect(admin_dsn(dsn), autocommit=True) as admin:
        # FORCE: connections a crashed run of this slot left behind must not keep it alive.
        admin.execute(sql.SQL("drop database if exists {} with (force)").format(name))
        admin.execute(sql.SQL("create database {}").format(name))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(app_schema if app_schema is not None else APP_SCHEMA.read_text())


@contextmanager
def scratch_database(app_schema: str | None = None) -> Iterator[str]:
    """A second database of this session's, shaped like the app's (or `app_schema`), without our
    migration: for tests of the migration itself. Dropped afterwards."""
    dsn = f"{TEST_PG_DSN}_scratch"
    create_app_database(dsn, app_schema)
    try:
        yield dsn
    finally:
        with psycopg.connect(admin_dsn(dsn), autocommit=True) as admin:
            admin.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(database_name(dsn)))
            )


def apply(migration: Path, conn: psycopg.Connection[Any]) -> None:
    """As `supabase db push` does: the whole file in one transaction."""
    conn.execute(migration.read_text())


def truncate(dsn: str = TEST_PG_DSN) -> None:
    """Empty the app's tables and ours (with DELETE: on a few rows it is several times faster)."""
    with psycopg.connect(dsn, autocommit=True) as conn, conn.transaction():
        for table in TABLES_TO_EMPTY:
            conn.execute(f"delete from {table}")


def run_sql(query: str, args: tuple[Any, ...] = (), dsn: str = TEST_PG_DSN) -> dict[str, Any] | None:
    """One statement in its own connection, as the superuser; the first row, if it returns rows."""
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        cursor = conn.execute(query, args or None)  # no parameters: several statements may run
        return cursor.fetchone() if cursor.description else None


def set_balance(channel: Channel, owner: str, balance: int) -> None:
    """The owner (a user, or a store) exists, with `balance` credits, in the app's tables."""
    _, owner_col, credits, owners = TABLES[channel]
    with psycopg.connect(TEST_PG_DSN, autocommit=True) as conn, conn.transaction():
        conn.execute(f"insert into {owners} (id) values (%s) on conflict do nothing", (owner,))
        conn.execute(
            f"insert into public.{credits} ({owner_col}, balance) values (%s, %s)"
            f" on conflict ({owner_col}) do update set balance = excluded.balance",
            (owner, balance),
        )


def open_session(channel: Channel, session_id: UUID, owner: str, prompt: str = "p") -> bool:
    """What the Next.js API does: spend one credit (the app's deduct_credits) and open a queued
    session, in one transaction; False when the owner has no credit left."""
    table, owner_col, _, _ = TABLES[channel]
    with psycopg.connect(TEST_PG_DSN, autocommit=True) as conn, conn.transaction():
        spent = conn.execute(f"select public.deduct_credits(p_{owner_col} => %s)", (owner,)).fetchone()
        if not (spent and spent[0]):
            return False
        conn.execute(
            f"insert into public.{table} (id, {owner_col}, prompt) values (%s, %s, %s)",
            (session_id, owner, prompt),
        )
    return True


def seed_session(channel: Channel, session_id: UUID, owner: str, balance: int = 1) -> None:
    """A queued session as the Next.js API leaves it: `balance` credits, one of them spent on it."""
    set_balance(channel, owner, balance)
    if not open_session(channel, session_id, owner):
        raise AssertionError(f"could not open a session for {owner} with {balance} credits")


def balance(channel: Channel, owner: str) -> int:
    """The owner's balance, in the app's own table."""
    _, owner_col, credits, _ = TABLES[channel]
    row = run_sql(f"select balance from public.{credits} where {owner_col} = %s", (owner,))
    return int(row["balance"]) if row else 0


def app_refunds(channel: Channel, owner: str) -> list[int]:
    """The amounts of the refunds the app recorded for the owner (its refund_credits writes them)."""
    owner_col = TABLES[channel][1]
    with psycopg.connect(TEST_PG_DSN, autocommit=True) as conn:
        rows = conn.execute(
            f"select amount from public.credit_transactions where kind = 'refund' and {owner_col} = %s",
            (owner,),
        ).fetchall()
    return [int(amount) for (amount,) in rows]


def refund_count(channel: Channel, session_id: UUID) -> int:
    """Rows for the session in our refund ledger: 0 or 1, or the money rule is broken."""
    row = run_sql(
        "select count(*) as n from public.wearon_refunds where channel = %s and session_id = %s",
        (channel.value, session_id),
    )
    return int(row["n"]) if row else 0


def ledger() -> list[dict[str, Any]]:
    with psycopg.connect(TEST_PG_DSN, autocommit=True, row_factory=dict_row) as conn:
        return conn.execute("select * from public.wearon_refunds order by created_at").fetchall()


def app_session(channel: Channel, session_id: UUID) -> dict[str, Any] | None:
    """The app's session row, exactly as the app sees it."""
    return run_sql(f"select * from public.{TABLES[channel][0]} where id = %s", (session_id,))


def session_row(channel: Channel, session_id: UUID) -> dict[str, Any] | None:
    """The app's session row, with our claim on it (claim_token, attempts: None, 0 if unclaimed)."""
    row = run_sql(
        f"select s.*, c.claim_token, coalesce(c.attempts, 0) as attempts from public.{TABLES[channel][0]} s"
        " left join public.wearon_session_claims c on c.channel = %s and c.session_id = s.id"
        " where s.id = %s",
        (channel.value, session_id),
    )
    if row is not None:
        row["id"] = str(row["id"])
    return row


def age_session(channel: Channel, session_id: UUID, seconds: int) -> None:
    """Pretend the session was last touched `seconds` ago (for the sweep)."""
    table = TABLES[channel][0]
    run_sql(
        f"update public.{table} set updated_at = now() - make_interval(secs => %s) where id = %s",
        (seconds, session_id),
    )
