"""What each container runs, read from its compose service and its image: argv, environment,
user, working directory, and what its filesystem keeps, hides and shares.

Paths inside the image are translated to where the same files lie here: the image's virtualenv is
ours, its WORKDIR is the source tree, a volume is a directory of the smoke's own.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from ops.smoke import compose, sandbox
from ops.smoke.dockerfile import Stage

ROOT = Path(__file__).resolve().parents[2]
IMAGE_PATHS = {"/opt/venv": str(ROOT / ".venv"), "/app": str(ROOT)}
#: The redis image's WORKDIR (its Dockerfile), where compose mounts the data volume.
REDIS_WORKDIR = "/data"
#: Where compose mounts the Redis TLS files (made by ops/scripts/redis-tls.sh).
REDIS_TLS_DIR = "/tls"
#: The redis image's PATH (Docker's default).
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def app_spec(name: str, svc: dict[str, Any], image: Stage) -> sandbox.Spec:
    """A service of our image: compose's entrypoint/command/environment/user over the image's."""
    entrypoint = compose.command(svc, "entrypoint") or image.entrypoint
    argv = entrypoint + (compose.command(svc, "command") or image.cmd)
    env = {**image.env, **compose.environment(svc)}
    uid, gid = compose.user_ids(svc.get("user") or image.user)
    shadows, keep = reachable([str(ROOT), python_prefix()])
    return sandbox.Spec(
        name,
        [compose.translate(a, IMAGE_PATHS) for a in argv],
        {k: compose.translate(v, IMAGE_PATHS, separator=":") for k, v in env.items()},
        uid,
        gid,
        compose.translate(svc.get("working_dir") or image.workdir, IMAGE_PATHS),
        read_only=[str(ROOT)],
        # The image has no .env (.dockerignore); a developer's must not reach the settings.
        hidden=[str(ROOT / ".env")] if (ROOT / ".env").exists() else [],
        shadows=shadows,
        keep=keep,
    )


def redis_spec(svc: dict[str, Any], work: Path) -> tuple[sandbox.Spec, Path]:
    """The stack's Redis (its command is ours: ops/redis/start.sh), and the CA the app trusts."""
    paths = compose.volume_paths(svc, ROOT, work)
    uid, gid = compose.user_ids(svc.get("user") or "0")
    volumes = [host for host in paths.values() if Path(host).is_relative_to(work)]
    for host in volumes:
        os.chown(host, uid, gid)
    ca = redis_tls(Path(paths[REDIS_TLS_DIR]), svc["ports"][0]["host_ip"], uid)
    argv = compose.command(svc, "entrypoint") + compose.command(svc, "command")
    env = {"PATH": DEFAULT_PATH, **compose.environment(svc)}
    shadows, keep = reachable([str(ROOT)])  # its configuration is mounted from ops/redis
    spec = sandbox.Spec(
        "redis",
        [compose.translate(a, paths) for a in argv],
        {k: compose.translate(v, paths) for k, v in env.items()},
        uid,
        gid,
        compose.translate(REDIS_WORKDIR, paths),
        read_only=[str(ROOT)],
        shadows=shadows,
        keep=keep,
        volumes=volumes,
    )
    return spec, ca


def redis_tls(directory: Path, address: str, uid: int) -> Path:
    """What first-deploy.sh and deploy.sh do: the certificate for the published address, its key
    handed to the redis user; the CA's certificate."""
    subprocess.run([str(ROOT / "ops/scripts/redis-tls.sh"), str(directory), address], check=True)
    os.chown(directory / "redis.key", uid, -1)
    return directory / "ca.crt"


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
    """The directories above `path`, from the top, / excluded."""
    parents = list(reversed(Path(path).parents))[1:]
    return [str(p) for p in parents]


def python_prefix() -> str:
    """The installation the virtualenv's python comes from."""
    return str(Path(os.path.realpath(ROOT / ".venv" / "bin" / "python")).parents[1])
