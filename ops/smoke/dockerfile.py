"""Reads what a container of the Dockerfile's last stage starts with: its ENV, USER, WORKDIR,
ENTRYPOINT, CMD and HEALTHCHECK, the way `docker build` reads them.

Covers the instructions and forms Dockerfiles use (line continuations, comments, JSON and shell
forms, `ENV a=b c="d e"` and the older `ENV a b`, `$VAR`/`${VAR}` in ENV from earlier ENV and ARG).
Not covered, and refused rather than misread: heredocs, `${VAR:-default}` modifiers, and a
`FROM` of an earlier stage (the last stage must start from a base image).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field

#: What the official Python images put in their ENV before ours (docker-library/python), among
#: what a process reads: PATH (Docker's default with /usr/local/bin in front) and LANG.
BASE_ENV = {
    "PATH": "/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
}
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_VARIABLE = re.compile(rf"\$(?:\{{(?P<braced>{_NAME})(?P<modifier>[^}}]*)\}}|(?P<bare>{_NAME}))")


class DockerfileError(ValueError):
    """A Dockerfile this reader cannot read faithfully."""


@dataclass
class Stage:
    base: str
    name: str | None
    env: dict[str, str] = field(default_factory=lambda: dict(BASE_ENV))
    args: dict[str, str] = field(default_factory=dict)
    user: str = "0"
    workdir: str = "/"
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)
    #: HEALTHCHECK options, in seconds: interval, timeout, start-period, retries.
    healthcheck_options: dict[str, float] = field(default_factory=dict)


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuations joined and comments dropped."""
    found: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        words = (pending + line).strip().split(None, 1)
        pending = ""
        if words:
            found.append((words[0].upper(), words[1] if len(words) > 1 else ""))
    if pending:
        raise DockerfileError("the Dockerfile ends inside a line continuation")
    return found


def last_stage(text: str) -> Stage:
    """The stage a container runs: the last FROM and everything after it."""
    global_args: dict[str, str] = {}
    stage: Stage | None = None
    for instruction, arguments in instructions(text):
        if instruction == "FROM":
            stage = _from(arguments, global_args)
        elif stage is None:
            if instruction == "ARG":
                global_args.update(_assignments(arguments, global_args, allow_bare=True))
        else:
            _apply(stage, instruction, arguments, global_args)
    if stage is None:
        raise DockerfileError("no FROM instruction")
    return stage


def _from(arguments: str, global_args: dict[str, str]) -> Stage:
    words = [w for w in arguments.split() if not w.startswith("--")]
    base = expand(words[0], global_args)
    name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
    return Stage(base=base, name=name)


def _apply(stage: Stage, instruction: str, arguments: str, global_args: dict[str, str]) -> None:
    scope = {**stage.args, **stage.env}
    if instruction == "ENV":
        stage.env.update(_assignments(arguments, scope, allow_bare=False))
    elif instruction == "ARG":
        for name, value in _assignments(arguments, scope, allow_bare=True).items():
            stage.args[name] = value or global_args.get(name, "")
    elif instruction == "USER":
        stage.user = expand(arguments.strip(), scope)
    elif instruction == "WORKDIR":
        path = expand(arguments.strip(), scope)
        stage.workdir = path if path.startswith("/") else f"{stage.workdir.rstrip('/')}/{path}"
    elif instruction == "ENTRYPOINT":
        stage.entrypoint = command_of(arguments)
        stage.cmd = []  # Docker resets CMD when ENTRYPOINT is set
    elif instruction == "CMD":
        stage.cmd = command_of(arguments)
    elif instruction == "HEALTHCHECK":
        stage.healthcheck, stage.healthcheck_options = _healthcheck(arguments)


def command_of(arguments: str) -> list[str]:
    """JSON (exec) form as is; shell form through /bin/sh -c, as Docker runs it."""
    text = arguments.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise DockerfileError(f"not a JSON command: {text}") from exc
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return ["/bin/sh", "-c", text]


def _healthcheck(arguments: str) -> tuple[list[str], dict[str, float]]:
    if arguments.strip().upper() == "NONE":
        return [], {}
    head, _, command = f" {arguments}".partition(" CMD ")
    if not command:
        raise DockerfileError(f"HEALTHCHECK without CMD: {arguments}")
    options = {}
    for option in head.split():
        name, _, value = option.removeprefix("--").partition("=")
        options[name] = float(value) if name == "retries" else seconds(value)
    return command_of(command), options


def seconds(duration: str) -> float:
    """Docker's durations: 15s, 1m30s, 500ms."""
    parts = re.findall(r"([0-9.]+)(ms|s|m|h)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise DockerfileError(f"not a duration: {duration}")
    unit = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * unit[u] for n, u in parts)


def _assignments(arguments: str, scope: dict[str, str], *, allow_bare: bool) -> dict[str, str]:
    words = shlex.split(arguments, posix=True)
    if words and "=" not in words[0] and not allow_bare:
        # The legacy form: ENV NAME the rest of the line.
        return {words[0]: expand(arguments.split(None, 1)[1].strip(), scope)}
    found: dict[str, str] = {}
    for word in words:
        name, sep, value = word.partition("=")
        if not sep and not allow_bare:
            raise DockerfileError(f"ENV word without '=': {word}")
        found[name] = expand(value, {**scope, **found})
    return found


def expand(text: str, scope: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        if match["modifier"]:
            raise DockerfileError(f"variable modifiers are not supported: {match[0]}")
        return scope.get(match["braced"] or match["bare"], "")

    return _VARIABLE.sub(value, text)
