"""The size API under a real uvicorn on 127.0.0.1, fed real photos by a real local HTTP server.

The pose models load once per session and are shared by every app the tests start; each app
still runs its own lifespan (logging, Redis client, safe downloader).
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageOps

from tests.conftest import TEST_REDIS_URL
from tests.helpers.asgi import serve
from tests.helpers.http_server import LocalHTTPServer
from wearon.adapters.pose import PosePool
from wearon.http import create_app
from wearon.settings import Settings

FIXTURES = Path(__file__).parent.parent / "fixtures"
PNG = {"Content-Type": "image/png"}
JPEG = {"Content-Type": "image/jpeg"}
#: Hosts the test apps may download from: our photo server, and the metadata address (which the
#: address guard must still refuse).
ALLOWED_HOSTS = ("127.0.0.1", "169.254.169.254")

StartApi = Callable[..., AbstractContextManager[httpx.Client]]


def api_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": TEST_REDIS_URL,
        "download_allowed_hosts": ALLOWED_HOSTS,
        "download_allow_private_networks": True,
        "log_level": "WARNING",
    }
    return Settings(**(values | overrides))


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def person() -> Image.Image:
    return Image.open(FIXTURES / "basketball1.png").convert("RGB")


def huge_png(side: int = 20_000) -> bytes:
    """A valid 1-bit PNG, side x side pixels, a few kilobytes on the wire: a decompression bomb."""
    row = b"\x00" + bytes((side + 7) // 8)
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


@pytest.fixture(scope="session")
def pose_pool() -> Iterator[PosePool]:
    pool = PosePool(workers=2)
    pool.load()
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def photos() -> Iterator[LocalHTTPServer]:
    photo = person()
    half = photo.resize((photo.width // 2, photo.height // 2), Image.Resampling.LANCZOS)
    with LocalHTTPServer() as server:
        server.route("/person.png", headers=PNG, body=png_bytes(photo))
        server.route("/person2.png", headers=PNG, body=(FIXTURES / "basketball2.png").read_bytes())
        server.route("/mirrored.png", headers=PNG, body=png_bytes(ImageOps.mirror(photo)))
        server.route("/half.png", headers=PNG, body=png_bytes(half))
        # Cut just below the hips: knees and feet are out of the frame.
        server.route("/no-legs.png", headers=PNG, body=png_bytes(photo.crop((0, 0, photo.width, 290))))
        # The wall and door between the two people.
        server.route("/wall.png", headers=PNG, body=png_bytes(photo.crop((180, 0, 430, 400))))
        server.route("/kick.jpg", headers=JPEG, body=(FIXTURES / "messi5.jpg").read_bytes())
        server.route("/page.html", headers={"Content-Type": "text/html"}, body=b"<html>not an image</html>")
        server.route("/huge.png", headers=PNG, body=huge_png())
        server.route("/corrupt.png", headers=PNG, body=png_bytes(photo)[:5000])
        server.route("/moved.png", status=302, headers={"Location": server.url("/person.png")})
        yield server


@pytest.fixture(scope="session")
def start_api(pose_pool: PosePool, tmp_path_factory: pytest.TempPathFactory) -> StartApi:
    """start_api(**settings overrides) -> a context manager giving an httpx client of a new app."""
    # The embedded backend's files (and their signing key) go to a directory of the test's own.
    data_dir = tmp_path_factory.mktemp("api-data")

    @contextmanager
    def start(detector: Any = None, fetcher: Any = None, **overrides: Any) -> Iterator[httpx.Client]:
        settings = api_settings(**({"local_data_dir": data_dir} | overrides))
        app = create_app(settings, detector=detector or pose_pool, fetcher=fetcher)
        # The lifespan loads what the app needs; give it longer than a bare server.
        with (
            serve(app, lifespan=True, start_timeout_s=30) as url,
            httpx.Client(base_url=url, timeout=30) as client,
        ):
            yield client

    return start


@pytest.fixture(scope="session")
def api(start_api: StartApi) -> Iterator[httpx.Client]:
    with start_api() as client:
        yield client


def estimate(client: httpx.Client, image_url: str, height_cm: float = 175) -> httpx.Response:
    return client.post("/estimate-body", json={"image_url": image_url, "height_cm": height_cm})
