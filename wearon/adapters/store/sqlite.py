"""The embedded SessionStore: SQLite with the semantics of the Postgres contract
(supabase/migrations), for `make run` and any set-up without Supabase.

There is no app here, so this store keeps the app's part too, in tables of its own: the sessions
(with our claim on them), the credit balances and the refund ledger. In production the app owns
the sessions and balances, and the migration adds only our claim and ledger tables beside them.

Every call is one `BEGIN IMMEDIATE` transaction: it takes SQLite's single write lock before it
reads, so threads and processes sharing the file are serialised and a read-then-write (claim,
fail_and_refund) cannot interleave with another. WAL mode lets readers go on meanwhile. One
connection per thread, since a sqlite3 connection must not be shared mid-transaction.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from wearon.domain.session import ClaimOutcome, Lease, SessionStatus, SweepResult
from wearon.domain.session_report import Claim, Refund, SessionReport
from wearon.domain.task import Channel
from wearon.errors import InfrastructureError

_SESSION_COLUMNS = """
    status text not null default 'queued'
        check (status in ('queued', 'processing', 'completed', 'failed')),
    prompt text, result_url text, error_message text, claim_token text,
    attempts integer not null default 0, created_at text not null, updated_at text not null,
    lease_holder text, lease_until text"""
#: Columns added since the first release, added to a data directory that lacks them.
_ADDED_COLUMNS = ("lease_holder text", "lease_until text")

SCHEMA = f"""
create table if not exists generation_sessions (
    id text primary key, user_id text not null, {_SESSION_COLUMNS});
create table if not exists store_generation_sessions (
    id text primary key, store_id text not null, {_SESSION_COLUMNS});
create index if not exists generation_sessions_open_idx
    on generation_sessions (updated_at) where status in ('queued', 'processing');
create index if not exists store_generation_sessions_open_idx
    on store_generation_sessions (updated_at) where status in ('queued', 'processing');
create table if not exists user_credits (
    user_id text primary key, balance integer not null check (balance >= 0));
create table if not exists store_credits (
    store_id text primary key, balance integer not null check (balance >= 0));
create table if not exists credit_refunds (
    channel text not null check (channel in ('b2c', 'b2b')), session_id text not null,
    owner_id text not null, amount integer not null default 1 check (amount = 1), reason text,
    created_at text not null, primary key (channel, session_id));
"""

#: channel -> (sessions table, owner column, credits table)
_TABLES = {
    Channel.B2C: ("generation_sessions", "user_id", "user_credits"),
    Channel.B2B: ("store_generation_sessions", "store_id", "store_credits"),
}
_OPEN = (SessionStatus.QUEUED.value, SessionStatus.PROCESSING.value)
#: Errors that are a caller's bug (a duplicate session id, bad SQL), not the database failing.
_CALLER_ERRORS = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError)
#: How long a call waits for another writer before the database counts as unavailable.
BUSY_TIMEOUT_S = 30.0


def _now(ago_s: float = 0.0) -> str:
    # ISO 8601 in UTC with fixed precision, so text order is time order.
    return (datetime.now(UTC) - timedelta(seconds=ago_s)).isoformat(timespec="microseconds")


class SqliteSessionStore:
    def __init__(self, path: Path, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self._path = path
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._opened_lock = threading.Lock()
        with self._errors_mapped():
            self._connection().executescript(SCHEMA)
            self._add_missing_columns()

    # --- the contract -------------------------------------------------------------------------

    def claim(self, channel: Channel, session_id: UUID, token: str, lease: Lease) -> ClaimOutcome:
        table = _TABLES[channel][0]
        with self._tx() as db:
            row = db.execute(
                f"select status, claim_token, lease_holder, lease_until from {table} where id = ?",
                (str(session_id),),
            )
            found = row.fetchone()
            if found is None:
                return ClaimOutcome.MISSING
            outcome = _claim_outcome(*found, token=token, holder=lease.holder)
            if outcome is ClaimOutcome.CLAIMED:
                db.execute(
                    f"update {table} set status = 'processing', claim_token = ?, attempts = attempts + 1,"
                    " updated_at = ?, lease_holder = ?, lease_until = ? where id = ?",
                    (token, _now(), lease.holder, _now(ago_s=-lease.seconds), str(session_id)),
                )
            return outcome

    def renew_leases(self, channel: Channel, holders: Mapping[UUID, str], seconds: int) -> set[UUID]:
        table = _TABLES[channel][0]
        renewed = set()
        with self._tx() as db:
            for session_id, holder in holders.items():
                cursor = db.execute(
                    f"update {table} set lease_until = ? where id = ? and lease_holder = ?",
                    (_now(ago_s=-seconds), str(session_id), holder),
                )
                if cursor.rowcount == 1:
                    renewed.add(session_id)
        return renewed

    def requeue(self, channel: Channel, session_id: UUID, token: str) -> bool:
        return self._update_claimed(channel, session_id, token, "status = 'queued'")

    def complete(self, channel: Channel, session_id: UUID, token: str, result_url: str) -> bool:
        assignments = "status = 'completed', result_url = ?, error_message = null"
        return self._update_claimed(channel, session_id, token, assignments, (result_url,))

    def fail_and_refund(self, channel: Channel, session_id: UUID, reason: str) -> bool:
        with self._tx() as db:
            return _fail_and_refund(db, channel, str(session_id), reason)

    def sweep_stuck(self, older_than_s: int, reason: str) -> SweepResult:
        """Here the app's credits are our own tables: no refund can be refused, none is skipped."""
        swept = 0
        with self._tx() as db:
            for channel, (table, _, _) in _TABLES.items():
                stuck = db.execute(
                    f"select id from {table} where status in (?, ?) and updated_at < ?",
                    (*_OPEN, _now(ago_s=older_than_s)),
                ).fetchall()
                swept += sum(_fail_and_refund(db, channel, sid, reason) for (sid,) in stuck)
        return SweepResult(refunded=swept)

    # --- what an operator reads (SessionInspector) ------------------------------------------------

    def inspect(self, session_id: UUID) -> SessionReport | None:
        for channel in _TABLES:
            row = self.session(channel, session_id)
            if row is not None:
                return self._report(channel, row)
        return None

    def _report(self, channel: Channel, row: dict[str, Any]) -> SessionReport:
        refund = self._read_one(
            "select reason, created_at from credit_refunds where channel = ? and session_id = ?",
            (channel.value, row["id"]),
        )
        claim = Claim(row["claim_token"], row["attempts"], None) if row["claim_token"] else None
        return SessionReport(
            channel=channel,
            session_id=UUID(row["id"]),
            owner_id=row[_TABLES[channel][1]],
            status=SessionStatus(row["status"]),
            result_url=row["result_url"],
            error_message=row["error_message"],
            updated_at=row["updated_at"],
            claim=claim,
            refund=Refund(refund["reason"], refund["created_at"]) if refund else None,
        )

    # --- what the Next.js API does, and what tests and the demo inspect -------------------------

    def contract_gaps(self) -> list[str]:
        """Here the worker's tables are the database: it created them, it lacks nothing."""
        return []

    def open_session(self, channel: Channel, session_id: UUID | str, owner: str, prompt: str) -> bool:
        """Spend one credit and open a queued session; False when the balance is empty."""
        table, owner_col, credits = _TABLES[channel]
        with self._tx() as db:
            spent = db.execute(
                f"update {credits} set balance = balance - 1 where {owner_col} = ? and balance >= 1", (owner,)
            ).rowcount
            if spent:
                now = _now()
                db.execute(
                    f"insert into {table} (id, {owner_col}, prompt, created_at, updated_at)"
                    " values (?, ?, ?, ?, ?)",
                    (str(session_id), owner, prompt, now, now),
                )
            return bool(spent)

    def set_balance(self, channel: Channel, owner: str, balance: int) -> None:
        _, owner_col, credits = _TABLES[channel]
        with self._tx() as db:
            db.execute(
                f"insert into {credits} ({owner_col}, balance) values (?, ?)"
                f" on conflict ({owner_col}) do update set balance = excluded.balance",
                (owner, balance),
            )

    def balance(self, channel: Channel, owner: str) -> int:
        _, owner_col, credits = _TABLES[channel]
        row = self._read_one(f"select balance from {credits} where {owner_col} = ?", (owner,))
        return int(row["balance"]) if row else 0

    def session(self, channel: Channel, session_id: UUID | str) -> dict[str, Any] | None:
        return self._read_one(f"select * from {_TABLES[channel][0]} where id = ?", (str(session_id),))

    def refunds(self, channel: Channel, session_id: UUID | str) -> int:
        """How many ledger rows the session has: 0 or 1, or the money rule is broken."""
        row = self._read_one(
            "select count(*) as n from credit_refunds where channel = ? and session_id = ?",
            (channel.value, str(session_id)),
        )
        return int(row["n"]) if row else 0

    def close(self) -> None:
        """Close every thread's connection; the store must not be used afterwards."""
        with self._opened_lock:
            for db in self._opened:
                db.close()
            self._opened.clear()

    # --- internals ----------------------------------------------------------------------------

    def _add_missing_columns(self) -> None:
        db = self._connection()
        for table, _, _ in _TABLES.values():
            have = {row[1] for row in db.execute(f"pragma table_info({table})")}
            for column in _ADDED_COLUMNS:
                if column.split()[0] not in have:
                    db.execute(f"alter table {table} add column {column}")

    def _update_claimed(
        self, channel: Channel, session_id: UUID, token: str, assignments: str, args: tuple[str, ...] = ()
    ) -> bool:
        """Apply `assignments` if the session is processing under `token`."""
        table = _TABLES[channel][0]
        with self._tx() as db:
            cursor = db.execute(
                f"update {table} set {assignments}, updated_at = ?"
                " where id = ? and status = 'processing' and claim_token = ?",
                (*args, _now(), str(session_id), token),
            )
            return cursor.rowcount == 1

    def _read_one(self, query: str, args: tuple[str, ...]) -> dict[str, Any] | None:
        with self._tx() as db:
            cursor = db.execute(query, args)
            row = cursor.fetchone()
            names = [d[0] for d in cursor.description]
        return dict(zip(names, row, strict=True)) if row else None

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._errors_mapped():
            db = self._connection()
            db.execute("begin immediate")
            try:
                yield db
                db.execute("commit")
            except BaseException:
                if db.in_transaction:
                    db.execute("rollback")
                raise

    @staticmethod
    @contextmanager
    def _errors_mapped() -> Iterator[None]:
        try:
            yield
        except _CALLER_ERRORS:
            raise
        except sqlite3.Error as exc:
            # Locked past the busy timeout, disk full or unreadable: the database is unavailable.
            raise InfrastructureError(f"local database error: {exc}") from None

    def _connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._connect()
            self._local.db = db
        return db

    def _connect(self) -> sqlite3.Connection:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves; check_same_thread=False only so
        # close() may close other threads' connections, each is otherwise used by its own thread.
        db = sqlite3.connect(
            self._path, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        db.execute("pragma journal_mode = wal")
        # In WAL mode, NORMAL loses no committed transaction when a process crashes (only on power
        # loss), and keeps each commit cheap.
        db.execute("pragma synchronous = normal")
        with self._opened_lock:
            self._opened.append(db)
        return db


def _claim_outcome(
    status: str,
    claimed_by: str | None,
    leased_to: str | None,
    lease_until: str | None,
    *,
    token: str,
    holder: str,
) -> ClaimOutcome:
    if status not in _OPEN:
        return ClaimOutcome.FINISHED
    if status == SessionStatus.PROCESSING and claimed_by != token:
        return ClaimOutcome.BUSY
    if status == SessionStatus.PROCESSING and leased_to != holder and (lease_until or "") > _now():
        return ClaimOutcome.HELD
    return ClaimOutcome.CLAIMED


def _fail_and_refund(db: sqlite3.Connection, channel: Channel, session_id: str, reason: str) -> bool:
    """The body of fail_and_refund, inside the caller's write transaction."""
    table, owner_col, credits = _TABLES[channel]
    row = db.execute(f"select {owner_col}, status from {table} where id = ?", (session_id,)).fetchone()
    if row is None or row[1] not in _OPEN:
        return False
    owner, now = row[0], _now()
    db.execute(
        f"update {table} set status = 'failed', error_message = ?, updated_at = ? where id = ?",
        (reason, now, session_id),
    )
    # As in Postgres, the ledger's primary key is the last word on "at most once".
    refunded = db.execute(
        "insert into credit_refunds (channel, session_id, owner_id, reason, created_at)"
        " values (?, ?, ?, ?, ?) on conflict do nothing",
        (channel.value, session_id, owner, reason, now),
    ).rowcount
    if refunded:
        db.execute(
            f"insert into {credits} ({owner_col}, balance) values (?, 1)"
            f" on conflict ({owner_col}) do update set balance = balance + 1",
            (owner,),
        )
    return bool(refunded)
