#!/usr/bin/env python3
"""Invariants of docker-compose.prod.yml, checked on the resolved config that compose prints.

    docker compose -f docker-compose.prod.yml config --format json | python ops/check_compose.py

Compose itself only checks syntax; these are the promises of issues 7 and 18 that a careless
edit breaks silently. Prints one line per broken promise and exits 1 if there is any.
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys
from pathlib import Path
from typing import Any

from wearon.settings import Settings

ROOT = Path(__file__).resolve().parents[1]

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
    "redis-exporter",
    "blackbox-exporter",
    "whatsapp-webhook",
}
TASK_LIMIT_S = 300
#: The only port besides Nginx's that leaves the host: Redis's TLS port, for the Next.js API.
REDIS_TLS_PORT = 6380
REDIS_CONF_DIR = "/usr/local/etc/redis"
#: Third-party images left by tag, each with the reason in docker-compose.prod.yml: no digest
#: could be looked up when they were pinned. Every other one is pinned by digest.
BY_TAG = {"certbot/certbot", "grafana/alloy", "ghcr.io/optiop/grafana-whatsapp-webhook"}
#: Ours: a tag per commit (sha-<commit>), never reused.
OUR_IMAGE = re.compile(r"^ghcr\.io/[^/]+/wearon-worker:sha-[0-9a-f]{7,40}$")


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
    found += [f"{name}: {p}" for name, svc in services.items() if (p := image_problem(svc.get("image", "")))]
    found += redis_problems(services.get("redis", {}))
    found += settings_problems(services, setting_names(), example_names((ROOT / ".env.example").read_text()))
    return found


def image_problem(image: str) -> str:
    """Pinned by digest, or one of BY_TAG with a version tag; never :latest or no tag at all."""
    if OUR_IMAGE.match(image) or "@sha256:" in image:
        return ""
    name, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
    if name in BY_TAG and tag and tag != "latest":
        return ""
    return f"image {image} is not pinned by digest"


def redis_problems(redis: dict[str, Any]) -> list[str]:
    found = []
    conf = next((v["source"] for v in redis.get("volumes", []) if v.get("target") == REDIS_CONF_DIR), None)
    aof = conf is not None and re.search(r"(?m)^appendonly yes$", (Path(conf) / "redis.conf").read_text())
    if not aof or "healthcheck" not in redis:
        found.append("redis: AOF persistence (in its redis.conf) and a healthcheck are required")
    for port in redis.get("ports", []):
        if port.get("target") != REDIS_TLS_PORT:
            found.append(
                f"redis: publishes {port.get('target')}: only its TLS port {REDIS_TLS_PORT} may leave"
            )
        elif not _private_address(host := port.get("host_ip", "")):
            found.append(f"redis: TLS port published on {host or 'every interface'}: not a private address")
    return found


def _private_address(host_ip: str) -> bool:
    """A loopback or private address (never all interfaces, never a public one)."""
    try:
        address = ipaddress.ip_address(host_ip)
    except ValueError:
        return False
    return not address.is_unspecified and (address.is_loopback or address.is_private)


def settings_problems(services: dict[str, Any], settings: set[str], example: set[str]) -> list[str]:
    """Each setting is set by compose or passed through from .env, in every app container, and
    .env.example lists it."""
    found = []
    for name in APP:
        missing = settings - set(services.get(name, {}).get("environment") or {})
        if missing:
            found.append(f"{name}: settings neither set nor passed through from .env: {sorted(missing)}")
    if unlisted := settings - example:
        found.append(f".env.example does not list: {sorted(unlisted)}")
    return found


def setting_names() -> set[str]:
    """The environment variable of each field of wearon.settings.Settings (no prefix, no alias)."""
    return {name.upper() for name in Settings.model_fields}


def example_names(text: str) -> set[str]:
    return set(re.findall(r"(?m)^([A-Z][A-Z0-9_]*)=", text))


def service_problems(name: str, svc: dict[str, Any]) -> list[str]:
    found = []
    ports = {str(p.get("published")) for p in svc.get("ports", [])}
    if name == "nginx":
        if ports != {"80", "443"}:
            found.append(f"publishes {sorted(ports)}, expected exactly 80 and 443")
    elif ports and name != "redis":  # redis_problems() checks its TLS port
        found.append(f"publishes {sorted(ports)}: only nginx (and Redis's TLS port) may have host ports")
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
