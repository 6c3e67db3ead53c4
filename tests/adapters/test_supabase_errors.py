"""Which of Supabase's refusals are misconfigurations (fail now, alert) and which are outages (hold
and retry): the rule every caller of Supabase shares (`wearon.adapters.supabase_errors`)."""

from __future__ import annotations

import pytest

from wearon import metrics
from wearon.adapters.supabase_errors import counted, postgrest_error, storage_error
from wearon.errors import InfrastructureError, Misconfigured

MISCONFIGURED_POSTGREST = [
    (403, "42501"),  # permission denied (a revoked grant)
    (404, "PGRST202"),  # no such function in the schema cache (renamed, or not migrated)
    (404, "42883"),  # a function calls one that does not exist (the app's refund_credits renamed)
    (400, "42804"),  # column of one type, expression of another
    (500, "P0002"),  # the app's refund_credits raising (no_data_found)
    (400, "P0001"),  # ... or raising its own exception
    (400, "22P02"),  # a value the column's type refuses
    (409, "23503"),  # a foreign key the refund's rows break
    (401, "PGRST301"),  # the key's JWT refused
    (401, None),  # Supabase's gateway: {"message": "Invalid API key"}, no code
    (404, None),  # no such route: a wrong SUPABASE_URL
    (400, "PGRST102"),  # our request does not fit
]
OUTAGE_POSTGREST = [
    (503, "PGRST000"),  # no database connection
    (503, "PGRST002"),  # schema cache not loaded yet
    (504, "PGRST003"),  # no connection free in time
    (502, None),  # a proxy's HTML page
    (500, "40001"),  # serialization failure
    (500, "40P01"),  # deadlock
    (500, "57014"),  # statement timeout
    (500, "55P03"),  # lock not available
    (503, "53300"),  # too many connections
    (409, "23505"),  # unique violation: a concurrent writer
    (500, "PGRSTX00"),  # PostgREST's internal error
]


@pytest.mark.parametrize(("status", "code"), MISCONFIGURED_POSTGREST)
def test_postgrest_refusals_no_retry_changes_are_misconfigurations(status: int, code: str | None) -> None:
    error = postgrest_error("wearon_claim_session", status, code, "refused")
    assert isinstance(error, Misconfigured)
    assert (error.call, error.code) == ("wearon_claim_session", code or str(status))


@pytest.mark.parametrize(("status", "code"), OUTAGE_POSTGREST)
def test_postgrest_outages_stay_infrastructure_errors(status: int, code: str | None) -> None:
    assert type(postgrest_error("wearon_claim_session", status, code, "away")) is InfrastructureError


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        ("404", "Bucket not found", "Bucket not found"),  # storage-api's legacy body (HTTP 400)
        ("404", "NoSuchBucket", "The specified bucket does not exist"),
        ("403", "Unauthorized", "invalid signature"),  # a refused key
        ("400", "InvalidJWT", "jwt malformed"),
        (401, "InternalError", "Unable to parse error message: Invalid API key"),  # the gateway's 401
    ],
)
def test_storage_refusals_no_retry_changes_are_misconfigurations(
    status: str | int, error: str, message: str
) -> None:
    assert isinstance(storage_error("storage upload", status, error, message), Misconfigured)


@pytest.mark.parametrize(
    ("status", "error"),
    [("503", "DatabaseError"), (502, "InternalError"), ("404", "not_found"), ("500", "InternalError")],
)
def test_storage_outages_and_missing_objects_stay_infrastructure_errors(
    status: str | int, error: str
) -> None:
    assert type(storage_error("storage sign", status, error, "x")) is InfrastructureError


def test_a_misconfiguration_is_counted_once_by_call_and_code() -> None:
    series = metrics.MISCONFIGURATIONS.labels(call="wearon_requeue_session", code="42501")
    before = series._value.get()
    error = counted(postgrest_error("wearon_requeue_session", 403, "42501", "permission denied"))
    counted(postgrest_error("wearon_requeue_session", 503, "PGRST000", "away"))  # an outage: not counted
    assert isinstance(error, Misconfigured)
    assert series._value.get() == before + 1
