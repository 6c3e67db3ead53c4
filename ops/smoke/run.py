"""The smoke run: resolve the compose file and the Dockerfile, start Redis, the Supabase stand-in
and every service of our image in containers of their own, check them, stop them, report."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ops.smoke import checks, compose, infra, sandbox, specs
from ops.smoke.checks import Result, tail
from ops.smoke.dockerfile import last_stage, seconds
from tests.standins.supabase import SERVICE_ROLE_KEY

ROOT = specs.ROOT
SUPABASE_PORT = 54321
#: The dummy .env: compose's dummies, with the Supabase ones pointing at the stand-in.
DUMMIES = {
    **compose.DUMMIES,
    "SUPABASE_URL": "http://supabase",
    "SUPABASE_SERVICE_ROLE_KEY": SERVICE_ROLE_KEY,
}


class Smoke:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.logs = work / "logs"
        self.logs.mkdir()
        self.image = last_stage((ROOT / "Dockerfile").read_text())
        env_file = work / ".env"
        env_file.write_text(compose.filled_env_file(ROOT / ".env.example", DUMMIES))
        compose_bin = str(ROOT / ".venv" / "bin" / "docker-compose")
        self.services: dict[str, Any] = compose.resolve(
            ROOT / "docker-compose.prod.yml", env_file, compose_bin
        )["services"]
        self.apps = compose.services_of_image(self.services, DUMMIES["IMAGE"])
        self.index = {name: i for i, name in enumerate(sorted(self.services))}
        self.hosts = work / "hosts"

    def run(self) -> int:
        sandbox.create_network()
        addresses = {name: f"{sandbox.SUBNET}.{10 + i}" for name, i in self.index.items()}
        sandbox.write_hosts(self.hosts, {**addresses, "supabase": sandbox.HUB_ADDRESS})
        database = infra.Database()
        supabase = infra.start_supabase(database, SUPABASE_PORT, self.logs / "supabase.log", ROOT)
        infra.forward((sandbox.HUB_ADDRESS, 80), ("127.0.0.1", SUPABASE_PORT))
        redis = self.start_redis()
        try:
            return report(self.check_apps())
        finally:
            redis.stop(10)
            supabase.terminate()
            supabase.wait(10)
            database.drop()

    def start_redis(self) -> sandbox.Container:
        """As `depends_on: {redis: {condition: service_healthy}}` asks: started and healthy first."""
        svc = self.services["redis"]
        spec, self.ca = specs.redis_spec(svc, self.work)
        redis = self.start(spec)
        try:
            checks.wait_healthy(redis, [compose.unescape(word) for word in svc["healthcheck"]["test"]], 30)
        except RuntimeError:
            redis.stop(10)
            raise
        self.publish("redis")
        return redis

    def start(self, spec: sandbox.Spec) -> sandbox.Container:
        container = sandbox.Container(spec, self.index[spec.name], self.hosts, self.logs)
        container.connect()
        return container

    def publish(self, name: str) -> None:
        """`ports:`, as Docker's proxy does: HOST_IP:PUBLISHED here forwards to the container."""
        for port in self.services[name].get("ports", []):
            address = f"{sandbox.SUBNET}.{10 + self.index[name]}"
            infra.forward((port["host_ip"], int(port["published"])), (address, port["target"]))

    def check_apps(self) -> list[Result]:
        """All started at once, as `compose up` does; stopped at once, as `compose down` does."""
        containers = [self.start(specs.app_spec(name, self.services[name], self.image)) for name in self.apps]
        timeout = self.image.healthcheck_options.get("timeout", 30)
        with ThreadPoolExecutor(len(containers)) as pool:
            results = list(pool.map(lambda c: checks.health(c, self.image.healthcheck, timeout), containers))
            if all(r.healthy_after_s is not None for r in results):
                results.append(self.round_trip({c.spec.name: c for c in containers}["worker"]))
            grace = [self.grace_s(c.spec.name) for c in containers]
            list(pool.map(checks.stop, containers, results[: len(containers)], grace))
        return results

    def round_trip(self, worker: sandbox.Container) -> Result:
        port = self.services["redis"]["ports"][0]
        where = f"{port['host_ip']}:{port['published']}"
        url = f"rediss://wearon-app:{DUMMIES['REDIS_APP_PASSWORD']}@{where}/0?ssl_ca_certs={self.ca}"
        return checks.round_trip(url, worker, [self.logs / "bridge.log", self.logs / "worker.log"])

    def grace_s(self, name: str) -> float:
        """compose's stop_grace_period (Docker's default: 10 s)."""
        return seconds(self.services[name].get("stop_grace_period") or "10s")


def report(results: list[Result]) -> int:
    for r in results:
        print(f"{'PASS' if r.ok else 'FAIL'}  {r.name:<10} {_timing(r)}  {r.answer or tail(r.problem, 1)}")
    for r in results:
        if r.problem:
            print(f"\n---- {r.name}: {r.problem}", file=sys.stderr)
    return 0 if results and all(r.ok for r in results) else 1


def _timing(r: Result) -> str:
    after = r.healthy_after_s
    healthy = f"not {r.event.split()[0]}" if after is None else f"{r.event} {after:5.1f} s"
    if r.stopped_after_s is not None:
        return f"{healthy}  SIGTERM -> exit {r.exit_code} after {r.stopped_after_s:4.1f} s"
    if r.exit_code is not None and r.event == "healthy after":
        return f"{healthy}  ended by itself: exit {r.exit_code}"
    return healthy
