"""Ways the app's database drifts from our contract, each with the SQL that breaks it and the SQL
that fixes it again, run as the superuser (the app's migrations would do it).

    with misconfigured(RENAMED_REFUND_CREDITS) as broken:
        ...  # refund_credits is gone; whatever the block does meets it
        broken.fix()  # (or leave it to the end of the block, even a failed one)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.helpers import postgres


@dataclass(frozen=True)
class Drift:
    name: str
    #: What the worker's calls then meet: a SQLSTATE or PostgREST code.
    code: str
    breaks: str
    fixes: str


CLAIM = "function public.wearon_claim_session(text, uuid, text, text, integer)"
REFUND_CREDITS = "function public.refund_credits(uuid, uuid, integer)"

REVOKED_CLAIM = Drift(
    "service_role may no longer execute wearon_claim_session",
    "42501",
    f"revoke execute on {CLAIM} from service_role",
    f"grant execute on {CLAIM} to service_role",
)
RENAMED_CLAIM = Drift(
    "wearon_claim_session renamed",
    "PGRST202",
    f"alter {CLAIM} rename to wearon_claim_session_v0",
    f"alter {CLAIM.replace('_session(', '_session_v0(')} rename to wearon_claim_session",
)
RENAMED_REFUND_CREDITS = Drift(
    "the app's refund_credits renamed",
    "42883",
    f"alter {REFUND_CREDITS} rename to refund_credits_v2",
    "alter function public.refund_credits_v2(uuid, uuid, integer) rename to refund_credits",
)
#: The app's b2c error column changed type: every write of a b2c session meets 42804.
RETYPED_ERROR_COLUMN = Drift(
    "generation_sessions.error_message is an integer",
    "42804",
    "alter table public.generation_sessions alter column error_message type integer using null",
    "alter table public.generation_sessions alter column error_message type text using null",
)

_MIGRATIONS = {migration.name[:4]: migration for migration in postgres.MIGRATIONS}
#: A deploy of this worker to a database that never got 0003_claim_lease.sql: 0001 and 0002 only.
WITHOUT_THE_LEASE = Drift(
    "0003_claim_lease.sql not applied",
    "PGRST202",
    "drop function public.wearon_lease_gaps();"
    " drop function public.wearon_renew_leases(text, jsonb, integer);"
    " drop function public.wearon_claim_session(text, uuid, text, text, integer);"
    " drop function public.wearon_lease_interval(integer);"
    " alter table public.wearon_session_claims drop column lease_holder, drop column lease_until",
    _MIGRATIONS["0003"].read_text(),
)


class Broken:
    def __init__(self, drift: Drift) -> None:
        self.drift = drift
        self.fixed = False

    def fix(self) -> None:
        if not self.fixed:
            postgres.run_sql(self.drift.fixes)
            self.fixed = True


@contextmanager
def misconfigured(drift: Drift) -> Iterator[Broken]:
    postgres.run_sql(drift.breaks)
    broken = Broken(drift)
    try:
        yield broken
    finally:
        broken.fix()
