"""The generation task: the JSON the Next.js API pushes, and where its result is stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from wearon.domain.storage_path import is_path_segment
from wearon.errors import InvalidTask
from wearon.validation import describe

#: A task is a few URLs and a prompt; anything larger is not from our API.
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_IMAGES = 8


class Channel(StrEnum):
    B2B = "b2b"
    B2C = "b2c"


class GenerationTask(BaseModel):
    """The app's `GenerationTaskPayload`, as its TypeScript producer writes it (JSON.stringify)."""

    # A field the app adds in a later deploy is not ours to judge: ignored, and named in
    # `ignored_fields`, rather than failing (and refunding) every task until we catch up.
    model_config = ConfigDict(frozen=True, extra="ignore")

    task_id: str = Field(min_length=1, max_length=128)
    channel: Channel
    store_id: str | None = Field(None, max_length=128)
    user_id: str | None = Field(None, max_length=128)
    session_id: UUID
    image_urls: tuple[HttpUrl, ...] = Field(min_length=1, max_length=MAX_IMAGES)
    prompt: str = Field(min_length=1, max_length=4000)
    request_id: str = Field(min_length=1, max_length=128)
    # The app's model declares `version: int = 1`; parse_task refuses any other value.
    version: Literal[1] = 1
    created_at: datetime

    _ignored_fields: frozenset[str] = PrivateAttr(default=frozenset())

    @property
    def ignored_fields(self) -> frozenset[str]:
        """The payload's fields this model does not know (dropped)."""
        return self._ignored_fields

    @model_validator(mode="wrap")
    @classmethod
    def _name_ignored_fields(
        cls, data: Any, handler: ModelWrapValidatorHandler[GenerationTask]
    ) -> GenerationTask:
        task = handler(data)
        if isinstance(data, dict):
            task._ignored_fields = frozenset(data.keys() - cls.model_fields.keys())
        return task

    @field_validator("created_at")
    @classmethod
    def _naive_is_utc(cls, value: datetime) -> datetime:
        # JavaScript's toISOString() always writes `Z`; a time without an offset is read as UTC too.
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

    @field_validator("store_id", "user_id")
    @classmethod
    def _one_path_segment(cls, value: str | None) -> str | None:
        # The owner id becomes a folder of the result's storage path (`result_path`).
        if value is not None and not is_path_segment(value):
            raise ValueError("must be usable as one storage path segment (no /, \\, %, ?, #, . or ..)")
        return value

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
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidTask("invalid_json", f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidTask("schema", "payload is not a JSON object")
    version = data.get("version", 1)  # absent means 1, as in the app's model
    if type(version) is not int or version != 1:  # True == 1 in Python; the contract says the number 1
        raise InvalidTask("version", f"unsupported version: {version!r}")
    try:
        return GenerationTask.model_validate(data)
    except ValidationError as exc:
        raise InvalidTask("schema", "schema violation: " + describe(exc, whole="task")) from None


def salvage_session(raw: bytes) -> tuple[Channel, UUID] | None:
    """Best effort: the channel and session of an invalid payload, so its credit can be refunded."""
    try:
        data = json.loads(raw)
        channel = Channel(data["channel"])
        session_id = data["session_id"]
        return channel, UUID(session_id)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
