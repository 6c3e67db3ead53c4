"""GET /files/...: the embedded backend's signed links, served by the API the worker signs them for."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.http.conftest import StartApi, api_settings
from wearon.adapters.blobs.local import LocalBlobStore
from wearon.bootstrap import build_local_blobs

JPEG = b"\xff\xd8\xff\xe0 a stored result"


@pytest.fixture
def signed(start_api: StartApi, tmp_path: Path) -> Iterator[tuple[httpx.Client, LocalBlobStore]]:
    """The API and the worker's blob store on one data directory, as `make run` has them."""
    blobs = build_local_blobs(api_settings(local_data_dir=tmp_path))
    with start_api(local_data_dir=tmp_path) as client:
        yield client, blobs


def link(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_a_signed_link_serves_the_stored_result(signed: tuple[httpx.Client, LocalBlobStore]) -> None:
    client, blobs = signed
    blobs.upload("generated/u1/s1.jpg", JPEG, "image/jpeg")
    response = client.get(link(blobs.signed_url("generated/u1/s1.jpg", 60)))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content == JPEG


@pytest.mark.parametrize(
    ("make_link", "status", "code"),
    [
        (
            lambda b: link(b.signed_url("generated/u1/s1.jpg", 60)).replace("sig=", "sig=0"),
            403,
            "link_invalid",
        ),
        (lambda b: link(b.signed_url("generated/u1/s1.jpg", 60, now=0)), 410, "link_expired"),
        (lambda b: link(b.signed_url("generated/u1/missing.jpg", 60)), 404, "not_found"),
    ],
)
def test_a_refused_link_gets_the_api_error_shape(
    signed: tuple[httpx.Client, LocalBlobStore], make_link: object, status: int, code: str
) -> None:
    client, blobs = signed
    blobs.upload("generated/u1/s1.jpg", JPEG, "image/jpeg")
    response = client.get(make_link(blobs))  # type: ignore[operator]
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
