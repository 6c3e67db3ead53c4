"""A database or storage that refuses us for good is a misconfiguration, not an outage: the adapters
raise Misconfigured (the task fails at once, and it is alerted) instead of InfrastructureError
(held for INFRA_RETRY_FOR_S). On the app's database (tests/fixtures/app_database.sql), through
the stand-in, as service_role; the drifts are tests/helpers/misconfigurations.py's."""

from __future__ import annotations

from uuid import uuid4

import pytest
from pydantic import SecretStr

from tests.contract.test_session_store import claimed, opened, status
from tests.helpers import postgres
from tests.helpers.backends import SupabaseBackend
from tests.helpers.misconfigurations import (
    RENAMED_CLAIM,
    RENAMED_REFUND_CREDITS,
    RETYPED_ERROR_COLUMN,
    misconfigured,
)
from tests.standins.supabase import SERVICE_ROLE_KEY
from wearon import metrics
from wearon.adapters.blobs.supabase import SupabaseBlobStore
from wearon.adapters.store.supabase import SupabaseSessionStore
from wearon.adapters.supabase_client import create_supabase_client
from wearon.domain.session import ClaimOutcome, Lease
from wearon.domain.task import Channel
from wearon.errors import Misconfigured

B2C = Channel.B2C
PATH = "generated/u1/11111111-2222-3333-4444-555555555555.jpg"
WRONG_KEY = SERVICE_ROLE_KEY[:-8] + "tampered"


def counted(call: str, code: str) -> float:
    return float(metrics.MISCONFIGURATIONS.labels(call=call, code=code)._value.get())


def test_a_renamed_contract_function_is_a_misconfiguration(supabase: SupabaseBackend) -> None:
    s = opened(supabase, owner=str(uuid4()))
    before = counted("wearon_claim_session", "PGRST202")
    with misconfigured(RENAMED_CLAIM), pytest.raises(Misconfigured, match="PGRST202"):
        supabase.store.claim(B2C, s, "m1", Lease("m1-attempt"))
    assert counted("wearon_claim_session", "PGRST202") == before + 1
    assert (
        supabase.store.claim(B2C, s, "m1", Lease("m1-attempt")) is ClaimOutcome.CLAIMED
    )  # fixed, it works again


def test_a_renamed_refund_credits_refuses_the_refund_and_writes_nothing(supabase: SupabaseBackend) -> None:
    who = str(uuid4())
    s = claimed(supabase, owner=who, balance=2)
    with misconfigured(RENAMED_REFUND_CREDITS), pytest.raises(Misconfigured, match="42883"):
        supabase.store.fail_and_refund(B2C, s, "failed")
    # The status, our ledger and the credit commit together or not at all: the refund is still owed
    assert status(supabase, B2C, s) == "processing"
    assert postgres.refund_count(B2C, s) == 0
    assert postgres.balance(B2C, who) == 1
    assert supabase.store.fail_and_refund(B2C, s, "failed") is True
    assert postgres.balance(B2C, who) == 2


def test_a_column_of_another_type_is_a_misconfiguration(supabase: SupabaseBackend) -> None:
    s = opened(supabase, owner=str(uuid4()))
    with misconfigured(RETYPED_ERROR_COLUMN), pytest.raises(Misconfigured, match="42804"):
        supabase.store.claim(B2C, s, "m1", Lease("m1-attempt"))
    assert status(supabase, B2C, s) == "queued"


def test_a_refused_key_is_a_misconfiguration_that_does_not_quote_it(supabase: SupabaseBackend) -> None:
    s = opened(supabase, owner=str(uuid4()))
    client = create_supabase_client(supabase.url, SecretStr(WRONG_KEY))
    with pytest.raises(Misconfigured) as store_refusal:
        SupabaseSessionStore(client).fail_and_refund(B2C, s, "x")
    with pytest.raises(Misconfigured) as storage_refusal:
        SupabaseBlobStore(client, "images").upload(PATH, b"data", "image/jpeg")
    for caught in (store_refusal, storage_refusal):
        for key in (SERVICE_ROLE_KEY, WRONG_KEY, WRONG_KEY.split(".")[2]):
            assert key not in str(caught.value) and key not in repr(caught.value)
    assert status(supabase, B2C, s) == "queued"


def test_a_missing_bucket_is_a_misconfiguration_and_counted(supabase: SupabaseBackend) -> None:
    before = counted("storage upload", "Bucket not found")
    client = create_supabase_client(supabase.url, SecretStr(SERVICE_ROLE_KEY))
    with pytest.raises(Misconfigured, match="Bucket not found"):
        SupabaseBlobStore(client, "generations").upload(PATH, b"data", "image/jpeg")
    assert counted("storage upload", "Bucket not found") == before + 1
