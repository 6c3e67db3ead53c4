"""ops/check_compose.py on docker-compose.prod.yml as compose resolves it, and on the edits it
exists to refuse: a setting that does not reach the containers, a Redis port on every interface."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from ops import check_compose
from ops.smoke import compose

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The production compose file, resolved by compose itself from .env.example with dummies."""
    env_file = tmp_path_factory.mktemp("compose") / ".env"
    env_file.write_text(compose.filled_env_file(ROOT / ".env.example", compose.DUMMIES))
    binary = str(Path(sys.executable).parent / "docker-compose")
    return compose.resolve(ROOT / "docker-compose.prod.yml", env_file, binary, profiles=("tools",))


def test_the_production_file_keeps_every_promise(resolved: dict[str, Any]) -> None:
    assert check_compose.problems(resolved) == []


def test_a_setting_that_reaches_no_container_is_refused(resolved: dict[str, Any]) -> None:
    # Given a new field of Settings that compose neither sets nor passes through,
    settings = check_compose.setting_names() | {"OPENAI_NEW_KNOB"}
    example = check_compose.example_names((ROOT / ".env.example").read_text())
    found = check_compose.settings_problems(resolved["services"], settings, example)
    # then each app service and .env.example are named.
    assert any(p.startswith("worker: settings neither set nor passed through") for p in found), found
    assert ".env.example does not list: ['OPENAI_NEW_KNOB']" in found


def test_a_setting_dropped_from_compose_is_refused(resolved: dict[str, Any]) -> None:
    config = copy.deepcopy(resolved)
    del config["services"]["bridge"]["environment"]["OPENAI_MAX_RETRIES"]
    assert "bridge: settings neither set nor passed through from .env: ['OPENAI_MAX_RETRIES']" in (
        check_compose.problems(config)
    )


@pytest.mark.parametrize("host_ip", ["", "0.0.0.0", "::", "1.1.1.1"])
def test_the_redis_tls_port_never_faces_every_interface_or_the_internet(
    resolved: dict[str, Any], host_ip: str
) -> None:
    config = copy.deepcopy(resolved)
    config["services"]["redis"]["ports"][0]["host_ip"] = host_ip
    found = check_compose.problems(config)
    assert any("redis: TLS port published on" in p for p in found), found


@pytest.mark.parametrize("host_ip", ["127.0.0.1", "10.8.0.1", "fd00::1"])
def test_a_private_address_is_accepted(resolved: dict[str, Any], host_ip: str) -> None:
    config = copy.deepcopy(resolved)
    config["services"]["redis"]["ports"][0]["host_ip"] = host_ip
    assert check_compose.problems(config) == []


def test_redis_may_publish_nothing_but_its_tls_port(resolved: dict[str, Any]) -> None:
    config = copy.deepcopy(resolved)
    config["services"]["redis"]["ports"].append(json.loads('{"target": 6379, "published": "6379"}'))
    assert any("publishes 6379" in p for p in check_compose.problems(config))


@pytest.mark.parametrize(
    "image",
    [
        "redis:7.4-alpine",
        "ghcr.io/optiop/grafana-whatsapp-webhook:latest",
        "grafana/alloy",
        "nginx:latest",
        "ghcr.io/example/wearon-worker:main",
    ],
)
def test_an_image_that_is_not_pinned_is_refused(resolved: dict[str, Any], image: str) -> None:
    config = copy.deepcopy(resolved)
    config["services"]["nginx"]["image"] = image
    assert f"nginx: image {image} is not pinned by digest" in check_compose.problems(config)
