"""The provider's rate limit is one limit for every worker host, not one per host."""

from __future__ import annotations

from tests.cluster.conftest import ClusterStack, started
from tests.helpers.processes import wait_until
from tests.standins.openai import max_in_window
from wearon.domain.task import Channel

#: Scaled down from 300/min: one call a second across the cluster.
LIMIT = 60
#: Long enough that two hosts each calling at the limit (2 a second) pass LIMIT in it.
OBSERVE_S = 45


def test_the_provider_limit_is_one_limit_across_worker_hosts(cluster: ClusterStack) -> None:
    cluster.standin.latency_s = (0.2, 0.2)
    cluster.extra_env["OPENAI_RATE_LIMIT_PER_MINUTE"] = str(LIMIT)
    started(cluster.bridge_on(cluster.net.host("bridge-a")))
    hosts = [cluster.net.host(name) for name in ("worker-a", "worker-b")]
    for host in hosts:
        started(cluster.worker_on(host, threads=16))
    # Given twice the limit's worth of work, more than either host alone could send at the limit
    for n in range(2 * LIMIT):
        cluster.push(Channel.B2C if n % 2 else Channel.B2B, f"limit {n}")
    # When both hosts work on it for OBSERVE_S
    calls = cluster.standin.calls
    wait_until(lambda: len(calls) > 1 and calls[-1] - calls[0] >= OBSERVE_S, 180, what="calls over 45 s")
    # Then the provider saw no 60 s window over the limit, with calls from both hosts all along
    arrivals = list(calls)
    assert max_in_window(arrivals) <= LIMIT, f"{max_in_window(arrivals)} calls in one 60 s window"
    assert set(cluster.standin.clients) == {host.address for host in hosts}
    assert len(arrivals) >= OBSERVE_S * LIMIT / 60 * 0.8, "the hosts did not keep the provider busy"
