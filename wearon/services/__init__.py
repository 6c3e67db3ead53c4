"""The use cases: generation (a try-on image for a session) and sizing (a size from a photo).

Pure orchestration over the ports in `wearon.ports`; `wearon.bootstrap` hands them their adapters.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis import Redis

from wearon.ports import BlobStore, SessionStore
from wearon.services.generation import GenerationService
from wearon.settings import Settings


@dataclass(frozen=True)
class Services:
    """What a worker process runs its actors with; built once per process by `wearon.bootstrap`."""

    settings: Settings
    redis: Redis
    store: SessionStore
    blobs: BlobStore
    generation: GenerationService
