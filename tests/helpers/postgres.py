"""The test database: `wearon_test` on the machine's PostgreSQL, with the contract migrations applied.

Several people run the suite in one checkout at once, and a run starts by recreating its tables.
So each test process gets its own schema in wearon_test (`wearon_run_<pid>`), selected for every
connection the process and its children make through libpq's PGOPTIONS; runs never see each
other's rows. The schema is dropped when the process ends, or by the next run if it crashed.

    recreate_schema()                    # once per test session (the `postgres_schema` fixtures)
    truncate()                           # before each test that needs empty tables
    seed_session(Channel.B2C, sid, "u1", balance=3)
    balance(Channel.B2C, "u1"), refund_count(Channel.B2C, sid), session_row(Channel.B2C, sid)
"""

from __future__ import annotations

import atexit
import os
from contextlib import suppress
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from tests.conftest import TEST_PG_DSN
from tests.helpers.processes import pid_alive
from wearon.domain.task import Channel

MIGRATIONS = sorted((Path(__file__).resolve().parents[2] / "supabase" / "migrations").glob("*.sql"))
RUN_SCHEMA_PREFIX = "wearon_run_"

CONTRACT_TABLES = (
    "generation_sessions",
    "store_generation_sessions",
    "credit_refunds",
    "user_credits",
    "store_credits",
)
#: channel -> (sessions table, owner column, credits table)
TABLES = {
    Channel.B2C: ("generation_sessions", "user_id", "user_credits"),
    Channel.B2B: ("store_generation_sessions", "store_id", "store_credits"),
}

_pgoptions_before: str | None = None


def admin_dsn(dsn: str = TEST_PG_DSN) -> str:
    return dsn.rsplit("/", 1)[0] + "/postgres"


def database_name(dsn: str = TEST_PG_DSN) -> str:
    return dsn.rsplit("/", 1)[1]


def recreate_schema(dsn: str = TEST_PG_DSN) -> None:
    """Create the test database if needed, then apply the migrations to this run's empty schema."""
    _create_database(dsn)
    schema = run_schema()
    _select_schema(schema)
    with psycopg.connect(dsn, autocommit=True) as conn:
        _drop_abandoned_schemas(conn)
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
        for migration in MIGRATIONS:
            apply(migration, conn)


def run_schema() -> str:
    return f"{RUN_SCHEMA_PREFIX}{os.getpid()}"


def apply(migration: Path, conn: psycopg.Connection[Any]) -> None:
    conn.execute(migration.read_text())


def truncate(dsn: str = TEST_PG_DSN) -> None:
    """Empty every contract table (with DELETE: on a few rows it is several times faster)."""
    with psycopg.connect(dsn, autocommit=True) as conn, conn.transaction():
        for table in CONTRACT_TABLES:
            conn.execute(sql.SQL("delete from {}").format(sql.Identifier(table)))


def run_sql(query: str, args: tuple[Any, ...] = (), dsn: str = TEST_PG_DSN) -> dict[str, Any] | None:
    """One statement in its own connection; the first row, if it returns rows."""
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        cursor = conn.execute(query, args)
        return cursor.fetchone() if cursor.description else None


def set_balance(channel: Channel, owner: str, balance: int) -> None:
    _, owner_col, credits = TABLES[channel]
    run_sql(
        f"insert into {credits} ({owner_col}, balance) values (%s, %s)"
        f" on conflict ({owner_col}) do update set balance = excluded.balance",
        (owner, balance),
    )


def open_session(channel: Channel, session_id: UUID, owner: str, prompt: str = "p") -> bool:
    """What the Next.js API does: spend one credit and open a queued session."""
    row = run_sql(
        "select wearon_open_session(%s, %s, %s, %s) as ok", (channel.value, session_id, owner, prompt)
    )
    return bool(row and row["ok"])


def seed_session(channel: Channel, session_id: UUID, owner: str, balance: int = 1) -> None:
    """A queued session as the Next.js API leaves it: `balance` credits, one of them spent on it."""
    set_balance(channel, owner, balance)
    if not open_session(channel, session_id, owner):
        raise AssertionError(f"could not open a session for {owner} with {balance} credits")


def balance(channel: Channel, owner: str) -> int:
    _, owner_col, credits = TABLES[channel]
    row = run_sql(f"select balance from {credits} where {owner_col} = %s", (owner,))
    return int(row["balance"]) if row else 0


def refund_count(channel: Channel, session_id: UUID) -> int:
    row = run_sql(
        "select count(*) as n from credit_refunds where channel = %s and session_id = %s",
        (channel.value, session_id),
    )
    return int(row["n"]) if row else 0


def ledger() -> list[dict[str, Any]]:
    with psycopg.connect(TEST_PG_DSN, autocommit=True, row_factory=dict_row) as conn:
        return conn.execute("select * from credit_refunds order by created_at").fetchall()


def session_row(channel: Channel, session_id: UUID) -> dict[str, Any] | None:
    row = run_sql(f"select * from {TABLES[channel][0]} where id = %s", (session_id,))
    if row is not None:
        row["id"] = str(row["id"])
    return row


def age_session(channel: Channel, session_id: UUID, seconds: int) -> None:
    """Pretend the session was last touched `seconds` ago (for the sweep)."""
    run_sql(
        f"update {TABLES[channel][0]} set updated_at = now() - make_interval(secs => %s) where id = %s",
        (seconds, session_id),
    )


def _create_database(dsn: str) -> None:
    with psycopg.connect(admin_dsn(dsn), autocommit=True) as admin:
        name = database_name(dsn)
        if not admin.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
            # Another run may create it between our check and our create.
            with suppress(psycopg.errors.DuplicateDatabase):
                admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))


def _select_schema(schema: str) -> None:
    """Point every later libpq connection of this process (and its children) at `schema`."""
    global _pgoptions_before
    if _pgoptions_before is None:
        _pgoptions_before = os.environ.get("PGOPTIONS", "")
        atexit.register(_drop_schema, schema)
    os.environ["PGOPTIONS"] = f"{_pgoptions_before} -c search_path={schema}".strip()


def _drop_schema(schema: str, dsn: str = TEST_PG_DSN) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))


def _drop_abandoned_schemas(conn: psycopg.Connection[Any]) -> None:
    """Drop the schemas of runs that died before they could drop their own."""
    rows = conn.execute(
        "select nspname from pg_namespace where starts_with(nspname, %s)", (RUN_SCHEMA_PREFIX,)
    ).fetchall()
    for (schema,) in rows:
        pid = schema.removeprefix(RUN_SCHEMA_PREFIX)
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
