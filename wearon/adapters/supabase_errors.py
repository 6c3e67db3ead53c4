"""What a refusal from Supabase's HTTP front means: an outage (InfrastructureError: held and
retried) or a misconfiguration (Misconfigured: no retry changes it, the deployment must be fixed).

One function per front, taking only what its answer carries, so that whoever calls Supabase
classifies alike: the adapters at run time, and a start-up or operator's check.

    postgrest_error(call, status, code, message)     PostgREST (RPC): the HTTP status and the
                                                     error JSON's code (a SQLSTATE or PGRSTxxx)
    storage_error(call, status, error, message)      Storage: the status and error it answered
                                                     (storage3's StorageApiError.status, .code)

A misconfiguration, from PostgREST:
- HTTP 401 or 403 (the key refused, a permission denied: 42501 is a 403), 404 (no such function
  or route: PGRST202, 42883, or a wrong SUPABASE_URL);
- PGRST1xx (our request does not fit), PGRST2xx (no such function in the schema cache),
  PGRST3xx (the key's JWT refused);
- SQLSTATE classes 0L, 0P (grantor, role), 22 (a value the types refuse), 28 (authorization), 42
  (permission 42501, unknown function 42883, type mismatch 42804, unknown table or column), P0
  (a PL/pgSQL raise: the app's refund_credits refusing, P0001, P0002), and the integrity
  violations no retry clears (23502 not null, 23503 foreign key, 23514 check).
From Storage: 401 or 403, a missing bucket, a refused key or access.
Everything else is an outage: no answer, 5xx, a proxy's HTML page, PGRST0xx (no database
connection), and the SQLSTATEs a retry can clear (40xxx serialization and deadlock, 53xxx
resources, 55P03 lock, 57014 statement timeout, 23505 unique violation from a concurrent writer).
"""

from __future__ import annotations

from wearon import metrics
from wearon.errors import InfrastructureError, Misconfigured, WearOnError

_HTTP_REFUSALS = frozenset({401, 403, 404})
_PGRST_REFUSAL_GROUPS = ("PGRST1", "PGRST2", "PGRST3")
_SQLSTATE_REFUSAL_CLASSES = ("0L", "0P", "22", "28", "42", "P0")
_SQLSTATE_REFUSALS = frozenset({"23502", "23503", "23514"})

_STORAGE_REFUSALS = frozenset(
    {"Bucket not found", "NoSuchBucket", "InvalidJWT", "Unauthorized", "AccessDenied", "TenantNotFound"}
)
_MIGRATION = "supabase/migrations/ (every file, in order)"
#: What an operator changes, by what refused: the first group holding the code (or the status).
_REMEDIES = (
    (
        frozenset({"401", "PGRST301", "PGRST302", "InvalidJWT", "Unauthorized"}),
        "set SUPABASE_SERVICE_ROLE_KEY to this project's service_role key (Settings > API)",
    ),
    (
        frozenset({"42501", "403"}),
        f"use the service_role key, and apply {_MIGRATION}: it grants service_role what the worker calls",
    ),
    (frozenset({"PGRST202", "404"}), f"apply {_MIGRATION} to this project (and check SUPABASE_URL)"),
    (
        frozenset({"42883", "42804", "P0001", "P0002"}),
        f"the app's schema or refund_credits differs from the contract: apply {_MIGRATION} again,"
        " which stops naming what differs",
    ),
    (
        frozenset({"Bucket not found", "NoSuchBucket"}),
        "create the bucket in Supabase Storage, or set SUPABASE_BUCKET to the app's bucket",
    ),
)
#: Metric labels stay short whatever a server answers.
_CODE_LABEL_MAX = 40


def postgrest_refuses(status: int | None, code: str | None) -> bool:
    """Whether a PostgREST answer is a misconfiguration (see the module docstring)."""
    if status in _HTTP_REFUSALS:
        return True
    if not code:
        return False
    if code.startswith("PGRST"):
        return code.startswith(_PGRST_REFUSAL_GROUPS)
    return code.startswith(_SQLSTATE_REFUSAL_CLASSES) or code in _SQLSTATE_REFUSALS


def storage_refuses(status: int | str | None, error: str | None, message: str | None = None) -> bool:
    """Whether a Storage answer is a misconfiguration (see the module docstring)."""
    return str(status) in ("401", "403") or error in _STORAGE_REFUSALS or message == "Bucket not found"


def remedy(*codes: object) -> str:
    """What an operator should change for a refusal with these codes (first known wins), or ""."""
    for code in codes:
        for group, what in _REMEDIES:
            if str(code) in group:
                return what
    return ""


def postgrest_error(call: str, status: int | None, code: str | None, message: str) -> WearOnError:
    """The error a PostgREST refusal of `call` is. PostgREST's message never quotes our request
    (so never the key)."""
    shown = code or str(status)
    if postgrest_refuses(status, code):
        return Misconfigured(call, shown, message, remedy(code, status))
    return InfrastructureError(f"{call} failed: {shown} {message}")


def storage_error(call: str, status: int | str | None, error: str | None, message: str | None) -> WearOnError:
    """The error a Storage refusal of `call` is. Only its status and error are shown: a message
    may quote the server's whole answer."""
    if storage_refuses(status, error, message):
        return Misconfigured(call, error or str(status), remedy=remedy(error, message, status))
    return InfrastructureError(f"{call} failed: {status} {error}")


def counted(error: WearOnError) -> WearOnError:
    """`error`, a misconfiguration counted (`wearon_misconfiguration_errors_total`), to raise."""
    if isinstance(error, Misconfigured):
        metrics.MISCONFIGURATIONS.labels(call=error.call, code=error.code[:_CODE_LABEL_MAX]).inc()
    return error
