"""Several network hosts on this machine: each a Linux network namespace with its own address, all
on one Linux bridge (iproute2's `ip netns`, `ip link`), as hosts are on one LAN.

The machine itself is the gateway (`Network.gateway`, the bridge's address): what a test serves
from its own process there (the OpenAI stand-in, the image server) every host reaches. A process
started on a host (`Host.start`) runs in its namespace and under its host name (a UTS namespace of
its own), as a process in a container does.

Every name carries the owning test process's id and a counter (`wearon-<pid>n<k>-<host>`,
`wo<pid>n<k>b`, in hex), so parallel test sessions never collide, and what a crashed session left
behind is deleted by the next one (`sweep_stale`). Where the kernel or the user's rights refuse a
namespace, a bridge or a veth pair, `NetnsRefused` says which command and why.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

from tests.helpers.processes import Proc, Ready, pid_alive

#: Our namespaces and links: the owner's pid and the network's number, in hex.
NETNS_PREFIX = "wearon-"
_OWNED = re.compile(r"^(?:wearon-|wo)([0-9a-f]+)n([0-9a-f]+)")
_networks = count()


class NetnsRefused(RuntimeError):
    """The kernel (or our rights) refused a namespace, a bridge or a veth pair."""


def ip(*args: str, netns: str | None = None) -> str:
    """Run one iproute2 command (in `netns` if given); its output."""
    argv = ["ip", *(("-n", netns) if netns else ()), *args]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30)
    except FileNotFoundError as exc:
        raise NetnsRefused("iproute2's `ip` is not installed") from exc
    except subprocess.CalledProcessError as exc:
        raise NetnsRefused(f"`{' '.join(argv)}` failed: {exc.stderr.strip()}") from exc
    return done.stdout


@dataclass
class Host:
    """One network host: a namespace, its address(es) on the network, the processes started on it."""

    name: str
    netns: str
    address: str
    link: str  # the bridge's end of its veth pair (its own end is eth0, inside)
    procs: list[Proc] = field(default_factory=list)
    extra_addresses: list[str] = field(default_factory=list)

    def argv(self, argv: list[str]) -> list[str]:
        """`argv` run on this host: in its namespace, under its host name."""
        set_name = 'hostname "$0" && exec "$@"'
        return ["ip", "netns", "exec", self.netns, "unshare", "--uts", "sh", "-c", set_name, self.name, *argv]

    def start(
        self, name: str, argv: list[str], env: dict[str, str], log_dir: Path, ready: Ready | None = None
    ) -> Proc:
        proc = Proc(name, self.argv(argv), env, log_dir, ready)
        self.procs.append(proc)
        return proc

    def cut_from(self, address: str) -> None:
        """Drop every packet this host sends to `address`, as a broken route does."""
        ip("route", "add", "blackhole", f"{address}/32", netns=self.netns)

    def reconnect_to(self, address: str) -> None:
        ip("route", "del", "blackhole", f"{address}/32", netns=self.netns)

    def pids(self) -> list[int]:
        """Every process in this host's network namespace, ours or not."""
        return [int(pid) for pid in ip("netns", "pids", self.netns).split()]

    def kill(self) -> None:
        """The host disappears: every process in it is killed at once, its link to the network removed."""
        for pid in self.pids():
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for proc in self.procs:
            proc.stop(timeout=10)
        with suppress(NetnsRefused):
            ip("link", "del", self.link)

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()


class Network:
    """A bridge on this machine with hosts on it; `close()` removes every namespace and link."""

    def __init__(self) -> None:
        token = f"{os.getpid():x}n{next(_networks):x}"
        self._token = token
        self.bridge = f"wo{token}b"
        self.subnet = _free_subnet()
        self.gateway = f"{self.subnet}.1"
        self.hosts: dict[str, Host] = {}
        self._addresses = count(10)
        self._links = count()
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")

    def host(self, name: str, *, addresses: int = 1) -> Host:
        """A new host `name` (a host of that name that was killed is replaced), with `addresses`."""
        netns = f"{NETNS_PREFIX}{self._token}-{name}"
        if name in self.hosts:
            _delete_netns(netns)
        link = f"wo{self._token}v{next(self._links):x}"
        ip("netns", "add", netns)
        ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", netns)
        ip("link", "set", link, "master", self.bridge, "up")
        ip("link", "set", "lo", "up", netns=netns)
        own = [f"{self.subnet}.{next(self._addresses)}" for _ in range(addresses)]
        for address in own:
            ip("addr", "add", f"{address}/24", "dev", "eth0", netns=netns)
        ip("link", "set", "eth0", "up", netns=netns)
        host = Host(name, netns, own[0], link, extra_addresses=own[1:])
        self.hosts[name] = host
        return host

    def close(self) -> None:
        for host in self.hosts.values():
            host.stop()
            _delete_netns(host.netns)
        with suppress(NetnsRefused):
            ip("link", "del", self.bridge)


@contextmanager
def network() -> Iterator[Network]:
    """A fresh network, removed with all its hosts (and their processes) however the block ends."""
    sweep_stale()
    net = Network()
    try:
        yield net
    finally:
        net.close()


def sweep_stale() -> None:
    """Delete the namespaces and bridges left by test processes that are gone (a crashed session)."""
    for netns in ip("netns", "list").split("\n"):
        name = netns.split(" ")[0]
        if name.startswith(NETNS_PREFIX) and not _owner_alive(name):
            _delete_netns(name)
    for line in ip("-o", "link", "show", "type", "bridge").splitlines():
        name = line.split(": ")[1].split("@")[0]
        if _OWNED.match(name) and not _owner_alive(name):
            with suppress(NetnsRefused):
                ip("link", "del", name)


def _owner_alive(name: str) -> bool:
    found = _OWNED.match(name)
    return found is None or pid_alive(int(found.group(1), 16))


def _delete_netns(netns: str) -> None:
    """Kill what still runs in it, then delete it (its veth pair goes with it)."""
    with suppress(NetnsRefused):
        for pid in ip("netns", "pids", netns).split():
            with suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        ip("netns", "del", netns)


def _free_subnet() -> str:
    """A 10.x.y.0/24 no interface or route on this machine uses yet."""
    used = ip("-4", "route", "show", "table", "all") + ip("-4", "addr", "show")
    while True:
        subnet = f"10.{secrets.randbelow(200) + 50}.{secrets.randbelow(256)}"
        if f"{subnet}." not in used:
            return subnet
