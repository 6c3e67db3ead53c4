"""Hard photos get answers that match their causes: small photos are named small (never "step
back"), and clothing that widens the silhouette is noticed and said."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from PIL import Image

from tests.helpers.http_server import LocalHTTPServer
from tests.http.conftest import FIXTURES, PNG, StartApi, estimate, png_bytes
from wearon.adapters.pose import PosePool
from wearon.domain.sizing import BodyScan, Joint, View
from wearon.domain.sizing.resolution import skeleton_stature_px

#: Down to where the detector's belief in the ankles gives way (ankles ~0.5 at a fifth of the size).
SCALES = (0.6, 0.5, 0.45, 0.4, 0.36, 0.3, 0.25, 0.2, 0.15)
FIXTURE_PHOTOS = ("basketball1.png", "basketball2.png")
#: What a full body in the frame must never be told.
OUT_OF_FRAME = {"body_incomplete", "head_cut_off"}
LOOSE = {
    "code": "loose_clothing",
    "message": "Loose or bulky clothing: measurements may be too large; a fitted top gives a better result",
}


def downscaled(name: str, scale: float) -> Image.Image:
    photo = Image.open(FIXTURES / name).convert("RGB")
    return photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.Resampling.LANCZOS)


@pytest.fixture(scope="module")
def small_photos() -> Iterator[LocalHTTPServer]:
    with LocalHTTPServer() as server:
        for name in FIXTURE_PHOTOS:
            for scale in SCALES:
                server.route(f"/{scale}/{name}", headers=PNG, body=png_bytes(downscaled(name, scale)))
        yield server


@pytest.mark.parametrize("name", FIXTURE_PHOTOS)
def test_a_downscaled_full_body_is_never_told_a_part_is_out_of_frame(
    api: httpx.Client, small_photos: LocalHTTPServer, name: str
) -> None:
    answers = {scale: estimate(api, small_photos.url(f"/{scale}/{name}")) for scale in SCALES}
    codes = {
        s: r.json()["error"]["code"] if r.status_code == 422 else r.status_code for s, r in answers.items()
    }
    assert not OUT_OF_FRAME & set(codes.values()), codes
    # Measured while the person has enough pixels; below, the photo is named too small, with a size.
    assert codes[0.6] == codes[0.5] == 200, codes
    for scale in (0.36, 0.3, 0.25, 0.2, 0.15):
        error = answers[scale].json()["error"]
        assert error["code"] == "photo_too_small", (scale, error)
        assert "send the photo at" in error["message"]


def test_the_size_named_is_enough(api: httpx.Client, small_photos: LocalHTTPServer) -> None:
    # Given a photo refused as too small, resized to the size the refusal names,
    message = estimate(api, small_photos.url("/0.36/basketball1.png")).json()["error"]["message"]
    width, height = (int(n) for n in message.split("send the photo at ")[1].split(" px")[0].split("x"))
    photo = downscaled("basketball1.png", 1.0).resize((width, height), Image.Resampling.LANCZOS)
    small_photos.route("/named/basketball1.png", headers=PNG, body=png_bytes(photo))
    # then it is measured.
    response = estimate(api, small_photos.url("/named/basketball1.png"))
    assert response.status_code == 200, response.text


class CoatOn:
    """A body detector that widens each person mask across the torso, as a thick coat would."""

    max_side = PosePool.max_side

    def __init__(self, inner: PosePool, cm_each_side: float = 6.0, height_cm: float = 175.0) -> None:
        self._inner, self._cm, self._height = inner, cm_each_side, height_cm

    @property
    def loaded(self) -> bool:
        return self._inner.loaded

    async def detect_views(self, image: Image.Image) -> list[View]:
        return [
            self._widen(v) if isinstance(v, BodyScan) else v for v in await self._inner.detect_views(image)
        ]

    def _widen(self, scan: BodyScan) -> BodyScan:
        reach = round(self._cm / self._height * skeleton_stature_px(scan))
        top = round(min(scan[Joint.LEFT_SHOULDER].y, scan[Joint.RIGHT_SHOULDER].y))
        bottom = round(max(scan[Joint.LEFT_HIP].y, scan[Joint.RIGHT_HIP].y)) + reach
        person = scan.person()
        coat = person.copy()
        for shift in range(1, reach + 1):
            coat[top:bottom, shift:] |= person[top:bottom, :-shift]
            coat[top:bottom, :-shift] |= person[top:bottom, shift:]
        return replace(scan, mask=coat)


@pytest.fixture(scope="module")
def coat_api(start_api: StartApi, pose_pool: PosePool) -> Iterator[httpx.Client]:
    with start_api(detector=CoatOn(pose_pool)) as client:
        yield client


def test_a_widened_silhouette_is_warned_about_and_less_sure(
    api: httpx.Client, coat_api: httpx.Client, photos: LocalHTTPServer
) -> None:
    fitted = estimate(api, photos.url("/person.png")).json()
    coat = estimate(coat_api, photos.url("/person.png")).json()
    assert fitted["warnings"] == []
    assert coat["warnings"] == [LOOSE]
    assert coat["measurements"]["waist"] > fitted["measurements"]["waist"] * 1.15
    assert coat["confidence"] < fitted["confidence"]
    # The excess is carried as uncertainty: the probabilities are spread, not piled on XXL.
    assert coat["uncertainty_cm"]["waist"] > 2 * fitted["uncertainty_cm"]["waist"]
    assert coat["size_probability"] < 0.9


def test_with_a_weight_the_coat_no_longer_decides_the_size(
    coat_api: httpx.Client, photos: LocalHTTPServer
) -> None:
    url = photos.url("/person.png")
    without = coat_api.post("/estimate-body", json={"image_url": url, "height_cm": 175}).json()
    with_weight = coat_api.post(
        "/estimate-body", json={"image_url": url, "height_cm": 175, "weight_kg": 75}
    ).json()
    assert with_weight["warnings"] == [LOOSE]
    assert with_weight["measurements"]["waist"] < without["measurements"]["waist"] - 10
