"""What the smoke's containers talk to besides Redis: the Supabase stand-in
(`python -m tests.standins.supabase`) on a database of its own in the machine's PostgreSQL,
reached through its unix socket (the smoke's network namespace has no route to the machine's).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import closing, suppress
from pathlib import Path

import psycopg
from psycopg import sql

SOCKET_DIR = "/var/run/postgresql"
ROOT = Path(__file__).resolve().parents[2]
#: As the tests build theirs (tests/helpers/postgres.py, which cannot be imported here: importing
#: the tests' conftest claims a Redis database on the machine's Redis, out of this namespace's
#: reach): the app's schema, then our migrations.
SCHEMA = [
    ROOT / "tests" / "fixtures" / "app_database.sql",
    *sorted((ROOT / "supabase" / "migrations").glob("*.sql")),
]


def dsn(database: str) -> str:
    return f"postgresql://postgres@/{database}?host={SOCKET_DIR}"


class Database:
    """A database shaped like the app's, with our migrations, dropped afterwards."""

    def __init__(self) -> None:
        self.name = f"wearon_smoke_{os.getpid()}"
        with closing(psycopg.connect(dsn("postgres"), autocommit=True)) as admin:
            admin.execute(sql.SQL("drop database if exists {}").format(sql.Identifier(self.name)))
            admin.execute(sql.SQL("create database {}").format(sql.Identifier(self.name)))
        with closing(psycopg.connect(dsn(self.name), autocommit=True)) as conn:
            for script in SCHEMA:
                conn.execute(script.read_text())

    def drop(self) -> None:
        with closing(psycopg.connect(dsn("postgres"), autocommit=True)) as admin:
            query = sql.SQL("drop database if exists {} with (force)")
            admin.execute(query.format(sql.Identifier(self.name)))


def start_supabase(database: Database, port: int, log: Path, root: Path) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "tests.standins.supabase", "--port", str(port), "--dsn", dsn(database.name)]
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=root, stdout=out, stderr=subprocess.STDOUT)
    wait_for_port("127.0.0.1", port, process, timeout=30)
    return process


def wait_for_port(host: str, port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout} s")


def forward(listen: tuple[str, int], target: tuple[str, int]) -> None:
    """Forward TCP from `listen` to `target` in a daemon thread (the stand-in binds loopback only)."""
    ready = threading.Event()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    async def serve() -> None:
        server = await asyncio.start_server(connection, *listen)
        ready.set()
        await server.serve_forever()

    threading.Thread(target=asyncio.run, args=(serve(),), daemon=True).start()
    if not ready.wait(10):
        raise RuntimeError(f"could not listen on {listen}")
