"""docker-compose.prod.yml as compose itself resolves it (anchors, merges, interpolation from an
env file), and what a container of each service gets: command, environment, user, mounts.

The real compose binary does the resolving (`docker-compose config`, no engine needed), so what
the smoke starts is what `docker compose up` would start.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

_ASSIGNMENT = re.compile(r"^(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")
#: Dummy values for the empty variables of .env.example that production must fill in.
DUMMIES = {
    "IMAGE": "ghcr.io/example/wearon-worker:sha-0123456789abcdef0123456789abcdef01234567",
    "DOMAIN": "wearon.example.com",
    "LETSENCRYPT_EMAIL": "ops@example.com",
    "REDIS_PASSWORD": "0123456789abcdef0123456789abcdef",
    "REDIS_APP_PASSWORD": "fedcba9876543210fedcba9876543210",
    "SUPABASE_URL": "https://project.supabase.co",
    "SUPABASE_SERVICE_ROLE_KEY": "dummy-service-role-key",
    "OPENAI_API_KEY": "sk-dummy",
    "GRAFANA_ADMIN_PASSWORD": "dummy-admin-password",
    "WHATSAPP_WEBHOOK_TOKEN": "dummy-webhook-token",
    "WHATSAPP_ALERT_TO": "group/120363000000000000",
    "REDIS_EXPORTER_PASSWORD": "00112233445566778899aabbccddeeff",
    "DEADMANSSWITCH_URL": "https://hc-ping.example.com/00000000-0000-0000-0000-000000000000",
}


def filled_env_file(example: Path, dummies: dict[str, str]) -> str:
    """.env.example with each empty variable named in `dummies` filled in; nothing added, so a
    variable compose requires and .env.example lacks still stops compose."""
    lines = []
    for line in example.read_text().splitlines():
        match = _ASSIGNMENT.match(line)
        if match and not match["value"] and match["name"] in dummies:
            line = f"{match['name']}={dummies[match['name']]}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def resolve(
    compose_file: Path, env_file: Path, compose_bin: str, profiles: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The resolved project, in an environment with nothing but PATH and HOME (no shell leaks in)."""
    argv = [compose_bin, "-f", str(compose_file), "--env-file", str(env_file)]
    argv += [f"--profile={profile}" for profile in profiles] + ["config", "--format", "json"]
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"docker-compose config failed: {done.stderr.strip()}")
    config: dict[str, Any] = json.loads(done.stdout)
    return config


def unescape(value: str) -> str:
    """`config` prints `$$` (a literal `$`) as written; compose unescapes it when it runs the service."""
    return value.replace("$$", "$")


def command(service: dict[str, Any], key: str) -> list[str]:
    """The service's `entrypoint` or `command` as it runs (empty when compose does not set it)."""
    return [unescape(word) for word in service.get(key) or []]


def services_of_image(services: dict[str, Any], image: str) -> list[str]:
    return sorted(name for name, svc in services.items() if svc.get("image") == image)


def environment(service: dict[str, Any]) -> dict[str, str]:
    """The service's environment; a variable left unresolved (null) is unset in the container."""
    return {k: unescape(str(v)) for k, v in (service.get("environment") or {}).items() if v is not None}


def volume_paths(service: dict[str, Any], project: Path, state: Path) -> dict[str, str]:
    """Container path -> where its contents lie here. Files of the repository are used in place;
    data directories (./data/..., named volumes) get a directory under `state`."""
    found = {}
    for volume in service.get("volumes") or []:
        source = volume.get("source", "")
        if volume.get("type") == "volume":
            host = state / "volumes" / source
        elif Path(source).is_relative_to(project / "data"):
            host = state / Path(source).relative_to(project)
        else:
            found[volume["target"]] = source
            continue
        host.mkdir(parents=True, exist_ok=True)
        found[volume["target"]] = str(host)
    return found


def user_ids(user: str) -> tuple[int, int]:
    """compose's `user:` or the Dockerfile's USER: uid[:gid] or a user name known here."""
    name, _, group = user.partition(":")
    if name.isdigit():
        return int(name), int(group or name)
    entry = pwd.getpwnam(name)
    return entry.pw_uid, int(group) if group.isdigit() else entry.pw_gid


def translate(value: str, paths: dict[str, str], *, separator: str | None = None) -> str:
    """A path inside the container (or each part of a PATH-like value) to where it lies here."""
    if separator is not None:
        return separator.join(translate(part, paths) for part in value.split(separator))
    for inside in sorted(paths, key=len, reverse=True):
        if value == inside or value.startswith(inside.rstrip("/") + "/"):
            return paths[inside] + value[len(inside.rstrip("/")) :]
    return value


if __name__ == "__main__":
    # `python -m ops.smoke.compose .env.example`: the dummy .env (ops/check.sh uses it too).
    print(filled_env_file(Path(sys.argv[1]), DUMMIES), end="")
