"""Several hosts on one Redis (tests/helpers/netns.py): real processes, each on the network host
where production would run it.

  data       Redis and the Supabase stand-in over this session's database (tests/helpers/hosts.py)
  bridge-*   `python -m wearon.bridge`, each under its own host name
  worker-*   `python -m wearon.worker`
  gateway    this test process: the OpenAI stand-in and the image server, reached by every host
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_PG_DSN
from tests.faults.conftest import FaultStack
from tests.helpers import postgres
from tests.helpers.asgi import serve
from tests.helpers.backends import SupabaseBackend
from tests.helpers.hosts import DataHost, start_data_host
from tests.helpers.images import image_app
from tests.helpers.netns import Host, NetnsRefused, Network, network
from tests.helpers.processes import Proc, Ready, wait_ready
from tests.skip_policy import NETNS_REFUSED
from tests.standins.openai import OpenAIStandIn
from tests.standins.supabase import SupabaseStandIn


class ClusterStack(FaultStack):
    """A FaultStack whose processes run on network hosts; `net` holds the hosts."""

    def __init__(
        self, tmp: Path, net: Network, standin: OpenAIStandIn, images_url: str, data: DataHost
    ) -> None:
        self.net, self.data = net, data
        self.redis_address = data.redis_address
        # The stand-in runs on the data host; this one only gives the backend its interface.
        backend = SupabaseBackend(SupabaseStandIn(dsn=TEST_PG_DSN), data.supabase_url)
        super().__init__(tmp, standin, images_url, backend, data.redis_url)

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
        data = start_data_host(net, tmp_path, postgres.database_name())
        cluster = ClusterStack(tmp_path, net, standin, images_url, data)
        stack.callback(cluster.stop)
        yield cluster


def started(proc: Proc, timeout: float = 60.0) -> Proc:
    return wait_ready(proc, timeout)
