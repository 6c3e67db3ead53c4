"""What `make smoke-prod` reads from the Dockerfile and the compose file (ops/smoke/): the last
stage as `docker build` reads it, and compose's values as compose runs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.smoke import compose
from ops.smoke.dockerfile import DockerfileError, last_stage

ROOT = Path(__file__).resolve().parents[2]

DOCKERFILE = r"""
# syntax=docker/dockerfile:1.7
ARG BASE=python:3.11-slim
FROM ${BASE} AS builder
ENV IGNORED=1
FROM ${BASE} AS runtime
ARG VERSION
ENV PATH=/opt/venv/bin:$PATH \
    GREETING="hello world" \
    # a comment inside a continued instruction
    HOME=/tmp
ENV LEGACY form with spaces
ENV DERIVED=${HOME}/cache
WORKDIR /app
WORKDIR sub
USER 10001:10001
CMD ["ignored"]
ENTRYPOINT ["/usr/bin/tini", "--"]
HEALTHCHECK --interval=15s --start-period=1m30s --retries=3 \
    CMD python -c "print(1)"
"""


def test_the_last_stage_is_read_as_docker_builds_it() -> None:
    stage = last_stage(DOCKERFILE)
    assert (stage.base, stage.name) == ("python:3.11-slim", "runtime")
    assert stage.env["PATH"].startswith("/opt/venv/bin:/usr/local/bin:")
    assert stage.env["GREETING"] == "hello world"
    assert stage.env["LEGACY"] == "form with spaces"
    assert stage.env["DERIVED"] == "/tmp/cache"
    assert "IGNORED" not in stage.env
    assert (stage.workdir, stage.user) == ("/app/sub", "10001:10001")
    # ENTRYPOINT after CMD resets it, as Docker does.
    assert (stage.entrypoint, stage.cmd) == (["/usr/bin/tini", "--"], [])
    assert stage.healthcheck == ["/bin/sh", "-c", 'python -c "print(1)"']
    assert stage.healthcheck_options == {"interval": 15.0, "start-period": 90.0, "retries": 3.0}


def test_the_repository_dockerfile_gives_every_role_what_production_gets() -> None:
    stage = last_stage((ROOT / "Dockerfile").read_text())
    assert stage.user == "10001:10001" and stage.env["HOME"] == "/tmp"
    assert stage.entrypoint == ["/usr/bin/tini", "--"]
    assert stage.healthcheck_options["start-period"] == 60.0
    # The crash of issue 18: a multiprocess directory that only the worker's script creates.
    assert "PROMETHEUS_MULTIPROC_DIR" not in stage.env


@pytest.mark.parametrize(
    "text",
    [
        "FROM a\nENV X=${Y:-default}\n",
        "ENV X=1\n",
        "FROM a\nRUN x \\\n",
        "FROM a\nHEALTHCHECK --interval=5s\n",
    ],
)
def test_what_it_cannot_read_faithfully_is_refused(text: str) -> None:
    with pytest.raises(DockerfileError):
        last_stage(text)


def test_compose_values_are_unescaped_as_compose_runs_them() -> None:
    service = {"command": ["sh", "-c", 'echo "$$HOME"'], "environment": {"A": "x$$y", "UNSET": None}}
    assert compose.command(service, "command") == ["sh", "-c", 'echo "$HOME"']
    assert compose.environment(service) == {"A": "x$y"}


def test_image_paths_are_translated_to_where_they_lie_here() -> None:
    paths = {"/opt/venv": "/src/.venv", "/app": "/src"}
    assert compose.translate("/opt/venv/bin:/usr/bin", paths, separator=":") == "/src/.venv/bin:/usr/bin"
    assert compose.translate("/application", paths) == "/application"
    assert compose.translate("/app", paths) == "/src"


def test_the_dummy_env_fills_only_what_is_empty(tmp_path: Path) -> None:
    example = tmp_path / ".env.example"
    example.write_text("# comment\nIMAGE=\nLOG_LEVEL=INFO\nDOMAIN=set.example\n")
    filled = compose.filled_env_file(example, {"IMAGE": "img", "DOMAIN": "x", "OTHER": "y"})
    assert filled == "# comment\nIMAGE=img\nLOG_LEVEL=INFO\nDOMAIN=set.example\n"
