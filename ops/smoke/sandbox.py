"""Containers without a container engine: each one a process in PID, mount and network
namespaces of its own (ops/smoke/container.py sets them up), on a bridge named after the compose
network, resolving the other services' names through its own /etc/hosts, as Docker does.

Everything here runs as root inside the smoke's own network namespace (see __main__.py), so the
services keep their real fixed ports without meeting anything else on the machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

#: RFC 2544's benchmarking range: never routed, and only ever inside our network namespace.
SUBNET = "198.18.0"
HUB_ADDRESS = f"{SUBNET}.1"
BRIDGE = "wearon-net"


def run(*argv: str) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def create_network() -> None:
    """Loopback, and the bridge every container is attached to (the hub holds its first address)."""
    run("ip", "link", "set", "lo", "up")
    run("ip", "link", "add", BRIDGE, "type", "bridge")
    run("ip", "addr", "add", f"{HUB_ADDRESS}/24", "dev", BRIDGE)
    run("ip", "link", "set", BRIDGE, "up")


def attach(pid: int, index: int) -> str:
    """A veth pair from the bridge to the network namespace of `pid`, as its eth0; its address."""
    address, host_end = f"{SUBNET}.{10 + index}", f"veth{index}"
    run("ip", "link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", str(pid))
    run("ip", "link", "set", host_end, "master", BRIDGE, "up")
    inside = ["nsenter", f"--net=/proc/{pid}/ns/net", "ip"]
    run(*inside, "addr", "add", f"{address}/24", "dev", "eth0")
    run(*inside, "link", "set", "eth0", "up")
    return address


def write_hosts(path: Path, addresses: dict[str, str]) -> None:
    lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback"]
    lines += [f"{address} {name}" for name, address in sorted(addresses.items())]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o644)


@dataclass
class Spec:
    """One container: what it runs, as whom, where, and what its filesystem hides or keeps."""

    name: str
    argv: list[str]
    env: dict[str, str]
    uid: int
    gid: int
    workdir: str
    read_only: list[str] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)
    shadows: list[str] = field(default_factory=lambda: ["/tmp"])
    keep: list[str] = field(default_factory=list)
    #: Writable directories (the volumes), kept reachable if a shadow covers them.
    volumes: list[str] = field(default_factory=list)


class Container:
    def __init__(self, spec: Spec, index: int, hosts: Path, log_dir: Path) -> None:
        self.spec, self.index = spec, index
        self.log = log_dir / f"{spec.name}.log"
        go_read, self._go = os.pipe()
        plan = {**spec.__dict__, "hosts": str(hosts), "go_fd": go_read}
        argv = ["unshare", "--pid", "--mount", "--net", "--fork", "--mount-proc", "--kill-child"]
        argv += [sys.executable, "-m", "ops.smoke.container", json.dumps(plan)]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, pass_fds=(go_read,), cwd=_package_root()
            )
        os.close(go_read)
        self.init_pid = _child_of(self.process.pid)
        self.started = time.monotonic()

    def connect(self) -> str:
        """Wire the network, then let the container start its command."""
        address = attach(self.init_pid, self.index)
        os.write(self._go, b"1")
        os.close(self._go)
        return address

    def exec(self, argv: list[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
        """`docker exec`: argv inside the container, as its user, with its environment, in its
        working directory (changed to once inside: the path may exist only in its mounts); exit
        124 when it outlives `timeout`."""
        enter = ["nsenter", f"--target={self.init_pid}", "--net", "--mount", "--pid"]
        drop = ["setpriv", f"--reuid={self.spec.uid}", f"--regid={self.spec.gid}", "--clear-groups"]
        env = [f"{k}={v}" for k, v in self.spec.env.items()]
        command = [*enter, *drop, "env", "-i", f"--chdir={self.spec.workdir}", *env, *argv]
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            # Docker counts a probe that outlives its timeout as failed (and kills it, as run() did).
            return subprocess.CompletedProcess(command, 124, "", f"timed out after {timeout:g} s")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace_s: float) -> tuple[int | None, float]:
        """`docker stop`: SIGTERM to PID 1, SIGKILL after the grace period; (exit code, seconds)."""
        started = time.monotonic()
        if self.alive():
            os.kill(self.init_pid, signal.SIGTERM)
            try:
                self.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                os.kill(self.init_pid, signal.SIGKILL)
                self.process.wait(10)
                return None, time.monotonic() - started
        return self.process.returncode, time.monotonic() - started

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _child_of(pid: int, timeout: float = 10.0) -> int:
    """The process `unshare --fork` started: PID 1 of the new PID namespace."""
    deadline = time.monotonic() + timeout
    children = Path(f"/proc/{pid}/task/{pid}/children")
    while time.monotonic() < deadline:
        found = children.read_text().split() if children.exists() else []
        if found:
            return int(found[0])
        time.sleep(0.01)
    raise RuntimeError(f"unshare ({pid}) started no process within {timeout} s")


def _package_root() -> Path:
    return Path(__file__).resolve().parents[2]
