"""Our own infrastructure failing under load: Redis restarted, PostgreSQL unreachable.

Never the machine's shared servers: a throwaway redis-server, and a TCP proxy we cut in front of
PostgreSQL.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import TEST_PG_DSN
from tests.faults.conftest import FaultStack, started
from tests.helpers.backends import SqliteBackend, supabase_backend
from tests.helpers.postgres import build_test_database
from tests.helpers.processes import TcpProxy, restart_redis, throwaway_redis, wait_until
from tests.standins.openai import OpenAIStandIn
from wearon.domain.task import Channel


@pytest.fixture
def aof_redis() -> Iterator[tuple[str, int, Path]]:
    with throwaway_redis(appendonly=True) as server:
        yield server


def test_redis_restart_under_load_loses_nothing(
    tmp_path: Path, standin: OpenAIStandIn, images_url: str, aof_redis: tuple[str, int, Path]
) -> None:
    url, port, workdir = aof_redis
    stack = FaultStack(tmp_path, standin, images_url, SqliteBackend(tmp_path / "data"), redis_url=url)
    standin.latency_s = (1.0, 1.0)
    try:
        started(stack.bridge())
        started(stack.worker(threads=8))
        before = [stack.push(Channel.B2C, f"before {n}") for n in range(10)]
        # When Redis dies mid-load and comes back (AOF, as in production)
        subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], check=False, capture_output=True)
        time.sleep(2)
        restarted = restart_redis(port, workdir)
        try:
            back_at = time.monotonic()
            after = [stack.push(Channel.B2B, f"after {n}") for n in range(10)]
            # Then bridge and worker reconnect by themselves and every task completes, once
            wait_until(lambda: stack.status(after[0]) == "completed", 20, what="first task after restart")
            assert time.monotonic() - back_at < 10 + standin.latency_s[1] + 2
            stack.wait_terminal(before + after, timeout=90)
            assert {stack.status(t) for t in before + after} == {"completed"}
            assert sum(stack.refunds(t) for t in before + after) == 0
            stack.assert_balances(before + after)
        finally:
            stack.stop()
            restarted.send_signal(signal.SIGKILL)
            restarted.wait()
    finally:
        stack.stop()


@pytest.fixture
def postgres_behind_proxy() -> Iterator[TcpProxy]:
    build_test_database()
    yield TcpProxy(5432)


def proxied_dsn(proxy: TcpProxy) -> str:
    return TEST_PG_DSN.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")


def test_postgres_away_for_30_s_holds_tasks_then_completes_them(
    tmp_path: Path,
    standin: OpenAIStandIn,
    images_url: str,
    redis_client: redis.Redis,
    postgres_behind_proxy: TcpProxy,
) -> None:
    proxy = postgres_behind_proxy
    with supabase_backend(dsn=proxied_dsn(proxy)) as backend:
        stack = FaultStack(tmp_path, standin, images_url, backend)
        try:
            started(stack.bridge())
            started(stack.worker(threads=8))
            # Given the database goes away for 30 s
            proxy.cut()
            back_at = time.monotonic() + 30
            tasks = [stack.push_during_outage(Channel.B2C, f"held {n}", proxy) for n in range(5)]
            # Then the worker meets the outage and holds every task for a retry: none is failed
            # (dead-lettered), no refund is waiting for the database (our fault, not the user's)
            wait_until(lambda: all(stack.held(t) for t in tasks), 30, what="every task held for a retry")
            time.sleep(max(back_at - time.monotonic(), 0))  # the rest of the outage
            assert all(stack.held(t) for t in tasks)
            assert (stack.dead_lettered(), stack.deferred_refunds()) == (0, 0)
            proxy.restore()
            # And when it is back, the held tasks complete (their back-off is capped at 30 s)
            stack.wait_terminal(tasks, timeout=120)
            assert [stack.status(t) for t in tasks] == ["completed"] * 5
            assert sum(stack.refunds(t) for t in tasks) == 0
            stack.assert_balances(tasks)
        finally:
            stack.stop()


def test_postgres_away_past_the_bound_fails_and_refunds_once_it_is_back(
    tmp_path: Path,
    standin: OpenAIStandIn,
    images_url: str,
    redis_client: redis.Redis,
    postgres_behind_proxy: TcpProxy,
) -> None:
    proxy = postgres_behind_proxy
    with supabase_backend(dsn=proxied_dsn(proxy)) as backend:
        stack = FaultStack(tmp_path, standin, images_url, backend)
        stack.extra_env = {"INFRA_RETRY_FOR_S": "3"}
        try:
            started(stack.bridge())
            worker = started(stack.worker())
            proxy.cut()
            task = stack.push_during_outage(Channel.B2B, "held too long", proxy)
            wait_until(lambda: "refund deferred" in worker.output(), 30, what="final failure")
            proxy.restore()
            stack.wait_terminal([task], timeout=60)
            assert stack.status(task) == "failed"
            assert stack.refunds(task) == 1
            stack.assert_balances([task])
        finally:
            stack.stop()
