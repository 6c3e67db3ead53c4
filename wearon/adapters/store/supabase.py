"""SessionStore over Supabase: each call is one SQL function of the contract, through PostgREST RPC.

The functions live in supabase/migrations (0001_worker_contract.sql; the claim's lease in
0003_claim_lease.sql); PostgREST answers a function returning a scalar with that scalar as JSON
(`"claimed"`, `true`, `3`). A refusal is an outage or a misconfiguration
(`wearon.adapters.supabase_errors`), which needs the HTTP status: supabase-py's APIError drops it
(and a gateway's 401 carries no code), so calls are posted on its HTTP client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

import httpx
from supabase import Client

from wearon.adapters.supabase_errors import counted, postgrest_error
from wearon.domain.session import ClaimOutcome, Lease, SessionStatus, SweepResult
from wearon.domain.session_report import Claim, Refund, SessionReport
from wearon.domain.task import Channel
from wearon.errors import InfrastructureError, Misconfigured

T = TypeVar("T", bool, int, str, dict[str, Any], list[Any])


class SupabaseSessionStore:
    def __init__(self, client: Client) -> None:
        self._client = client

    def claim(self, channel: Channel, session_id: UUID, token: str, lease: Lease) -> ClaimOutcome:
        held_by: dict[str, str | int] = {"p_holder": lease.holder, "p_lease_s": lease.seconds}
        found = self._call("wearon_claim_session", str, channel, session_id, p_token=token, **held_by)
        try:
            return ClaimOutcome(found)
        except ValueError:
            wrong = Misconfigured("wearon_claim_session", "wrong_value", f"returned {found!r}")
            raise counted(wrong) from None

    def renew_leases(self, channel: Channel, holders: Mapping[UUID, str], seconds: int) -> set[UUID]:
        leases = [{"session_id": str(session), "holder": holder} for session, holder in holders.items()]
        params = {"p_channel": channel.value, "p_leases": leases, "p_lease_s": seconds}
        renewed = self._rpc("wearon_renew_leases", list, params)
        try:
            return {UUID(str(session)) for session in renewed}
        except ValueError:
            raise counted(Misconfigured("wearon_renew_leases", "wrong_value", "not session ids")) from None

    def requeue(self, channel: Channel, session_id: UUID, token: str) -> bool:
        return self._call("wearon_requeue_session", bool, channel, session_id, p_token=token)

    def complete(self, channel: Channel, session_id: UUID, token: str, result_url: str) -> bool:
        return self._call(
            "wearon_complete_session", bool, channel, session_id, p_token=token, p_result_url=result_url
        )

    def fail_and_refund(self, channel: Channel, session_id: UUID, reason: str) -> bool:
        return self._call("wearon_fail_and_refund", bool, channel, session_id, p_reason=reason)

    def sweep_stuck(self, older_than_s: int, reason: str) -> SweepResult:
        data = self._rpc("wearon_sweep_stuck", dict, {"p_older_than_s": older_than_s, "p_reason": reason})
        refunded, skipped = data.get("refunded"), data.get("skipped")
        if type(refunded) is not int or type(skipped) is not int:
            raise counted(Misconfigured("wearon_sweep_stuck", "wrong_type", f"returned {sorted(data)}"))
        return SweepResult(refunded=refunded, skipped=skipped)

    def contract_gaps(self) -> list[str]:
        # One list per migration that has one (0001, 0003): a database without 0003 refuses its
        # call (PGRST202) rather than let every claim fail.
        gaps = self._rpc("wearon_contract_gaps", list, {}) + self._rpc("wearon_lease_gaps", list, {})
        return [str(gap) for gap in gaps]

    def inspect(self, session_id: UUID) -> SessionReport | None:
        function = "wearon_session_report"
        answer = self._post(function, {"p_session_id": str(session_id)})
        if not answer.is_success:
            raise counted(postgrest_error(function, answer.status_code, *_error_of(answer))) from None
        found = answer.json()
        return None if found is None else _report(session_id, found)

    def _call(
        self, function: str, returns: type[T], channel: Channel, session_id: UUID, **args: str | int
    ) -> T:
        params = {"p_channel": channel.value, "p_session_id": str(session_id), **args}
        return self._rpc(function, returns, params)

    def _rpc(self, function: str, returns: type[T], params: dict[str, Any]) -> T:
        answer = self._post(function, params)
        if not answer.is_success:
            # Raised from nothing: no library exception (nor its text) travels with ours.
            raise counted(postgrest_error(function, answer.status_code, *_error_of(answer))) from None
        try:
            data = answer.json()
        except ValueError:
            size = len(answer.content)
            raise InfrastructureError(f"{function}: unreadable answer ({size} bytes)") from None
        # A False read from a null would silently skip a refund: insist on the contract's type.
        if type(data) is not returns:
            found = f"{type(data).__name__}, not {returns.__name__}"
            raise counted(Misconfigured(function, "wrong_type", f"returned {found}"))
        return data

    def _post(self, function: str, params: dict[str, Any]) -> httpx.Response:
        """One RPC call, as supabase-py sends it (its URL, headers and HTTP client)."""
        rest = self._client.postgrest
        url = str(rest.base_url.joinpath("rpc", function))
        try:
            return rest.session.post(url, json=params, headers=rest.headers)
        except httpx.HTTPError as exc:
            raise InfrastructureError(f"{function}: database unreachable ({type(exc).__name__})") from None


def _error_of(answer: httpx.Response) -> tuple[str | None, str]:
    """The code and message of PostgREST's (or a gateway's) error JSON; a page that is not JSON
    has neither."""
    try:
        body = answer.json()
    except ValueError:
        return None, f"non-JSON answer ({len(answer.content)} bytes)"
    if not isinstance(body, dict):
        return None, "unexpected error body"
    code = body.get("code")
    return (str(code) if code is not None else None), str(body.get("message") or "")[:200]


def _report(session_id: UUID, found: dict[str, Any]) -> SessionReport:
    """wearon_session_report's JSON as the domain's report."""
    claim, refund = found.get("claim"), found.get("refund")
    return SessionReport(
        channel=Channel(found["channel"]),
        session_id=session_id,
        owner_id=str(found["owner_id"]),
        status=SessionStatus(found["status"]),
        result_url=found.get("result_url"),
        error_message=found.get("error_message"),
        updated_at=str(found["updated_at"]),
        claim=Claim(claim["token"], claim["attempts"], claim["claimed_at"]) if claim else None,
        refund=Refund(refund["reason"], refund["at"]) if refund else None,
    )
