"""The generation task: the JSON the Next.js API pushes, and where its result is stored."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, HttpUrl, ValidationError, model_validator

from wearon.errors import InvalidTask
from wearon.validation import describe

#: A task is a few URLs and a prompt; anything larger is not from our API.
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_IMAGES = 8


class Channel(StrEnum):
    B2B = "b2b"
    B2C = "b2c"


class GenerationTask(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    task_id: str = Field(min_length=1, max_length=128)
    channel: Channel
    store_id: str | None = Field(None, max_length=128)
    user_id: str | None = Field(None, max_length=128)
    session_id: UUID
    image_urls: tuple[HttpUrl, ...] = Field(min_length=1, max_length=MAX_IMAGES)
    prompt: str = Field(min_length=1, max_length=4000)
    request_id: str = Field(min_length=1, max_length=128)
    version: Literal[1]
    created_at: AwareDatetime

    @model_validator(mode="after")
    def _owner_matches_channel(self) -> GenerationTask:
        if self.channel is Channel.B2B and not self.store_id:
            raise ValueError("b2b tasks require store_id")
        if self.channel is Channel.B2C and not self.user_id:
            raise ValueError("b2c tasks require user_id")
        return self

    @property
    def log_fields(self) -> dict[str, str]:
        """What every log line about this task carries (`wearon.log.CONTEXT_FIELDS`)."""
        return {
            "request_id": self.request_id,
            "task_id": self.task_id,
            "session_id": str(self.session_id),
            "channel": self.channel.value,
        }

    @property
    def result_path(self) -> str:
        """Where the generated image lives in storage, by channel."""
        if self.channel is Channel.B2B:
            return f"stores/{self.store_id}/generated/{self.session_id}.jpg"
        return f"generated/{self.user_id}/{self.session_id}.jpg"


def parse_task(raw: bytes) -> GenerationTask:
    """Validate one queue payload, or raise InvalidTask with a reason fit for a dead letter."""
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise InvalidTask("too_large", f"payload too large: {len(raw)} bytes > {MAX_PAYLOAD_BYTES}")
    data = _decode(raw)
    if not isinstance(data, dict):
        raise InvalidTask("schema", "payload is not a JSON object")
    version = data.get("version")
    if type(version) is not int or version != 1:  # True == 1 in Python; the contract says the number 1
        raise InvalidTask("version", f"unsupported version: {version!r}")
    try:
        return GenerationTask.model_validate(data)
    except ValidationError as exc:
        raise InvalidTask("schema", "schema violation: " + describe(exc, whole="task")) from None


def _decode(raw: bytes) -> object:
    """JSON in UTF-8, the only encoding the contract has (json.loads would also guess UTF-16 or
    UTF-32 and skip a BOM). Whatever decoding untrusted bytes raises (RecursionError at depth,
    ValueError past 4,300 digits, MemoryError) becomes InvalidTask here."""
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError, MemoryError) as exc:  # JSON and Unicode errors are ValueErrors
        raise InvalidTask("invalid_json", f"invalid JSON: {type(exc).__name__}: {exc}") from None


def salvage_session(raw: bytes) -> tuple[Channel, UUID] | None:
    """Best effort: the channel and session of an invalid payload, so its credit can be refunded."""
    try:
        data: Any = _decode(raw)
        channel = Channel(data["channel"])
        session_id = data["session_id"]
        return channel, UUID(session_id)
    except (InvalidTask, ValueError, KeyError, TypeError, AttributeError):
        return None
