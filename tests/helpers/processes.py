"""Real processes for fault tests: our entry points, a throwaway redis-server, a cuttable TCP proxy."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.helpers.asgi import free_port

ROOT = Path(__file__).resolve().parents[2]
PR_SET_PDEATHSIG = 1
#: The JSON line `python -m wearon.bridge` writes once its metrics server and its loop run.
BRIDGE_READY = "bridge started"
#: The line each Dramatiq worker process writes once its consumers and worker threads run.
WORKER_READY = "Worker process is ready for action."


@dataclass(frozen=True)
class Ready:
    """How a process says it is ready for work: `count` JSON lines whose message is `line`, and
    (if given) its metrics port answering."""

    line: str
    count: int = 1
    metrics_port: int | None = None
    #: Where its metrics port is reached (a process on another network host has its own address).
    metrics_host: str = "127.0.0.1"


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (another user's counts too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Proc:
    """A child process in its own process group, its output in a log file (its stderr in one of
    its own, `<name>.err`, with `split_stderr`)."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        log_dir: Path,
        ready: Ready | None = None,
        *,
        split_stderr: bool = False,
    ) -> None:
        self.name = name
        self.ready = ready
        self.log = log_dir / f"{name}.log"
        self.err_log = log_dir / f"{name}.err" if split_stderr else self.log
        self._out = self.log.open("ab")
        self._err = self.err_log.open("ab") if split_stderr else None
        self.popen = subprocess.Popen(
            argv,
            env=env,
            cwd=ROOT,
            stdout=self._out,
            stderr=self._err or subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def children(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.pid)], capture_output=True, text=True, check=False)
        return [int(p) for p in out.stdout.split()]

    def signal_group(self, sig: int) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.pid, sig)

    def stop(self, timeout: float = 30.0) -> int:
        if self.popen.poll() is None:
            self.signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self.popen.wait(5)
        self._out.close()
        if self._err is not None:
            self._err.close()
        return int(self.popen.returncode)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def records(self) -> list[dict[str, Any]]:
        """Every JSON line written so far."""
        found = []
        for text in self.output().splitlines():
            with suppress(ValueError):
                record = json.loads(text)
                if isinstance(record, dict):
                    found.append(record)
        return found

    def messages(self) -> list[str]:
        """The `message` of every JSON line written so far."""
        return [str(record.get("message")) for record in self.records()]

    def is_ready(self) -> bool:
        if self.ready is None:
            raise ValueError(f"{self.name}: no readiness signal was declared")
        if self.popen.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.popen.returncode}:\n{self.output()[-3000:]}")
        ready = self.ready
        port = ready.metrics_port
        return self.messages().count(ready.line) >= ready.count and (
            port is None or answers(port, host=ready.metrics_host)
        )


def wait_ready(proc: Proc, timeout: float = 30.0) -> Proc:
    """Wait until `proc` says it is ready for work (its `Ready`)."""
    wait_until(proc.is_ready, timeout, interval=0.1, what=f"{proc.name} ready")
    return proc


def answers(port: int, path: str = "/metrics", host: str = "127.0.0.1") -> bool:
    """Whether an HTTP server on this port (of loopback, or of `host`) answers `path` with 200."""
    try:
        return httpx.get(f"http://{host}:{port}{path}", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def die_with_parent() -> None:
    """Linux: SIGTERM this child when the test process dies, however it dies, so no orphan worker
    or bridge keeps consuming a test database that the next session will use."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def python_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SUPABASE_"))}
    env.update({"PYTHONUNBUFFERED": "1", "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}"})
    env.update(overrides)
    return env


def wait_until(predicate: object, timeout: float, interval: float = 0.1, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(interval)


@contextmanager
def throwaway_redis(appendonly: bool = True) -> Iterator[tuple[str, int, Path]]:
    """A private redis-server on a free port (never the machine's shared one): url, port, dir."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (scripts/ensure-services.sh installs it)")
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="wearon-redis-"))
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir), "--save", ""]
    args += ["--appendonly", "yes" if appendonly else "no", "--appendfsync", "always"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _port_open(port), 10, what="throwaway redis")
        yield f"redis://127.0.0.1:{port}/0", port, workdir
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def restart_redis(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server") or "redis-server"
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir), "--save", ""]
    args += ["--appendonly", "yes", "--appendfsync", "always"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: _port_open(port), 10, what="restarted redis")
    return proc


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class TcpProxy:
    """Forwards <host>:<port> (loopback by default) to a target port on loopback; `cut()` drops
    every connection and refuses new ones."""

    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self._server = socket.create_server((host, 0))
        self.port = int(self._server.getsockname()[1])
        self._target = target_port
        self._open = threading.Event()
        self._open.set()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        self._open.clear()
        with self._lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()

    def restore(self) -> None:
        self._open.set()

    def _accept(self) -> None:
        while True:
            client, _ = self._server.accept()
            if not self._open.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self._target))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with suppress(OSError):
                s.close()
