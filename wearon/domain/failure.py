"""Why a generation failed: a closed set, each with its metric label (the value) and the message
the user reads on the failed session."""

from __future__ import annotations

from enum import StrEnum

_REFUNDED = "Your credit has been refunded."


class FailureReason(StrEnum):
    PROVIDER_RATE_LIMITED = "provider_rate_limited"
    MODERATION_BLOCKED = "moderation_blocked"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    PROVIDER_BAD_RESPONSE = "provider_bad_response"
    IMAGE_REJECTED = "image_rejected"
    INFRASTRUCTURE = "infrastructure"
    #: Our database or storage refused us in a way no retry changes (wearon.errors.Misconfigured).
    MISCONFIGURED = "misconfigured"
    SESSION_NOT_FOUND = "session_not_found"
    TIME_LIMIT = "time_limit"
    #: Dramatiq's age limit skipped the message before it ran.
    EXPIRED = "expired"
    #: Queued or processing for too long; failed by the periodic sweep.
    STUCK = "stuck"
    #: The bridge could not parse the payload, but could read its session.
    INVALID_TASK = "invalid_task"
    INTERNAL_ERROR = "internal_error"

    @property
    def user_message(self) -> str:
        """What the end user is told (no internals, no secrets)."""
        return _USER_MESSAGES.get(self, f"The generation failed. {_REFUNDED}")


_USER_MESSAGES = {
    FailureReason.MODERATION_BLOCKED: (
        "This image or prompt was blocked by the content safety filter. "
        f"Please try different photos. {_REFUNDED}"
    ),
    FailureReason.IMAGE_REJECTED: f"One of the images could not be used. {_REFUNDED}",
    FailureReason.STUCK: f"The generation took too long. {_REFUNDED}",
    FailureReason.INVALID_TASK: f"The request could not be processed. {_REFUNDED}",
}
