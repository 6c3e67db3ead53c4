"""The smoke run: resolve, start, check health, stop, report."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import redis

from ops.smoke import compose, infra, sandbox
from ops.smoke.dockerfile import last_stage, seconds
from tests.standins.supabase import SERVICE_ROLE_KEY
from wearon import keys

ROOT = Path(__file__).resolve().parents[2]
#: Where the image's files lie here: its virtualenv is ours, its WORKDIR is the source tree.
IMAGE_PATHS = {"/opt/venv": str(ROOT / ".venv"), "/app": str(ROOT)}
#: The redis image's WORKDIR (its Dockerfile), where compose mounts the data volume.
REDIS_WORKDIR = "/data"
#: Where compose mounts the Redis TLS files (made by ops/scripts/redis-tls.sh).
REDIS_TLS_DIR = "/tls"
SUPABASE_PORT = 54321
#: The dummy .env: compose's dummies, with the Supabase ones pointing at the stand-in.
DUMMIES = {
    **compose.DUMMIES,
    "SUPABASE_URL": "http://supabase",
    "SUPABASE_SERVICE_ROLE_KEY": SERVICE_ROLE_KEY,
}
#: What the task asks: healthy within 60 s (the HEALTHCHECK's start period says the same).
HEALTHY_WITHIN_S = 60.0
POLL_S = 0.5
ROUND_TRIP_WITHIN_S = 30.0
#: The worker's count of generate messages it ended (dead-lettered: the session does not exist).
REJECTED = re.compile(r'^dramatiq_message_rejects_total\{[^}]*actor_name="generate"[^}]*\} ([0-9.]+)$', re.M)
#: How a service may end after SIGTERM: 0, or the signal itself once it has shut down (uvicorn
#: raises it again after its graceful shutdown; periodiq keeps the default action), which is what
#: `docker stop` reports as 143. A SIGKILL after the grace period, or an error exit, is not clean.
CLEAN_EXITS = (0, 128 + signal.SIGTERM)
#: What must not appear in a service's output while it stops.
ERROR_MARKS = ("Traceback", '"level": "ERROR"', '"level": "CRITICAL"')
#: Prints what a URL answers (status, then body), from inside a container's network.
FETCH = (
    "import sys, urllib.request as u; r = u.urlopen(sys.argv[1], timeout=4); "
    "print(r.status); print(r.read().decode())"
)


@dataclass
class Result:
    name: str
    healthy_after_s: float | None = None
    answer: str = ""
    problem: str = ""
    exit_code: int | None = None
    stopped_after_s: float | None = None
    #: What healthy_after_s measured (the round trip is not a container).
    event: str = "healthy after"

    @property
    def ok(self) -> bool:
        return not self.problem and self.exit_code in CLEAN_EXITS


class Smoke:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.logs = work / "logs"
        self.logs.mkdir()
        self.image = last_stage((ROOT / "Dockerfile").read_text())
        env_file = work / ".env"
        env_file.write_text(compose.filled_env_file(ROOT / ".env.example", DUMMIES))
        compose_bin = str(ROOT / ".venv" / "bin" / "docker-compose")
        self.config = compose.resolve(ROOT / "docker-compose.prod.yml", env_file, compose_bin)
        self.services: dict[str, Any] = self.config["services"]
        self.apps = compose.services_of_image(self.config, DUMMIES["IMAGE"])
        self.index = {name: i for i, name in enumerate(sorted(self.services))}
        self.hosts = work / "hosts"

    def run(self) -> int:
        sandbox.create_network()
        addresses = {name: f"{sandbox.SUBNET}.{10 + i}" for name, i in self.index.items()}
        sandbox.write_hosts(self.hosts, {**addresses, "supabase": sandbox.HUB_ADDRESS})
        database = infra.Database()
        supabase = infra.start_supabase(database, SUPABASE_PORT, self.logs / "supabase.log", ROOT)
        infra.forward((sandbox.HUB_ADDRESS, 80), ("127.0.0.1", SUPABASE_PORT))
        redis = self.start(self.redis_spec())
        try:
            self.wait_redis(redis)
            self.publish("redis")
            return self.report(self.check_apps())
        finally:
            redis.stop(10)
            supabase.terminate()
            supabase.wait(10)
            database.drop()

    def start(self, spec: sandbox.Spec) -> sandbox.Container:
        container = sandbox.Container(spec, self.index[spec.name], self.hosts, self.logs)
        container.connect()
        return container

    def redis_spec(self) -> sandbox.Spec:
        svc = self.services["redis"]
        paths = compose.volume_paths(svc, ROOT, self.work)
        uid, gid = compose.user_ids(svc.get("user") or "0")
        for host in paths.values():
            if Path(host).is_relative_to(self.work):
                os.chown(host, uid, gid)
        self.redis_tls(Path(paths[REDIS_TLS_DIR]), uid)
        argv = compose.command(svc, "entrypoint") + compose.command(svc, "command")
        argv = [compose.translate(a, paths) for a in argv]
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
        env |= {k: compose.translate(v, paths) for k, v in compose.environment(svc).items()}
        workdir = compose.translate(REDIS_WORKDIR, paths)
        volumes = [host for host in paths.values() if Path(host).is_relative_to(self.work)]
        return sandbox.Spec("redis", argv, env, uid, gid, workdir, read_only=[str(ROOT)], volumes=volumes)

    def redis_tls(self, directory: Path, uid: int) -> None:
        """What first-deploy.sh and deploy.sh do: the certificate, for the published address, with
        its key handed to the redis user."""
        address = self.services["redis"]["ports"][0]["host_ip"]
        subprocess.run([str(ROOT / "ops/scripts/redis-tls.sh"), str(directory), address], check=True)
        os.chown(directory / "redis.key", uid, -1)
        self.ca = directory / "ca.crt"

    def publish(self, name: str) -> None:
        """`ports:`, as Docker's proxy does: HOST_IP:PUBLISHED here forwards to the container."""
        for port in self.services[name].get("ports", []):
            address = f"{sandbox.SUBNET}.{10 + self.index[name]}"
            infra.forward((port["host_ip"], int(port["published"])), (address, port["target"]))

    def app_spec(self, name: str) -> sandbox.Spec:
        svc, image = self.services[name], self.image
        entrypoint = compose.command(svc, "entrypoint") or image.entrypoint
        argv = entrypoint + (compose.command(svc, "command") or image.cmd)
        env = {**image.env, **compose.environment(svc)}
        env = {k: compose.translate(v, IMAGE_PATHS, separator=":") for k, v in env.items()}
        uid, gid = compose.user_ids(svc.get("user") or image.user)
        hidden = [str(ROOT / ".env")] if (ROOT / ".env").exists() else []
        shadows, keep = reachable([str(ROOT), python_prefix()])
        return sandbox.Spec(
            name,
            [compose.translate(a, IMAGE_PATHS) for a in argv],
            env,
            uid,
            gid,
            compose.translate(svc.get("working_dir") or image.workdir, IMAGE_PATHS),
            read_only=[str(ROOT)],
            hidden=hidden,
            shadows=shadows,
            keep=keep,
        )

    def wait_redis(self, redis: sandbox.Container) -> None:
        test = [compose.unescape(word) for word in self.services["redis"]["healthcheck"]["test"]]
        argv = ["/bin/sh", "-c", test[1]] if test[0] == "CMD-SHELL" else test[1:]
        deadline = time.monotonic() + 30
        while (check := redis.exec(argv, timeout=5)).returncode != 0:
            if not redis.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"redis not healthy: {check.stderr}{check.stdout}\n{tail(redis.output())}")
            time.sleep(POLL_S)

    def check_apps(self) -> list[Result]:
        containers = [self.start(self.app_spec(name)) for name in self.apps]
        with ThreadPoolExecutor(len(containers)) as pool:
            results = list(pool.map(self.health, containers))
            if all(r.healthy_after_s is not None for r in results):
                results.append(self.round_trip({c.spec.name: c for c in containers}["worker"]))
            list(pool.map(self.stop, containers, results[: len(containers)]))
        return results

    def round_trip(self, worker: sandbox.Container) -> Result:
        """The Next.js API's way in: a task LPUSHed as `wearon-app` over TLS on the published port,
        taken by the bridge, run by a worker, whose claim goes through the Supabase stand-in to
        PostgreSQL (no such session: it ends as session_not_found)."""
        result = Result("app->redis", event="in a worker after")
        port = self.services["redis"]["ports"][0]
        where = f"{port['host_ip']}:{port['published']}"
        url = f"rediss://wearon-app:{DUMMIES['REDIS_APP_PASSWORD']}@{where}/0?ssl_ca_certs={self.ca}"
        started = time.monotonic()
        redis.Redis.from_url(url).lpush(keys.TASKS, json.dumps(smoke_task()))
        while time.monotonic() - started < ROUND_TRIP_WITHIN_S:
            if any(
                float(n) >= 1 for n in REJECTED.findall(fetch(worker, "http://127.0.0.1:9191/metrics")[1])
            ):
                result.healthy_after_s, result.exit_code = time.monotonic() - started, 0
                result.answer = f"LPUSH as wearon-app over TLS on {where}, bridge, worker: session_not_found"
                return result
            time.sleep(POLL_S)
        logs = "\n".join(tail((self.logs / f"{name}.log").read_text(), 8) for name in ("bridge", "worker"))
        result.problem = f"a task LPUSHed on {where} reached no worker in {ROUND_TRIP_WITHIN_S:g} s\n{logs}"
        return result

    def stop(self, container: sandbox.Container, result: Result) -> None:
        """`docker stop`, then: did it end by itself in time, with no error on the way out?"""
        was_running, logged = container.alive(), len(container.output())
        result.exit_code, result.stopped_after_s = container.stop(self.grace_s(container.spec.name))
        if result.problem or not was_running:
            return
        last_words = container.output()[logged:]
        if result.exit_code not in CLEAN_EXITS:
            result.problem = f"SIGTERM: exit {result.exit_code}\n{tail(container.output())}"
        elif any(mark in last_words for mark in ERROR_MARKS):
            result.problem = f"SIGTERM: errors while stopping\n{tail(last_words)}"

    def grace_s(self, name: str) -> float:
        """compose's stop_grace_period (Docker's default: 10 s)."""
        return seconds(self.services[name].get("stop_grace_period") or "10s")

    def health(self, container: sandbox.Container) -> Result:
        """Run the image's HEALTHCHECK inside the container until it passes, as Docker does."""
        result = Result(container.spec.name)
        options = self.image.healthcheck_options
        while (elapsed := time.monotonic() - container.started) < HEALTHY_WITHIN_S:
            if not container.alive():
                result.problem = f"exited with {container.process.returncode} before it was healthy\n"
                result.problem += tail(container.output())
                return result
            if container.exec(self.image.healthcheck, timeout=options.get("timeout", 30)).returncode == 0:
                result.healthy_after_s = elapsed
                result.answer, result.problem = answer(container)
                return result
            time.sleep(POLL_S)
        result.problem = f"not healthy within {HEALTHY_WITHIN_S:g} s\n{tail(container.output())}"
        return result

    def report(self, results: list[Result]) -> int:
        for r in results:
            after = r.healthy_after_s
            healthy = f"not {r.event.split()[0]}" if after is None else f"{r.event} {after:5.1f} s"
            stopped = f"SIGTERM -> exit {r.exit_code} after {r.stopped_after_s or 0:4.1f} s"
            if after is None and r.exit_code not in (0, None):
                stopped = f"crashed: exit {r.exit_code}"
            if r.stopped_after_s is None:
                stopped = ""
            why = r.answer or tail(r.problem, 1)
            print(f"{'PASS' if r.ok else 'FAIL'}  {r.name:<10} {healthy}  {stopped}  {why}")
        for r in results:
            if r.problem:
                print(f"\n---- {r.name}: {r.problem}", file=sys.stderr)
        return 0 if results and all(r.ok for r in results) else 1


def answer(container: sandbox.Container) -> tuple[str, str]:
    """What HEALTHCHECK_URL answered, in short; a JSON status other than "ok" is a problem (deploy.sh
    waits for "ok" through Nginx)."""
    url = container.spec.env["HEALTHCHECK_URL"]
    status, body = fetch(container, url)
    if body.lstrip().startswith("{"):
        state = json.loads(body).get("status")
        problem = "" if state in (None, "ok") else f"{url} answered status {state}"
        return f"{url} {status} {body.strip()}", problem
    series = [line for line in body.splitlines() if line and not line.startswith("#")]
    return f"{url} {status} ({len(series)} samples)", "" if status == "200" else f"{url} answered {status}"


def fetch(container: sandbox.Container, url: str) -> tuple[str, str]:
    """(status, body) of a GET from inside the container's network."""
    netns = f"--net=/proc/{container.init_pid}/ns/net"
    done = subprocess.run(
        ["nsenter", netns, sys.executable, "-c", FETCH, url], capture_output=True, text=True, timeout=10
    )
    status, _, body = done.stdout.partition("\n")
    return status, body


def smoke_task() -> dict[str, Any]:
    """A task as the Next.js API pushes it, for a session that does not exist."""
    return {
        "task_id": str(uuid4()),
        "channel": "b2c",
        "store_id": None,
        "user_id": "smoke-user",
        "session_id": str(uuid4()),
        "image_urls": [f"{DUMMIES['SUPABASE_URL']}/storage/v1/object/public/generations/person.jpg"],
        "prompt": "smoke",
        "request_id": f"smoke-{uuid4().hex[:8]}",
        "version": 1,
        "created_at": datetime.now(UTC).isoformat(),
    }


def reachable(paths: list[str]) -> tuple[list[str], list[str]]:
    """(directories to cover with an empty one, paths to keep reachable inside them): a fresh /tmp,
    and any directory the unprivileged user could not traverse on the way to `paths`."""
    shadows, keep = ["/tmp"], []
    for path in paths:
        blocking = next((a for a in ancestors(path) if not os.stat(a).st_mode & 0o001), None)
        under_tmp = Path(path).is_relative_to("/tmp")
        if blocking and not under_tmp and blocking not in shadows:
            shadows.append(blocking)
        if blocking or under_tmp:
            keep.append(path)
    return shadows, keep


def ancestors(path: str) -> list[str]:
    parents = list(reversed(Path(path).parents))[1:]
    return [str(p) for p in parents]


def python_prefix() -> str:
    """The installation the virtualenv's python comes from."""
    return str(Path(os.path.realpath(ROOT / ".venv" / "bin" / "python")).parents[1])


def tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])
