"""The data host of a cluster (tests/helpers/netns.py): Redis and the Supabase stand-in on one host.

Redis listens on a second address of the host's own, so that a route can cut another host off
from Redis alone (iproute2 routes by address). The stand-in reaches PostgreSQL, which stays on this
machine's 127.0.0.1, through its unix socket: the one way in that every namespace shares.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

from tests.helpers.netns import Host, Network
from tests.helpers.processes import python_env, wait_until

REDIS_PORT = 6379
SUPABASE_PORT = 8300
PG_SOCKET_DIR = "/var/run/postgresql"


@dataclass(frozen=True)
class DataHost:
    host: Host
    redis_address: str

    @property
    def redis_url(self) -> str:
        return f"redis://{self.redis_address}:{REDIS_PORT}/0"

    @property
    def supabase_url(self) -> str:
        return f"http://{self.host.address}:{SUPABASE_PORT}"


def unix_socket_dsn(database: str) -> str:
    return f"postgresql://postgres@/{database}?host={PG_SOCKET_DIR}"


def start_data_host(net: Network, log_dir: Path, database: str) -> DataHost:
    """Host "data": a fresh redis-server and the Supabase stand-in over `database`, both answering."""
    host = net.host("data", addresses=2)
    data = DataHost(host, host.extra_addresses[0])
    redis_argv = [shutil.which("redis-server") or "redis-server", "--port", str(REDIS_PORT)]
    redis_argv += ["--bind", data.redis_address, "--protected-mode", "no", "--save", ""]
    host.start("redis", redis_argv, python_env(), log_dir)
    supabase = [sys.executable, "-m", "tests.standins.supabase", "--port", str(SUPABASE_PORT)]
    supabase += ["--host", host.address, "--dsn", unix_socket_dsn(database)]
    host.start("supabase", supabase, python_env(), log_dir)
    client = redis.Redis.from_url(data.redis_url, socket_timeout=2)
    wait_until(lambda: _redis_up(client), 30, what="redis on the data host")
    wait_until(lambda: _http_up(f"{data.supabase_url}/rest/v1/rpc/none"), 60, what="supabase stand-in")
    return data


def _redis_up(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def _http_up(url: str) -> bool:
    """Whether anything answers `url` (any status will do)."""
    try:
        httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return False
    return True
