"""Every boundary of the use cases (`wearon.services`): each is a Protocol, with a production
adapter and, where production's needs the cloud, an embedded one (SQLite, local files, a local
image provider) that `make run` and the tests use.

The adapters live in `wearon.adapters`; `wearon.bootstrap` picks them from the settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Protocol
from uuid import UUID

from PIL import Image

from wearon.domain.dead_letter import DeadLetter, DeadLetterStore
from wearon.domain.session import ClaimOutcome, Lease, SweepResult
from wearon.domain.session_report import SessionReport
from wearon.domain.sizing import View
from wearon.domain.task import Channel


class SessionStore(Protocol):
    """The database contract: sessions and credits change only through these calls.

    Every call is idempotent per session. `token` identifies the Dramatiq message that
    claimed the session, so a redelivered message may resume its own claim while a
    duplicate message for the same session may not; the claim's `Lease` names the attempt,
    so a copy of the message resumes it only once no other attempt holds it live. Raises
    InfrastructureError when the database cannot be reached, SessionNotFound where noted.
    """

    def claim(self, channel: Channel, session_id: UUID, token: str, lease: Lease) -> ClaimOutcome:
        """queued → processing (or re-take our own processing claim), leased to `lease.holder`."""
        ...

    def renew_leases(self, channel: Channel, holders: Mapping[UUID, str], seconds: int) -> set[UUID]:
        """Extend by `seconds` each session's lease its holder (`holders[session]`) still holds
        (0 ends it now); returns the sessions renewed."""
        ...

    def requeue(self, channel: Channel, session_id: UUID, token: str) -> bool:
        """processing → queued under our claim, for a retry; no refund."""
        ...

    def complete(self, channel: Channel, session_id: UUID, token: str, result_url: str) -> bool:
        """processing → completed under our claim; False if someone else finished it."""
        ...

    def fail_and_refund(self, channel: Channel, session_id: UUID, reason: str) -> bool:
        """queued|processing → failed plus one credit back, in one transaction, at most once.

        True only for the call that refunded.
        """
        ...

    def sweep_stuck(self, older_than_s: int, reason: str) -> SweepResult:
        """fail_and_refund every session queued|processing for longer than `older_than_s`; one whose
        refund is refused is left open and counted as skipped, never blocking the others."""
        ...

    def contract_gaps(self) -> list[str]:
        """What the database lacks for the worker to run (a function, a grant, a column), one
        line each; empty when nothing. Raises Misconfigured when the question itself is refused."""
        ...


class LeaseRenewer(Protocol):
    """Keeps the claim leases of the attempts running in this process renewed while they run, and
    ends one as its attempt fails, so that the retry (on any host) need not wait it out."""

    def renewing(self, channel: Channel, session_id: UUID, lease: Lease) -> AbstractContextManager[None]: ...


class BlobStore(Protocol):
    """Where generated images go, and how a user is given a time-limited link to one."""

    def upload(self, path: str, data: bytes, content_type: str) -> None: ...

    def exists(self, path: str) -> bool: ...

    def signed_url(self, path: str, ttl_s: int) -> str: ...

    def check(self) -> None:
        """Raises Misconfigured when results could not be stored (no bucket, a refused key)."""
        ...


class ResultKeeper(Protocol):
    """Holds a generated image, per session, from the provider's answer until it is stored, where
    every attempt of that session on any host finds it: a provider call is never repeated after
    it succeeded. Raises InfrastructureError when what is kept cannot be read."""

    def keep(self, channel: Channel, session_id: UUID, data: bytes) -> None: ...

    def kept(self, channel: Channel, session_id: UUID) -> bytes | None: ...

    def drop(self, channel: Channel, session_id: UUID) -> None: ...


class ImageProvider(Protocol):
    """Turns input images and a prompt into one edited image (JPEG or PNG bytes)."""

    def edit(self, images: list[bytes], prompt: str) -> bytes: ...


class ImageFetcher(Protocol):
    """Fetches an untrusted URL safely; raises ImageRejected when it must not or cannot."""

    def fetch(self, url: str) -> bytes: ...


class BodyDetector(Protocol):
    """Finds the person in a photo: each view (the photo, its mirror) as landmarks and a mask."""

    #: The longest side the detector looks at; a larger photo may be decoded at about this size.
    max_side: int

    @property
    def loaded(self) -> bool: ...

    async def detect_views(self, image: Image.Image) -> list[View]:
        """The photo and its mirror image, each a BodyScan or the reason it shows no body; raises
        BodyNotDetected when the photo as a whole cannot be measured (too small)."""
        ...


class SessionInspector(Protocol):
    """Reads one session for an operator (`wearon-admin session show`); writes nothing."""

    def inspect(self, session_id: UUID) -> SessionReport | None:
        """The session of either channel with this id, or None."""
        ...


class OperatorStore(SessionStore, SessionInspector, Protocol):
    """Both: what `wearon-admin` works on (each store adapter is one)."""


class DeadLetters(Protocol):
    """One store of dead letters: the bridge's list, or Dramatiq's (wearon.adapters.dead_letters)."""

    store: DeadLetterStore

    def letters(self) -> list[DeadLetter]:
        """Oldest first."""
        ...

    def remove(self, letter: DeadLetter) -> bool: ...

    def requeue(self, letter: DeadLetter) -> bool:
        """Back where it came from, and out of the dead letters; False if it was gone."""
        ...
