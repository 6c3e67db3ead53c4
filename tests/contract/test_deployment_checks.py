"""The deployment checks every session-writing process makes at start (and `wearon-admin check`
prints), against the app's database through the Supabase stand-in: a healthy deployment passes,
each way the database drifts from the contract names itself, a wrong key or bucket says what to
set, and an outage is not mistaken for a misconfiguration.

The processes themselves (bridge, worker, scheduler) are started for real with a wrong key: each
exits by itself (EX_CONFIG) with one line that says what is wrong, long before an outage would be
given up (INFRA_RETRY_FOR_S, 600 s). How fast (under 5 s on a quiet machine, start-up included) is
measured outside the suite, not asserted on a loaded CI box.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr

from tests.conftest import TEST_PG_DSN
from tests.helpers.backends import SupabaseBackend
from tests.helpers.misconfigurations import (
    RENAMED_CLAIM,
    RENAMED_REFUND_CREDITS,
    RETYPED_ERROR_COLUMN,
    REVOKED_CLAIM,
    WITHOUT_THE_LEASE,
    Drift,
    misconfigured,
)
from tests.helpers.processes import python_env
from tests.standins.openai import API_KEY as OPENAI_KEY
from tests.standins.openai import OpenAIStandIn
from tests.standins.supabase import ANON_KEY, SERVICE_ROLE_KEY
from wearon import bootstrap
from wearon.services import checks
from wearon.settings import Settings

#: Far below any outage's hold (600 s), far above a start-up on a busy box.
EXIT_WITHIN_S = 30.0
WRONG_KEY = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.d3Jvbmc"


def settings_for(supabase: SupabaseBackend, **overrides: Any) -> Settings:
    return Settings(**{**supabase.settings(), **overrides})


def verdicts(settings: Settings) -> dict[str, checks.Verdict]:
    return {verdict.name: verdict for verdict in bootstrap.check_deployment(settings)}


def test_a_healthy_deployment_passes_every_check(supabase: SupabaseBackend) -> None:
    found = verdicts(settings_for(supabase))
    assert [v.ok for v in found.values()] == [True, True], [v.line for v in found.values()]
    assert checks.misconfigured(list(found.values())) is None


@pytest.mark.parametrize(
    ("drift", "said"),
    [
        (
            REVOKED_CLAIM,
            "EXECUTE on public.wearon_claim_session(text,uuid,text,text,integer) for service_role",
        ),
        (RENAMED_REFUND_CREDITS, "function public.refund_credits(p_user_id uuid"),
        (RETYPED_ERROR_COLUMN, "column public.generation_sessions.error_message as text (it is integer)"),
        (RENAMED_CLAIM, "(42883)"),
        (WITHOUT_THE_LEASE, "wearon_lease_gaps refused (PGRST202)"),
    ],
    ids=lambda case: case.name if isinstance(case, Drift) else "",
)
def test_each_drift_from_the_contract_is_named(supabase: SupabaseBackend, drift: Drift, said: str) -> None:
    with misconfigured(drift):
        found = verdicts(settings_for(supabase))
    database = found["database"]
    assert not database.ok and database.reached
    assert said in database.detail
    assert "supabase/migrations/" in database.detail  # what to do about it
    assert found["storage"].ok


def test_a_wrong_key_says_which_setting_to_fix(supabase: SupabaseBackend) -> None:
    found = verdicts(settings_for(supabase, supabase_service_role_key=SecretStr(WRONG_KEY)))
    assert {name: v.ok for name, v in found.items()} == {"database": False, "storage": False}
    for verdict in found.values():
        assert "set SUPABASE_SERVICE_ROLE_KEY to this project's service_role key" in verdict.detail
        assert WRONG_KEY not in verdict.detail


def test_the_anon_key_is_refused_as_a_missing_grant(supabase: SupabaseBackend) -> None:
    database = verdicts(settings_for(supabase, supabase_service_role_key=SecretStr(ANON_KEY)))["database"]
    assert not database.ok
    assert "(42501)" in database.detail and "use the service_role key" in database.detail


def test_a_missing_bucket_says_which_setting_to_fix(supabase: SupabaseBackend) -> None:
    found = verdicts(settings_for(supabase, supabase_bucket="generations"))
    assert found["database"].ok
    assert not found["storage"].ok
    assert "Bucket not found" in found["storage"].detail
    assert "SUPABASE_BUCKET" in found["storage"].detail


def test_an_unreachable_database_is_an_outage_not_a_misconfiguration(unused_port: int) -> None:
    settings = Settings(
        supabase_url=f"http://127.0.0.1:{unused_port}", supabase_service_role_key=SecretStr(WRONG_KEY)
    )
    found = list(verdicts(settings).values())
    assert [(v.ok, v.reached) for v in found] == [(False, False), (False, False)]
    assert checks.misconfigured(found) is None


def test_the_contract_names_what_another_role_lacks(supabase: SupabaseBackend) -> None:
    """Roles are the whole cluster's (other test sessions share them): the role checks are shown
    on `authenticated`, which Supabase gives no bypass of row level security, never by altering
    service_role."""
    with psycopg.connect(TEST_PG_DSN, autocommit=True) as conn:
        row = conn.execute("select public.wearon_app_gaps('authenticated')").fetchone()
    assert row is not None
    gaps = row[0]
    assert "EXECUTE on public.refund_credits for authenticated" in gaps
    assert any(gap.startswith("BYPASSRLS for authenticated") for gap in gaps)


@pytest.fixture
def unused_port() -> Iterator[int]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


ENTRY_POINTS = {
    "bridge": [sys.executable, "-m", "wearon.bridge"],
    "worker": [sys.executable, "-m", "wearon.worker", "--processes", "1", "--threads", "1"],
    "scheduler": [sys.executable, "-m", "wearon.scheduler"],
}


@pytest.mark.parametrize("process", sorted(ENTRY_POINTS))
def test_a_process_started_with_a_wrong_key_exits_at_once_with_one_line(
    supabase: SupabaseBackend, process: str, tmp_path: Path
) -> None:
    env = python_env(SUPABASE_URL=supabase.url, SUPABASE_SERVICE_ROLE_KEY=WRONG_KEY)
    started = time.monotonic()
    done = subprocess.run(
        ENTRY_POINTS[process], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    took = time.monotonic() - started
    said = done.stdout + done.stderr  # the JSON log is on stdout; stderr is captured into it
    assert done.returncode == os.EX_CONFIG, said[-3000:]
    errors = [line for line in said.splitlines() if '"level": "ERROR"' in line]
    assert len(errors) == 1, said[-3000:]
    assert f"{process} cannot start: database:" in errors[0]
    assert "set SUPABASE_SERVICE_ROLE_KEY" in errors[0]
    assert WRONG_KEY not in said
    assert took < EXIT_WITHIN_S, f"{process} took {took:.1f} s to give up"


# --- wearon-admin check: the same verdicts, plus Redis, the broker and the provider key -----------


@pytest.fixture(scope="module")
def openai() -> Iterator[OpenAIStandIn]:
    with OpenAIStandIn().served() as standin:
        yield standin


def wearon_admin_check(supabase: SupabaseBackend, openai: OpenAIStandIn, *args: str, **env: str) -> Any:
    settings = {
        "SUPABASE_URL": supabase.url,
        "SUPABASE_SERVICE_ROLE_KEY": SERVICE_ROLE_KEY,
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_BASE_URL": openai.base_url,
    }
    argv = [sys.executable, "-m", "wearon.admin", "check", *args]
    return subprocess.run(
        argv, env=python_env(**{**settings, **env}), capture_output=True, text=True, timeout=60, check=False
    )


def test_wearon_admin_check_says_ok_for_each_part(supabase: SupabaseBackend, openai: OpenAIStandIn) -> None:
    done = wearon_admin_check(supabase, openai)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [line.split(":")[0] for line in done.stdout.splitlines()] == [
        "ok   database",
        "ok   storage",
        "ok   redis",
        "ok   provider",
    ]


def test_wearon_admin_check_names_each_wrong_part_and_never_the_key(
    supabase: SupabaseBackend, openai: OpenAIStandIn
) -> None:
    wrong = {"OPENAI_API_KEY": "sk-wrong-0123456789abcdef", "SUPABASE_BUCKET": "generations"}
    done = wearon_admin_check(supabase, openai, "--json", REDIS_URL="redis://127.0.0.1:1/0", **wrong)
    assert done.returncode == 1
    found = {v["name"]: v for v in json.loads(done.stdout)}
    assert found["database"]["ok"]
    assert not found["storage"]["ok"] and "SUPABASE_BUCKET" in found["storage"]["detail"]
    assert not found["redis"]["ok"] and not found["redis"]["reached"]
    assert not found["provider"]["ok"] and "401 invalid_api_key" in found["provider"]["detail"]
    assert "OPENAI_API_KEY" in found["provider"]["detail"]
    assert "0123456789abcdef" not in done.stdout + done.stderr


def test_wearon_admin_check_asks_rabbitmq_when_it_is_the_broker(
    supabase: SupabaseBackend, openai: OpenAIStandIn
) -> None:
    good = wearon_admin_check(supabase, openai, "--json", BROKER_URL="amqp://guest:guest@127.0.0.1:5672/")
    assert {v["name"]: v["ok"] for v in json.loads(good.stdout)}["broker"], good.stdout + good.stderr
    wrong = wearon_admin_check(supabase, openai, "--json", BROKER_URL="amqp://guest:wrong@127.0.0.1:5672/")
    broker = {v["name"]: v for v in json.loads(wrong.stdout)}["broker"]
    assert wrong.returncode == 1
    assert not broker["ok"] and broker["reached"] and "BROKER_URL" in broker["detail"]
    assert "wrong" not in wrong.stdout
