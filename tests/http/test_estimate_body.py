"""Real photos through the real download path, pose model and measurement."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.helpers.http_server import LocalHTTPServer
from tests.helpers.processes import wait_until
from tests.http.conftest import ALLOWED_HOSTS, PNG, StartApi, estimate, person, png_bytes
from wearon.adapters.download import SafeDownloader
from wearon.http.schemas import EstimateResponse
from wearon.services.sizing import MAX_CONCURRENT_ESTIMATES

HEIGHT = 175.0
SIZES = {"XS", "S", "M", "L", "XL", "XXL"}


@pytest.mark.parametrize("photo", ["/person.png", "/person2.png"])
def test_a_full_body_gives_a_size_and_adult_measurements(
    api: httpx.Client, photos: LocalHTTPServer, photo: str
) -> None:
    response = estimate(api, photos.url(photo), HEIGHT)
    assert response.status_code == 200, response.text
    body = EstimateResponse.model_validate(response.json())
    m = body.measurements
    assert 0.20 * HEIGHT <= m.shoulder_width <= 0.26 * HEIGHT
    assert 0.48 * HEIGHT <= m.chest <= 0.72 * HEIGHT
    assert 0.16 * HEIGHT <= m.hip_width <= 0.23 * HEIGHT
    assert m.chest_width < m.shoulder_width < 0.5 * HEIGHT
    assert body.recommended_size in SIZES
    assert sum(body.size_probabilities.values()) == pytest.approx(1.0, abs=0.01)
    assert body.size_probability == max(body.size_probabilities.values())
    assert 0 < body.confidence <= 1
    assert all(0 < sd < 0.25 * getattr(m, name) for name, sd in body.uncertainty_cm.items())


def test_the_download_went_over_http_to_the_photo_server(api: httpx.Client, photos: LocalHTTPServer) -> None:
    before = len(photos.requests_to("/person.png"))
    assert estimate(api, photos.url("/person.png")).status_code == 200
    assert len(photos.requests_to("/person.png")) == before + 1


def test_a_crop_without_legs_says_what_is_missing(api: httpx.Client, photos: LocalHTTPServer) -> None:
    response = estimate(api, photos.url("/no-legs.png"))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "body_incomplete"
    assert "ankles not visible" in error["message"].lower()
    assert "knees" in error["message"].lower()


def test_a_picture_with_no_person_is_refused(api: httpx.Client, photos: LocalHTTPServer) -> None:
    response = estimate(api, photos.url("/wall.png"))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "no_person"
    assert "no person" in response.json()["error"]["message"].lower()


def test_a_body_in_mid_movement_is_refused_with_what_to_fix(
    api: httpx.Client, photos: LocalHTTPServer
) -> None:
    response = estimate(api, photos.url("/kick.jpg"))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "pose_not_upright"
    assert "stand upright" in response.json()["error"]["message"]


def test_a_mirrored_copy_gets_the_same_size(api: httpx.Client, photos: LocalHTTPServer) -> None:
    original = estimate(api, photos.url("/person.png")).json()
    mirrored = estimate(api, photos.url("/mirrored.png")).json()
    assert mirrored["recommended_size"] == original["recommended_size"]
    assert mirrored["measurements"] == pytest.approx(original["measurements"], rel=0.02)


def test_half_resolution_measures_within_5_percent(api: httpx.Client, photos: LocalHTTPServer) -> None:
    full = estimate(api, photos.url("/person.png")).json()["measurements"]
    half = estimate(api, photos.url("/half.png")).json()["measurements"]
    for name, value in full.items():
        assert half[name] == pytest.approx(value, rel=0.05), name


def test_measurements_scale_with_the_stated_height(api: httpx.Client, photos: LocalHTTPServer) -> None:
    short = estimate(api, photos.url("/person.png"), 160).json()["measurements"]
    tall = estimate(api, photos.url("/person.png"), 192).json()["measurements"]
    # The waist line crosses no arm here; where an arm is cut away, its radius is a fixed number of
    # centimetres, not a fraction of the height, so those breadths scale only nearly.
    assert tall["waist_width"] == pytest.approx(short["waist_width"] * 192 / 160, rel=0.01)
    assert tall["chest"] == pytest.approx(short["chest"] * 192 / 160, rel=0.03)


def test_the_request_id_is_echoed_or_made_up(api: httpx.Client, photos: LocalHTTPServer) -> None:
    given = api.post(
        "/estimate-body",
        json={"image_url": photos.url("/wall.png"), "height_cm": 170},
        headers={"X-Request-ID": "app-1234"},
    )
    assert given.headers["X-Request-ID"] == "app-1234"
    made_up = api.get("/health", headers={"X-Request-ID": "bad id\twith tab"})
    assert made_up.headers["X-Request-ID"] not in ("", "bad id\twith tab")
    assert len(made_up.headers["X-Request-ID"]) == 32


def drip(hold: threading.Event) -> Iterator[bytes]:
    """A PNG's first bytes, one a second, until the client gives up or the test ends."""
    for byte in png_bytes(person())[:60]:
        yield bytes([byte])
        if hold.wait(1.0):
            return


def test_slow_downloads_do_not_hold_the_estimate_slots(start_api: StartApi, photos: LocalHTTPServer) -> None:
    # Given the 8 estimate slots' worth of URLs that drip a byte a second (cut at 8 s)
    hold = threading.Event()
    photos.route("/drip.png", headers=PNG, body=lambda: drip(hold))
    downloader = SafeDownloader(
        allowed_hosts=frozenset(ALLOWED_HOSTS), allow_private_networks=True, timeout_s=8
    )
    with start_api(fetcher=downloader) as client, ThreadPoolExecutor(MAX_CONCURRENT_ESTIMATES) as pool:
        before = len(photos.requests_to("/drip.png"))
        dripping = [
            pool.submit(estimate, client, photos.url("/drip.png")) for _ in range(MAX_CONCURRENT_ESTIMATES)
        ]
        wait_until(lambda: len(photos.requests_to("/drip.png")) == before + MAX_CONCURRENT_ESTIMATES, 10)
        # When a valid request comes in
        response = estimate(client, photos.url("/person.png"))
        # Then it is answered while every slow download is still going
        assert response.status_code == 200, response.text
        assert not any(request.done() for request in dripping)
        hold.set()  # (each then ends with a truncated PNG, refused)
        assert {request.result().status_code for request in dripping} == {422}
