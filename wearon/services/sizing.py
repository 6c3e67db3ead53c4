"""The sizing use case (POST /estimate-body): fetch, decode, detect, measure, recommend.

Nothing here runs CPU work on the event loop: the download goes to threads of its own, decoding to
Starlette's thread pool, pose detection to the detector's own workers. A download is never done
in an estimate slot: a URL that drips a byte a second would hold the slot (and the pose model's
turn) for the whole download deadline.
"""

from __future__ import annotations

import asyncio

import anyio
from loguru import logger
from PIL import Image
from starlette.concurrency import run_in_threadpool

from wearon.domain.sizing import DEFAULT_CHART, Recommendation, SizeChart, View, measure_views, recommend
from wearon.images import decode_image
from wearon.ports import BodyDetector, ImageFetcher

#: How many estimates may hold a downloaded, decoded photo at once; the rest wait their turn,
#: which bounds memory (a photo may be up to 40 MP) under a burst.
MAX_CONCURRENT_ESTIMATES = 8
#: How many requests may hold a photo's bytes (up to the downloader's cap, 10 MB) at once: being
#: downloaded, or downloaded and waiting for an estimate slot. Each download holds a thread of its
#: own, never one of Starlette's pool.
MAX_CONCURRENT_DOWNLOADS = 32


class SizeEstimator:
    def __init__(
        self,
        *,
        fetcher: ImageFetcher,
        detector: BodyDetector,
        chart: SizeChart = DEFAULT_CHART,
        max_concurrent: int = MAX_CONCURRENT_ESTIMATES,
        max_downloads: int = MAX_CONCURRENT_DOWNLOADS,
    ) -> None:
        self._fetcher = fetcher
        self._detector = detector
        self.chart = chart
        self._slots = asyncio.Semaphore(max_concurrent)
        self._photos_in_hand = asyncio.Semaphore(max_downloads)
        self._download_threads = anyio.CapacityLimiter(max_downloads)

    @property
    def ready(self) -> bool:
        return self._detector.loaded

    async def estimate(
        self,
        image_url: str,
        height_cm: float,
        *,
        chart: SizeChart | None = None,
        weight_kg: float | None = None,
    ) -> Recommendation:
        """Raises ImageRejected (the URL or image) or BodyNotDetected (the photo's content)."""
        async with self._photos_in_hand:
            data = await anyio.to_thread.run_sync(
                self._fetcher.fetch, image_url, limiter=self._download_threads
            )
            async with self._slots:
                image = await run_in_threadpool(self._decode, data)
                views = await self._detector.detect_views(image)
                result = await run_in_threadpool(
                    self._recommend, views, height_cm, chart or self.chart, weight_kg
                )
        logger.bind(size=result.size, confidence=round(result.confidence, 3)).info("size estimated")
        return result

    def _recommend(
        self, views: list[View], height_cm: float, chart: SizeChart, weight_kg: float | None
    ) -> Recommendation:
        return recommend(measure_views(views, height_cm), chart, weight_kg)

    def _decode(self, data: bytes) -> Image.Image:
        # Decoded straight to the detector's input side (a JPEG at a reduced scale), within the
        # per-image memory budget and the process's decode slots (wearon.images.budget).
        return decode_image(data, max_side=self._detector.max_side)
