"""Every error wearon raises on purpose, under one root.

    WearOnError
    ├── ConfigError            the deployment is wrong: settings missing or contradicting each other
    │   └── Misconfigured          a dependency refused a call in a way no retry changes (a denied
    │                              permission, an unknown function, a type error, the app's
    │                              refund_credits raising, a missing bucket): fails the task at once
    ├── InvalidTask            a queue payload is not a valid GenerationTask (dead-lettered)
    ├── ImageRejected          an input image failed the safe-download or decoding guard
    ├── ProviderError          the image provider did not give us an image
    │   ├── ProviderRateLimited    HTTP 429 (retried once, then final)
    │   ├── ModerationBlocked      the prompt or images were refused by moderation
    │   ├── ProviderUnavailable    5xx or timeouts, after the client's own back-off
    │   └── ProviderBadResponse    any other refusal, or a body we cannot use
    ├── InfrastructureError    our own storage or database failed, as an outage does (held and
    │                          retried, bounded)
    ├── TaskDeadlineExceeded   the attempt's hard deadline (the time limit) passed before the
    │                          provider or a download answered: failed and refunded at once
    ├── SessionHeld            another attempt of the same message is working on the session (a
    │                          copy redelivered while it runs): retried once its lease may be over
    ├── SessionNotFound        the session row a task names does not exist
    ├── BodyNotDetected        a size-estimate photo does not show a measurable full body
    ├── InvalidSizeChart       a size chart that cannot be used (overlapping, unordered, too long)
    ├── BlobPathRejected       a storage path that could leave its folder (a caller's bug)
    ├── LinkRejected           a local /files link that must not be served
    └── OperationRefused       an operator's command that must not run (`wearon-admin`: a replay of
                               a finished session's payload, an id that names nothing)

What happens next (retry, fail, refund) is decided from these types in one place,
`wearon.domain.policy`, which also names the failure (`wearon.domain.failure.FailureReason`).
"""

from __future__ import annotations


class WearOnError(Exception):
    """Root of every deliberate wearon error."""


class ConfigError(WearOnError):
    pass


class Misconfigured(ConfigError):
    """A call our database or storage answered with a refusal that waiting cannot change: the
    deployment (grants, functions, the app's refund_credits, the bucket, the key) must be fixed.

    Told apart from an outage at the adapter edge (`wearon.adapters.supabase_errors`); `call` and
    `code` (a SQLSTATE, a PostgREST or Storage code, or an HTTP status) say what refused, and
    `remedy`, where the edge knows it, what an operator should change.
    """

    def __init__(self, call: str, code: str, detail: str = "", remedy: str = "") -> None:
        super().__init__(f"{call} refused ({code}){': ' + detail if detail else ''}; a misconfiguration")
        self.call = call
        self.code = code
        self.remedy = remedy


class InvalidTask(WearOnError):
    """`kind` is a small fixed vocabulary (a metric label); `reason` is the full story."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


class ImageRejected(WearOnError):
    """An input image was refused; `code` is stable and machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class ProviderError(WearOnError):
    pass


class ProviderRateLimited(ProviderError):
    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ModerationBlocked(ProviderError):
    pass


class ProviderUnavailable(ProviderError):
    pass


class ProviderBadResponse(ProviderError):
    pass


class InfrastructureError(WearOnError):
    pass


class TaskDeadlineExceeded(WearOnError):
    """The running attempt's deadline (`wearon.task_deadline`) passed."""


class SessionHeld(WearOnError):
    """The session's claim is leased to another, live attempt of the same message."""


class SessionNotFound(WearOnError):
    pass


class BodyNotDetected(WearOnError):
    """No full body (head to ankles) could be measured; `message` tells the user what to fix."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class InvalidSizeChart(WearOnError):
    """A size chart (a merchant's own, given in a request) that cannot be used; the message says why."""


class BlobPathRejected(WearOnError):
    """An object path that could leave its folder or name a different object; a caller's bug."""


class LinkRejected(WearOnError):
    """A /files link that must not be served; `code` is link_invalid (tampered or malformed),
    link_expired, invalid_path or not_found."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class OperationRefused(WearOnError):
    """An operator's command refused before it changed anything; the message says why."""
