from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.readme import documented_seconds
from wearon.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_need_no_cloud_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUPABASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    settings = Settings(_env_file=None)
    assert not settings.uses_supabase and not settings.uses_openai
    assert settings.openai_model == "gpt-image-1.5"
    assert settings.openai_max_retries == 3
    assert settings.openai_rate_limit_per_minute == 300


def test_an_empty_variable_means_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the empty lines of .env.example, as a copy of it or compose's pass-through gives them,
    for name in ("REDIS_URL", "OPENAI_API_KEY", "SUPABASE_SERVICE_ROLE_KEY", "OPENAI_MAX_RETRIES"):
        monkeypatch.setenv(name, "")
    settings = Settings(_env_file=None)
    # then each setting keeps its default: no OpenAI provider with an empty key, the local Redis.
    assert not settings.uses_openai and settings.supabase_service_role_key is None
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.openai_max_retries == 3


def test_results_go_to_the_apps_images_bucket_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUPABASE_BUCKET", raising=False)
    assert Settings(_env_file=None).supabase_bucket == "images"
    monkeypatch.setenv("SUPABASE_BUCKET", "tryon-results")
    assert Settings(_env_file=None).supabase_bucket == "tryon-results"


def test_the_documented_bucket_defaults_match_the_settings() -> None:
    # .env.example states the code's default; the production compose file passes the variable
    # through from .env (no default of its own to drift).
    env_example = (ROOT / ".env.example").read_text()
    compose = (ROOT / "docker-compose.prod.yml").read_text()
    default = Settings.model_fields["supabase_bucket"].default
    assert f"\nSUPABASE_BUCKET={default}\n" in env_example
    assert "\n  SUPABASE_BUCKET:\n" in compose


@pytest.mark.parametrize("name", ["TASK_TIME_LIMIT_S", "INFRA_RETRY_FOR_S", "STUCK_SESSION_AFTER_S"])
def test_the_money_rules_defaults_are_the_readmes(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    # Every test overrides these; here they are left alone, and must be what the README promises
    monkeypatch.delenv(name, raising=False)
    documented = documented_seconds(name)
    assert getattr(Settings(_env_file=None), name.lower()) == documented
    assert f"\n{name}={documented}\n" in (ROOT / ".env.example").read_text()


def test_allowed_hosts_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOWNLOAD_ALLOWED_HOSTS", " CDN.example.com, a.example.org ,")
    assert Settings(_env_file=None).allowed_download_hosts == {"cdn.example.com", "a.example.org"}


def test_allowed_hosts_default_to_the_supabase_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOWNLOAD_ALLOWED_HOSTS", raising=False)
    monkeypatch.setenv("SUPABASE_URL", "https://abc.supabase.co")
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", "service-role")
    assert Settings(_env_file=None).allowed_download_hosts == {"abc.supabase.co"}


def test_secrets_do_not_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret-value-123")
    assert "sk-very-secret-value-123" not in repr(Settings(_env_file=None))


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SUPABASE_URL": "https://abc.supabase.co"}, "SUPABASE_SERVICE_ROLE_KEY is required"),
        ({"OPENAI_MAX_RETRIES": "many"}, "OPENAI_MAX_RETRIES"),
        ({"WORKER_CONCURRENCY": "0"}, "WORKER_CONCURRENCY"),
    ],
)
def test_bad_configuration_fails_with_one_clear_line(env: dict[str, str], expected: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from wearon.settings import load_settings; load_settings()"],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=30,
        cwd="/",
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("wearon: invalid configuration:")
    assert expected in lines[0]
    assert "Traceback" not in proc.stderr


def test_each_host_is_its_own_bridge_unless_bridge_id_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two bridges on two hosts (containers) must not share one in-flight list: by default each
    # is named after its host; BRIDGE_ID (empty means unset, as compose passes it) overrides it.
    monkeypatch.setattr("socket.gethostname", lambda: "bridge-host-7")
    monkeypatch.setenv("BRIDGE_ID", "")
    assert Settings(_env_file=None).bridge_id == "bridge-host-7"
    monkeypatch.setenv("BRIDGE_ID", "eu-1")
    assert Settings(_env_file=None).bridge_id == "eu-1"
