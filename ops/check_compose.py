#!/usr/bin/env python3
"""Invariants of docker-compose.prod.yml, checked on the resolved config that compose prints.

    docker compose -f docker-compose.prod.yml config --format json | python ops/check_compose.py

Compose itself only checks syntax; these are the promises of issue 7 that a careless edit
breaks silently. Prints one line per broken promise and exits 1 if there is any.
"""

from __future__ import annotations

import json
import sys
from typing import Any

APP = ("bridge", "worker", "scheduler", "api-1", "api-2")
EXPECTED = {
    *APP,
    "redis",
    "nginx",
    "certbot",
    "prometheus",
    "grafana",
    "loki",
    "alloy",
    "node-exporter",
    "whatsapp-webhook",
}
TASK_LIMIT_S = 300


def seconds(duration: str | None) -> float:
    """Compose prints durations like '5m30s' or '30s'."""
    total, number = 0.0, ""
    for char in duration or "0s":
        if char.isdigit() or char == ".":
            number += char
        else:
            total += float(number) * {"h": 3600, "m": 60, "s": 1}[char]
            number = ""
    return total


def problems(config: dict[str, Any]) -> list[str]:
    services: dict[str, Any] = config["services"]
    found = []
    if missing := EXPECTED - services.keys():
        found.append(f"services missing: {sorted(missing)}")
    for name, svc in services.items():
        found += [f"{name}: {p}" for p in service_problems(name, svc)]
    worker = services.get("worker", {})
    if seconds(worker.get("stop_grace_period")) <= TASK_LIMIT_S:
        found.append(f"worker: stop_grace_period must exceed the {TASK_LIMIT_S} s task limit")
    if services.get("scheduler", {}).get("deploy", {}).get("replicas", 1) != 1:
        found.append("scheduler: exactly one replica")
    if "/var/run/docker.sock:ro" not in _mounts(services.get("alloy", {})):
        found.append("alloy: the Docker socket must be mounted read-only")
    for name in APP:
        depends = services.get(name, {}).get("depends_on", {})
        if depends.get("redis", {}).get("condition") != "service_healthy":
            found.append(f"{name}: must wait for a healthy redis")
    redis = services.get("redis", {})
    if "--appendonly yes" not in " ".join(redis.get("command") or []) or "healthcheck" not in redis:
        found.append("redis: AOF persistence and a healthcheck are required")
    return found


def service_problems(name: str, svc: dict[str, Any]) -> list[str]:
    found = []
    ports = {str(p.get("published")) for p in svc.get("ports", [])}
    if name == "nginx":
        if ports != {"80", "443"}:
            found.append(f"publishes {sorted(ports)}, expected exactly 80 and 443")
    elif ports:
        found.append(f"publishes {sorted(ports)}: only nginx may have host ports")
    limits = svc.get("deploy", {}).get("resources", {}).get("limits", {})
    if not (limits.get("cpus") and limits.get("memory")):
        found.append("needs cpu and memory limits")
    expected_restart = "no" if svc.get("profiles") else "unless-stopped"
    if svc.get("restart") != expected_restart:
        found.append(f"restart must be {expected_restart}")
    if set(svc.get("networks", {})) != {"wearon-net"}:
        found.append("must be on wearon-net only")
    if svc.get("privileged") or svc.get("network_mode") == "host":
        found.append("no privileged mode or host network")
    return found


def _mounts(svc: dict[str, Any]) -> str:
    return " ".join(
        f"{v.get('source')}:{'ro' if v.get('read_only') else 'rw'}" for v in svc.get("volumes", [])
    )


def main() -> int:
    found = problems(json.load(sys.stdin))
    for problem in found:
        print(f"compose: {problem}")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
