"""The sizing use case's own limits, with the real safe downloader and a local HTTP server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from PIL import Image

from tests.helpers.http_server import LocalHTTPServer
from wearon.adapters.download import SafeDownloader
from wearon.domain.sizing import View
from wearon.errors import ImageRejected
from wearon.services.sizing import SizeEstimator

DEADLINE_S = 1.5


class NeverReached:
    """A BodyDetector for estimates whose download fails: it must not be asked."""

    loaded = True
    max_side = 256

    async def detect_views(self, image: Image.Image) -> list[View]:
        raise AssertionError("no photo was downloaded, so none can be detected")


def test_downloads_have_a_bound_of_their_own() -> None:
    # Given URLs that never finish, and an estimator allowing 2 downloads at once
    arrivals: list[float] = []

    def endless() -> Iterator[bytes]:
        arrivals.append(time.monotonic())
        while True:
            yield b"\x89"
            time.sleep(0.2)

    with (
        LocalHTTPServer() as server,
        SafeDownloader(
            allowed_hosts=frozenset({"127.0.0.1"}), allow_private_networks=True, timeout_s=DEADLINE_S
        ) as downloader,
    ):
        server.route("/endless.png", headers={"Content-Type": "image/png"}, body=endless)
        estimator = SizeEstimator(fetcher=downloader, detector=NeverReached(), max_downloads=2)

        async def four() -> list[BaseException | object]:
            url = server.url("/endless.png")
            return await asyncio.gather(
                *(estimator.estimate(url, 175) for _ in range(4)), return_exceptions=True
            )

        # When four estimates start together
        outcomes = asyncio.run(four())
    # Then two download at once: the last two start when the first two reach their deadline
    assert all(isinstance(o, ImageRejected) and o.code == "download_timeout" for o in outcomes)
    first, second, third, fourth = sorted(arrivals)
    assert second - first < DEADLINE_S / 2
    assert third - first >= DEADLINE_S * 0.9
    assert fourth - first == pytest.approx(third - first, abs=DEADLINE_S / 2)
