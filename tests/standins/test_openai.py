"""The OpenAI stand-in refuses what the API refuses, in OpenAI's error shape, so a client that
sends a request the API would refuse fails here too."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.standins.openai import API_KEY, OpenAIStandIn

JPEG = ("person.jpg", b"\xff\xd8\xff\xe0jpeg", "image/jpeg")
GOOD = {"model": "gpt-image-1.5", "prompt": "p", "n": "1"}


@pytest.fixture(scope="module")
def api() -> Iterator[httpx.Client]:
    with (
        OpenAIStandIn().served() as stand,
        httpx.Client(base_url=stand.base_url, headers={"Authorization": f"Bearer {API_KEY}"}) as client,
    ):
        yield client


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["x-request-id"].startswith("req_")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return dict(body["error"])


@pytest.mark.parametrize(
    ("data", "files", "param", "code"),
    [
        ({**GOOD, "prompt": ""}, [("image[]", JPEG)], "prompt", "missing_required_parameter"),
        (GOOD, [], "image", "missing_required_parameter"),
        ({**GOOD, "model": "gpt-imag"}, [("image[]", JPEG)], "model", "invalid_value"),
        (GOOD, [("image[]", ("a.txt", b"hello", "text/plain"))], "image", "unsupported_file_mimetype"),
        ({**GOOD, "output_format": "gif"}, [("image[]", JPEG)], "output_format", "invalid_value"),
        ({**GOOD, "output_compression": "101"}, [("image[]", JPEG)], "output_compression", "invalid_value"),
    ],
)
def test_a_request_the_api_refuses_is_refused(
    api: httpx.Client, data: dict[str, str], files: list[Any], param: str, code: str
) -> None:
    response = api.post("/images/edits", data=data, files=files or None)
    error = error_of(response, 400)
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error")


def test_a_wrong_key_is_refused_and_quoted_masked(api: httpx.Client) -> None:
    response = api.post(
        "/images/edits",
        data=GOOD,
        files=[("image[]", JPEG)],
        headers={"Authorization": "Bearer sk-wrong-0123456789"},
    )
    error = error_of(response, 401)
    assert error["code"] == "invalid_api_key"
    assert "sk-wrong-0123456789" not in error["message"] and "6789" in error["message"]


def test_a_good_request_gets_an_image_and_the_rate_limit_headers(api: httpx.Client) -> None:
    response = api.post("/images/edits", data=GOOD, files=[("image[]", JPEG)])
    assert response.status_code == 200
    assert response.json()["data"][0]["b64_json"]
    assert int(response.headers["x-ratelimit-remaining-requests"]) >= 0


@pytest.mark.parametrize(
    ("output_format", "magic"), [("png", b"\x89PNG"), ("jpeg", b"\xff\xd8"), ("webp", b"RIFF")]
)
def test_the_image_comes_in_the_output_format_asked_for(
    api: httpx.Client, output_format: str, magic: bytes
) -> None:
    data = {**GOOD, "output_format": output_format, "output_compression": "90"}
    response = api.post("/images/edits", data=data, files=[("image[]", JPEG)])
    assert response.json()["output_format"] == output_format
    assert base64.b64decode(response.json()["data"][0]["b64_json"]).startswith(magic)
