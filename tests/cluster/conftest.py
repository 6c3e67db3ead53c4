"""Several hosts on one Redis (tests/helpers/netns.py): real processes, each on the network host
where production would run it.

  data       Redis and the Supabase stand-in over this session's database (tests/helpers/hosts.py)
  bridge-*   `python -m wearon.bridge`, each under its own host name
  worker-*   `python -m wearon.worker`
  gateway    this test process: the OpenAI stand-in and the image server, reached by every host
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_PG_DSN
from tests.faults.conftest import NAMESPACE, FaultStack
from tests.helpers import postgres
from tests.helpers.asgi import serve
from tests.helpers.backends import SupabaseBackend
from tests.helpers.hosts import DataHost, start_data_host
from tests.helpers.images import image_app
from tests.helpers.netns import Host, NetnsRefused, Network, network
from tests.helpers.processes import WORKER_READY, Proc, Ready, wait_ready, wait_until
from tests.skip_policy import NETNS_NEEDS_ROOT, NETNS_REFUSED
from tests.standins.openai import OpenAIStandIn
from tests.standins.supabase import SupabaseStandIn

#: Polls, a second apart, that must all find the cluster idle (wait_quiet).
QUIET_POLLS = 3
#: Past the heartbeat timeout (15 s), a retry's 10 s wait and a 5 s provider call, with room.
PROVIDER_QUIET_S = 60.0


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

    def wait_quiet(self, timeout: float = 300.0) -> None:
        """Wait until nothing is left to do: no generation message queued or waiting for its retry,
        and no worker still alive working on one or holding a retry (seen so QUIET_POLLS times in
        a row, as a message moves between those for a moment). A redelivered duplicate is done by
        then: a test that counts provider calls after this sees its call too."""
        busy: list[str] = []

        def settled() -> bool:
            busy.append(self._busy())
            return all(not seen for seen in busy[-QUIET_POLLS:]) and len(busy) >= QUIET_POLLS

        try:
            wait_until(settled, timeout, interval=1.0, what="the cluster idle")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last seen busy: {busy[-1]}") from None

    def _busy(self) -> str:
        """What is still to do ("" when nothing): queued messages, and each live worker's in hand.

        A worker's in-hand gauge can stay up for good when Dramatiq's ack of a message meets a
        Redis timeout (it logs "Unhandled error during post_process_message" and never lowers it):
        with nothing queued, a provider silent for PROVIDER_QUIET_S (longer than any call a held
        message could still be waiting to make) is taken as idle too."""
        queues = {q: self.redis.llen(f"{NAMESPACE}:{q}") for q in ("generation", "generation.DQ")}
        live = [p for p in self.procs if p.popen.poll() is None and p.ready and p.ready.line == WORKER_READY]
        in_hand = {p.name: _messages_in_hand(p) for p in live}
        if not any(queues.values()) and time.time() - max(self.standin.calls, default=0.0) > PROVIDER_QUIET_S:
            in_hand = {}
        found = {name: n for name, n in {**queues, **in_hand}.items() if n}
        return ", ".join(f"{name}: {n:g}" for name, n in found.items())

    def host_calls(self, host: Host) -> list[str]:
        """The prompts of the provider calls that came from `host`."""
        pairs = zip(self.standin.prompts, self.standin.clients, strict=True)
        return [prompt for prompt, client in pairs if client == host.address]

    def completions(self, task: dict[str, Any]) -> int:
        """How many times any worker logged the task's generation as completed."""
        return sum(
            1
            for proc in self.procs
            for record in proc.records()
            if record.get("message") == "generation completed"
            and record.get("session_id") == task["session_id"]
        )


def _messages_in_hand(worker: Proc) -> float:
    """Messages a worker is processing or holds until their retry is due (its Prometheus gauges)."""
    assert worker.ready is not None and worker.ready.metrics_port is not None
    url = f"http://{worker.ready.metrics_host}:{worker.ready.metrics_port}/metrics"
    text = httpx.get(url, timeout=10).text
    gauges = ("dramatiq_messages_inprogress{", "dramatiq_delayed_messages_inprogress{")
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(gauges))


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[ClusterStack]:
    """Empty tables, a data host, the stand-ins on the gateway; worker and bridge hosts are the test's."""
    if os.geteuid() != 0:
        pytest.skip(NETNS_NEEDS_ROOT)
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
