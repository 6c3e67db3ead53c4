"""Several hosts on one Redis (tests/helpers/netns.py): real processes, each on the network host
where production would run it.

  data       Redis (its own redis-server, on an address of its own) and the Supabase stand-in
             (reaching this session's PostgreSQL through its unix socket, as the machine's only
             copy stays on 127.0.0.1)
  bridge-*   `python -m wearon.bridge`, each under its own host name
  worker-*   `python -m wearon.worker`
  gateway    this test process: the OpenAI stand-in and the image server, reached by every host
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.conftest import TEST_PG_DSN
from tests.faults.conftest import FaultStack
from tests.helpers import postgres
from tests.helpers.asgi import serve
from tests.helpers.backends import SupabaseBackend
from tests.helpers.images import image_app
from tests.helpers.netns import Host, NetnsRefused, Network, network
from tests.helpers.processes import Proc, Ready, python_env, wait_ready, wait_until
from tests.skip_policy import NETNS_REFUSED
from tests.standins.openai import OpenAIStandIn
from tests.standins.supabase import SupabaseStandIn

REDIS_PORT = 6379
SUPABASE_PORT = 8300


def unix_socket_dsn(dsn: str = TEST_PG_DSN) -> str:
    """This session's database through PostgreSQL's unix socket: reachable from any namespace."""
    return f"postgresql://postgres@/{postgres.database_name(dsn)}?host=/var/run/postgresql"


class ClusterStack(FaultStack):
    """A FaultStack whose processes run on network hosts; `net` holds the hosts."""

    def __init__(self, tmp: Path, net: Network, standin: OpenAIStandIn, images_url: str, data: Host) -> None:
        self.net, self.data = net, data
        self.redis_address = data.extra_addresses[0]
        backend = SupabaseBackend(SupabaseStandIn(dsn=TEST_PG_DSN), f"http://{data.address}:{SUPABASE_PORT}")
        super().__init__(tmp, standin, images_url, backend, f"redis://{self.redis_address}:{REDIS_PORT}/0")

    def worker_on(self, host: Host, threads: int = 4) -> Proc:
        argv, env, ready = self.worker_command(host.name, threads)
        return self._start_on(host, host.name, argv, env, ready)

    def bridge_on(self, host: Host) -> Proc:
        argv, env, ready = self.bridge_command()
        return self._start_on(host, host.name, argv, env, ready)

    def _start_on(self, host: Host, name: str, argv: list[str], env: dict[str, str], ready: Ready) -> Proc:
        ready = Ready(ready.line, ready.count, ready.metrics_port, metrics_host=host.address)
        proc = host.start(f"{name}-{len(self.procs)}", argv, env, self.tmp, ready)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        """Every host goes at once: nothing here needs a graceful stop."""
        for host in self.net.hosts.values():
            host.kill()

    def host_calls(self, host: Host) -> list[str]:
        """The prompts of the provider calls that came from `host`."""
        pairs = zip(self.standin.prompts, self.standin.clients, strict=True)
        return [prompt for prompt, client in pairs if client == host.address]

    def completions(self, task: dict[str, Any]) -> int:
        """How many times any worker logged the task's generation as completed."""
        return sum(
            1
            for proc in self.procs
            for record in records(proc)
            if record.get("message") == "generation completed"
            and record.get("session_id") == task["session_id"]
        )


def records(proc: Proc) -> list[dict[str, Any]]:
    """Every JSON line `proc` wrote."""
    found = []
    for line in proc.output().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            found.append(record)
    return found


def start_data_host(net: Network, tmp: Path) -> Host:
    """Redis and the Supabase stand-in on one host; Redis on a second address of its own, so that a
    route can cut a host off from Redis alone (iproute2 routes by address)."""
    data = net.host("data", addresses=2)
    redis_argv = [shutil.which("redis-server") or "redis-server", "--port", str(REDIS_PORT)]
    redis_argv += ["--bind", data.extra_addresses[0], "--protected-mode", "no", "--save", ""]
    data.start("redis", redis_argv, python_env(), tmp)
    supabase = [sys.executable, "-m", "tests.standins.supabase", "--port", str(SUPABASE_PORT)]
    supabase += ["--host", data.address, "--dsn", unix_socket_dsn()]
    data.start("supabase", supabase, python_env(), tmp)
    client = redis.Redis(host=data.extra_addresses[0], port=REDIS_PORT, socket_timeout=2)
    wait_until(lambda: _answers(client), 30, what="redis on the data host")
    wait_until(lambda: _http_up(f"http://{data.address}:{SUPABASE_PORT}"), 60, what="supabase stand-in")
    return data


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def _http_up(url: str) -> bool:
    try:
        httpx.get(f"{url}/rest/v1/rpc/none", timeout=2)
    except httpx.HTTPError:
        return False
    return True


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[ClusterStack]:
    """Empty tables, a data host, the stand-ins on the gateway; worker and bridge hosts are the test's."""
    postgres.build_test_database()
    with ExitStack() as stack:
        try:
            net = stack.enter_context(network())
        except NetnsRefused as exc:
            pytest.skip(f"{NETNS_REFUSED}: {exc}")
        standin = stack.enter_context(OpenAIStandIn(latency_s=(2.0, 2.0), hang_s=120.0).served(net.gateway))
        images_url = stack.enter_context(serve(image_app(small=True), host=net.gateway))
        data = start_data_host(net, tmp_path)
        cluster = ClusterStack(tmp_path, net, standin, images_url, data)
        stack.callback(cluster.stop)
        yield cluster


def started(proc: Proc, timeout: float = 60.0) -> Proc:
    return wait_ready(proc, timeout)
