"""What a container runtime does between creating a container's namespaces and starting its
command, run as root as PID 1 of fresh PID, mount and network namespaces (see sandbox.py):

    python -m ops.smoke.container PLAN_JSON

It waits until the parent has wired the network (a byte on the pipe `go_fd`), brings loopback up, mounts
a fresh /tmp and the generated /etc/hosts, makes the source tree read-only (and hides a developer's
.env, which the image does not contain), shadows the directories the unprivileged user could not
traverse with empty ones that keep only what must stay reachable, then drops to the image's user,
every capability and the right to gain privileges (`cap_drop: [ALL]`, `no-new-privileges`), and
execs the command with exactly the container's environment.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
from typing import Any

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 32, 4096, 16384
_libc = ctypes.CDLL(None, use_errno=True)


def _c(text: str | None) -> bytes | None:
    return text.encode() if text is not None else None


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    if _libc.mount(_c(source), _c(target), _c(fstype), flags, _c(data)) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {source} on {target}: {os.strerror(errno)}")


def bind(source: str, target: str, *, read_only: bool) -> None:
    mount(source, target, None, MS_BIND | MS_REC)
    if read_only:
        mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY)


def prepare_filesystem(plan: dict[str, Any]) -> None:
    bind(str(plan["hosts"]), "/etc/hosts", read_only=True)
    for path in plan["read_only"]:
        bind(path, path, read_only=True)
    for path in plan["hidden"]:
        bind("/dev/null", path, read_only=True)
    # Open what must stay reachable before the directories above it are covered.
    kept = {path: os.open(path, os.O_PATH | os.O_DIRECTORY) for path in plan["keep"] + plan["volumes"]}
    for shadow in plan["shadows"]:
        mode = "1777" if shadow == "/tmp" else "0755"
        mount("tmpfs", shadow, "tmpfs", MS_NOSUID | MS_NODEV, f"mode={mode}")
    for path, fd in kept.items():
        os.makedirs(path, mode=0o755, exist_ok=True)
        bind(f"/proc/self/fd/{fd}", path, read_only=path not in plan["volumes"])
        os.close(fd)


def main() -> None:
    plan = json.loads(sys.argv[1])
    with os.fdopen(plan["go_fd"], "rb") as go:
        if go.read(1) != b"1":
            sys.exit("container: the parent gave up before the network was ready")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    prepare_filesystem(plan)
    os.chdir(plan["workdir"])
    uid, gid = plan["uid"], plan["gid"]
    drop = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--no-new-privs"]
    drop += ["--bounding-set=-all", "--inh-caps=-all", "--"]
    env = [f"{name}={value}" for name, value in plan["env"].items()]
    os.execvp("setpriv", [*drop, "env", "-i", *env, *plan["argv"]])


if __name__ == "__main__":
    main()
