"""The generation use case: claim the session, make the image, store it, complete the session.

Pure orchestration over the ports; every failure is raised as a WearOnError and judged by
`wearon.domain.policy` in the actor, so nothing here decides retries or refunds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from uuid import uuid4

from loguru import logger
from PIL import Image

from wearon import metrics, task_deadline
from wearon.domain.session import ClaimOutcome, Lease
from wearon.domain.task import GenerationTask
from wearon.errors import (
    ImageRejected,
    InfrastructureError,
    ProviderBadResponse,
    SessionHeld,
    SessionNotFound,
)
from wearon.images import as_stored_jpeg, decode_image, to_jpeg
from wearon.ports import BlobStore, ImageFetcher, ImageProvider, LeaseRenewer, ResultKeeper, SessionStore

INPUT_MAX_SIDE = 1024
#: A JPEG input whose 1/2, 1/4 or 1/8 scale comes this close under INPUT_MAX_SIDE is sent at that
#: scale, with no resample: a phone's 4000-4032 px photo gives 1000-1008 px, a 2000 px one 1000.
#: Measured per photo: 4032x3024, 52 -> 17 CPU-ms; 1500x2000, 43 -> 8 CPU-ms.
INPUT_MIN_SIDE = 992
#: Inputs that must be shrunk are area-averaged (Pillow's BOX: for a downscale, the quality Pillow
#: rates as bilinear's), not resampled bicubically: on a 1200x1600 photo shrunk to 768x1024, 7.9
#: against 16.3 CPU-ms of a 23.5 CPU-ms decode (bilinear 10.7); with bicubic, the issue's two such
#: inputs made a task cost 54.7 CPU-ms.
INPUT_RESAMPLE = Image.Resampling.BOX
#: Results are stored as they come when they are plain JPEGs (the provider is asked for JPEG), and
#: re-encoded as JPEG otherwise, to match the `.jpg` path; either way at most this size.
RESULT_MAX_SIDE = 4096
#: A failed result upload is tried again in place after each of these pauses (a closed keep-alive
#: connection, a storage blip) before the attempt gives up; the image stays kept for its retry.
UPLOAD_BACKOFF_S = (0.5, 1.0, 2.0)


@dataclass(frozen=True)
class GenerationService:
    store: SessionStore
    blobs: BlobStore
    provider: ImageProvider
    fetcher: ImageFetcher
    kept: ResultKeeper
    leases: LeaseRenewer
    signed_url_ttl_s: int
    sleep: Callable[[float], None] = time.sleep

    def run(self, task: GenerationTask, token: str, *, retry: bool = False) -> ClaimOutcome:
        """Generate for `task` under the claim `token`; returns what the claim found.

        The provider is paid at most once per session: the claim is leased to this attempt while
        it runs (a copy of the message redelivered meanwhile waits: SessionHeld), its image is
        kept (`kept`) until stored, and an earlier attempt's kept or stored image is used instead
        of a new call.
        """
        lease = Lease(holder=uuid4().hex)
        outcome = self._claim(task, token, lease)
        if outcome is not ClaimOutcome.CLAIMED:
            logger.info("session is {}; nothing to do", outcome.value)
            return outcome
        with self.leases.renewing(task.channel, task.session_id, lease):
            self._store_result(task, retry)
            self._complete(task, token)
        self.kept.drop(task.channel, task.session_id)
        return outcome

    def _claim(self, task: GenerationTask, token: str, lease: Lease) -> ClaimOutcome:
        outcome = self.store.claim(task.channel, task.session_id, token, lease)
        if outcome is ClaimOutcome.MISSING:
            raise SessionNotFound(f"no {task.channel} session {task.session_id}")
        if outcome is ClaimOutcome.HELD:
            raise SessionHeld(f"another attempt of this message is working on {task.session_id}")
        return outcome

    def _complete(self, task: GenerationTask, token: str) -> None:
        url = self.blobs.signed_url(task.result_path, self.signed_url_ttl_s)
        if self.store.complete(task.channel, task.session_id, token, url):
            logger.info("generation completed")
        else:
            logger.warning("session was finished elsewhere (sweep or duplicate) before we could complete it")

    def _store_result(self, task: GenerationTask, retry: bool) -> None:
        result = self.kept.kept(task.channel, task.session_id)
        if result is not None:
            logger.info("storing the image an earlier attempt was given; no new provider call")
        elif retry and self.blobs.exists(task.result_path):
            logger.info("result stored by an earlier attempt; completing without a new provider call")
            return
        else:
            result = self._normalise_result(self.provider.edit(self._inputs(task), task.prompt))
            self.kept.keep(task.channel, task.session_id, result)
        self._upload(task.result_path, result)

    def _upload(self, path: str, data: bytes) -> None:
        for pause_s in UPLOAD_BACKOFF_S:
            try:
                self.blobs.upload(path, data, "image/jpeg")
                return
            except InfrastructureError as exc:
                if not task_deadline.allows(pause_s):
                    raise  # the task's retry stores the kept image
                logger.warning("storing the result failed ({}); again in {:.1f} s", exc, pause_s)
                metrics.STORAGE_UPLOAD_RETRIES.inc()
            self.sleep(pause_s)
        self.blobs.upload(path, data, "image/jpeg")

    def _inputs(self, task: GenerationTask) -> list[bytes]:
        return [self._input(self.fetcher.fetch(str(url))) for url in task.image_urls]

    @staticmethod
    def _input(data: bytes) -> bytes:
        # Decoded straight to the size sent (a JPEG at a reduced scale), then encoded once.
        img = decode_image(data, max_side=INPUT_MAX_SIDE, min_side=INPUT_MIN_SIDE, resample=INPUT_RESAMPLE)
        return to_jpeg(img, INPUT_MAX_SIDE)

    @staticmethod
    def _normalise_result(data: bytes) -> bytes:
        try:
            return as_stored_jpeg(data, RESULT_MAX_SIDE)
        except ImageRejected as exc:
            raise ProviderBadResponse(f"provider returned an unusable image: {exc.code}") from None
