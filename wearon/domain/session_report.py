"""What an operator sees of one session: the app's row, our claim on it and its refund."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any
from uuid import UUID

from wearon.domain.error_id import error_id_in
from wearon.domain.session import SessionStatus
from wearon.domain.task import Channel


@dataclass(frozen=True)
class Claim:
    token: str
    attempts: int
    claimed_at: str | None


@dataclass(frozen=True)
class Refund:
    reason: str | None
    at: str


@dataclass(frozen=True)
class SessionReport:
    channel: Channel
    session_id: UUID
    owner_id: str
    status: SessionStatus
    result_url: str | None
    error_message: str | None
    updated_at: str
    claim: Claim | None
    refund: Refund | None

    @property
    def error_id(self) -> str | None:
        """The id an internal_error's message quotes: it finds the error's traceback in the logs."""
        return error_id_in(self.error_message)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(channel=self.channel.value, session_id=str(self.session_id), status=self.status.value)
        out["error_id"] = self.error_id
        return out
