"""The two storage backends behind one test-facing interface, so one suite runs against both.

`SqliteBackend` is the embedded default, which keeps its own tables (there it plays the app);
`SupabaseBackend` is the production adapters talking HTTP to the Supabase stand-in, with the real
PostgreSQL behind it, shaped like the app's database. Each offers `store` (SessionStore), `blobs`
(BlobStore), `settings()` (the Settings fields that select it) and the inspection helpers below:
what the Next.js API does (set_balance, open_session) and what a test checks (session, balance,
refunds, stored), plus `age` (for the sweep) and `simulate_outage`.

Owner ids are uuids (as the app's are): the same test runs on both backends.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from pydantic import SecretStr

from tests.conftest import TEST_PG_DSN
from tests.helpers import postgres
from tests.helpers.asgi import serve
from tests.standins.supabase import SERVICE_ROLE_KEY, SupabaseStandIn
from wearon.adapters.blobs.local import LocalBlobStore, load_or_create_key
from wearon.adapters.blobs.supabase import SupabaseBlobStore
from wearon.adapters.store.sqlite import SqliteSessionStore
from wearon.adapters.store.supabase import SupabaseSessionStore
from wearon.adapters.supabase_client import create_supabase_client
from wearon.domain.task import Channel
from wearon.ports import BlobStore, SessionStore

LOCAL_BASE_URL = "http://127.0.0.1:8000"
#: The embedded backend's session tables (the same names as the app's).
SESSION_TABLES = {Channel.B2C: "generation_sessions", Channel.B2B: "store_generation_sessions"}


class SqliteBackend:
    name = "sqlite"

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.database = data_dir / "wearon.sqlite3"
        self.sqlite = SqliteSessionStore(self.database)
        self.store: SessionStore = self.sqlite
        self.local_blobs = LocalBlobStore(
            data_dir / "files", LOCAL_BASE_URL, load_or_create_key(data_dir / "signing.key")
        )
        self.blobs: BlobStore = self.local_blobs

    def settings(self) -> dict[str, Any]:
        return {"local_data_dir": self.data_dir}

    def set_balance(self, channel: Channel, owner: str, balance: int) -> None:
        self.sqlite.set_balance(channel, owner, balance)

    def open_session(self, channel: Channel, session_id: UUID, owner: str, prompt: str = "p") -> bool:
        return self.sqlite.open_session(channel, session_id, owner, prompt)

    def session(self, channel: Channel, session_id: UUID) -> dict[str, Any] | None:
        return self.sqlite.session(channel, session_id)

    def balance(self, channel: Channel, owner: str) -> int:
        return self.sqlite.balance(channel, owner)

    def refunds(self, channel: Channel, session_id: UUID) -> int:
        return self.sqlite.refunds(channel, session_id)

    def age(self, channel: Channel, session_id: UUID, seconds: int) -> None:
        old = (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat(timespec="microseconds")
        table = SESSION_TABLES[channel]
        with sqlite3.connect(self.database) as db:
            db.execute(f"update {table} set updated_at = ? where id = ?", (old, str(session_id)))
        db.close()

    def simulate_outage(self) -> None:
        """Another process holds the database's write lock for longer than we wait."""
        self._locker = sqlite3.connect(self.database, isolation_level=None)
        self._locker.execute("begin exclusive")
        self.sqlite = SqliteSessionStore(self.database, busy_timeout_s=0.05)  # gives up fast
        self.store = self.sqlite

    def stored(self, path: str) -> bytes | None:
        target = self.data_dir / "files" / path
        return target.read_bytes() if target.exists() else None

    def close(self) -> None:
        self.sqlite.close()


class SupabaseBackend:
    name = "supabase"

    def __init__(self, standin: SupabaseStandIn, url: str, bucket: str = "images") -> None:
        self.standin, self.url, self.bucket = standin, url, bucket
        client = create_supabase_client(url, SecretStr(SERVICE_ROLE_KEY))
        self.store: SessionStore = SupabaseSessionStore(client)
        self.blobs: BlobStore = SupabaseBlobStore(client, bucket)

    def settings(self) -> dict[str, Any]:
        return {
            "supabase_url": self.url,
            "supabase_service_role_key": SecretStr(SERVICE_ROLE_KEY),
            "supabase_bucket": self.bucket,
        }

    def set_balance(self, channel: Channel, owner: str, balance: int) -> None:
        postgres.set_balance(channel, owner, balance)

    def open_session(self, channel: Channel, session_id: UUID, owner: str, prompt: str = "p") -> bool:
        return postgres.open_session(channel, session_id, owner, prompt)

    def session(self, channel: Channel, session_id: UUID) -> dict[str, Any] | None:
        return postgres.session_row(channel, session_id)

    def balance(self, channel: Channel, owner: str) -> int:
        return postgres.balance(channel, owner)

    def refunds(self, channel: Channel, session_id: UUID) -> int:
        return postgres.refund_count(channel, session_id)

    def age(self, channel: Channel, session_id: UUID, seconds: int) -> None:
        postgres.age_session(channel, session_id, seconds)

    def simulate_outage(self) -> None:
        self.standin.outage = True

    def stored(self, path: str) -> bytes | None:
        return self.standin.objects.get(f"{self.bucket}/{path}")

    def reset(self) -> None:
        """As if new: empty tables and storage, no outage."""
        postgres.truncate()  # directly, not through the stand-in's DSN (tests may put a proxy there)
        self.standin.reset()

    def close(self) -> None:
        pass


@contextmanager
def sqlite_backend(data_dir: Path) -> Iterator[SqliteBackend]:
    backend = SqliteBackend(data_dir)
    try:
        yield backend
    finally:
        backend.close()


@contextmanager
def supabase_backend(dsn: str = TEST_PG_DSN) -> Iterator[SupabaseBackend]:
    """Empty tables behind a fresh stand-in, served over real HTTP. Needs `build_test_database()` first.

    To share one across tests, keep it open and call `reset()` before each.
    """
    standin = SupabaseStandIn(dsn=dsn)
    try:
        with serve(standin.app) as url:
            backend = SupabaseBackend(standin, url)
            backend.reset()
            yield backend
    finally:
        standin.close()


Backend = SqliteBackend | SupabaseBackend
