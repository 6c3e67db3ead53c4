"""SessionStore over Supabase: each call is one SQL function of the contract, through PostgREST RPC.

The functions live in supabase/migrations/0001_worker_contract.sql; PostgREST answers a function
returning a scalar with that scalar as JSON (`"claimed"`, `true`, `3`).
"""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

import httpx
from postgrest.exceptions import APIError
from supabase import Client

from wearon.domain.session import ClaimOutcome
from wearon.domain.task import Channel
from wearon.errors import InfrastructureError

T = TypeVar("T", bool, int, str)


class SupabaseSessionStore:
    def __init__(self, client: Client) -> None:
        self._client = client

    def claim(self, channel: Channel, session_id: UUID, token: str) -> ClaimOutcome:
        found = self._call("wearon_claim_session", str, channel, session_id, p_token=token)
        try:
            return ClaimOutcome(found)
        except ValueError:
            raise InfrastructureError(f"wearon_claim_session returned {found!r}") from None

    def requeue(self, channel: Channel, session_id: UUID, token: str) -> bool:
        return self._call("wearon_requeue_session", bool, channel, session_id, p_token=token)

    def complete(self, channel: Channel, session_id: UUID, token: str, result_url: str) -> bool:
        return self._call(
            "wearon_complete_session", bool, channel, session_id, p_token=token, p_result_url=result_url
        )

    def fail_and_refund(self, channel: Channel, session_id: UUID, reason: str) -> bool:
        return self._call("wearon_fail_and_refund", bool, channel, session_id, p_reason=reason)

    def sweep_stuck(self, older_than_s: int, reason: str) -> int:
        return self._rpc("wearon_sweep_stuck", int, {"p_older_than_s": older_than_s, "p_reason": reason})

    def _call(self, function: str, returns: type[T], channel: Channel, session_id: UUID, **args: str) -> T:
        params = {"p_channel": channel.value, "p_session_id": str(session_id), **args}
        return self._rpc(function, returns, params)

    def _rpc(self, function: str, returns: type[T], params: dict[str, Any]) -> T:
        try:
            data = self._client.rpc(function, params).execute().data
        except APIError as exc:
            # PostgREST's own code and message; neither carries our request (so never the key).
            raise InfrastructureError(f"{function} failed: {exc.code} {exc.message}") from None
        except httpx.HTTPError as exc:
            raise InfrastructureError(f"{function}: database unreachable ({type(exc).__name__})") from None
        # A False read from a null or an error page would silently skip a refund: insist on the type.
        if type(data) is not returns:
            raise InfrastructureError(f"{function} returned {type(data).__name__}, not {returns.__name__}")
        return data
