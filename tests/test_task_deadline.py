"""The running task's deadline, and the network calls it cuts short: storage and the database
(supabase-py, through its request hook) and our rate limiter's wait."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from uuid import uuid4

import pytest
import redis
from pydantic import SecretStr

from tests.standins.supabase import SERVICE_ROLE_KEY
from wearon import task_deadline
from wearon.adapters.blobs.supabase import SupabaseBlobStore
from wearon.adapters.rate_gate import ProviderRateGate
from wearon.adapters.store.supabase import SupabaseSessionStore
from wearon.adapters.supabase_client import create_supabase_client
from wearon.domain.session import Lease
from wearon.domain.task import Channel
from wearon.errors import InfrastructureError, TaskDeadlineExceeded


def test_outside_a_task_every_timeout_is_the_adapters_own() -> None:
    assert task_deadline.left_s() is None
    assert task_deadline.cut(30.0) == 30.0
    assert task_deadline.allows(3600.0)
    task_deadline.check("anything")


def test_inside_a_task_timeouts_are_cut_to_the_time_left() -> None:
    with task_deadline.running(2.0):
        assert 1.0 < task_deadline.cut(30.0) <= 2.0
        assert task_deadline.cut(0.5) == 0.5
        assert not task_deadline.allows(4.0)
    with task_deadline.running(-1.0):
        assert task_deadline.cut(30.0) == task_deadline.MIN_TIMEOUT_S
        with pytest.raises(TaskDeadlineExceeded):
            task_deadline.check("a call")
    assert task_deadline.left_s() is None  # gone with the attempt: the refund after it is not cut


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections and reads, and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()
    for conn in held:
        conn.close()


def test_storage_and_database_calls_end_by_the_task_deadline(silent_server: str) -> None:
    # Given Supabase accepting our connections and answering nothing (its own timeouts: 30 s, 10 s)
    client = create_supabase_client(silent_server, SecretStr(SERVICE_ROLE_KEY))
    blobs, store = SupabaseBlobStore(client, "images"), SupabaseSessionStore(client)
    for call in (
        lambda: blobs.upload("generated/u/s.jpg", b"jpeg", "image/jpeg"),
        lambda: store.claim(Channel.B2C, uuid4(), "token", Lease("token-attempt")),
    ):
        started = time.monotonic()
        # When a task with 1 s left calls them, then each fails as an outage within about that
        with task_deadline.running(1.0), pytest.raises(InfrastructureError):
            call()
        assert time.monotonic() - started < 2.5


def test_a_wait_for_a_rate_slot_ends_at_the_task_deadline(redis_client: redis.Redis) -> None:
    gate = ProviderRateGate(redis_client, per_minute=2, key=f"test:deadline:{uuid4().hex}")
    gate.wait()  # this minute's slot is taken: the next is ~60 s away
    started = time.monotonic()
    with task_deadline.running(0.5), pytest.raises(TaskDeadlineExceeded):
        gate.wait()
    assert time.monotonic() - started < 2.0
