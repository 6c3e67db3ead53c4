"""Every bad input gets its own clear 4xx in the one error shape, and the server keeps serving."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.helpers.http_server import LocalHTTPServer
from tests.http.conftest import StartApi, estimate

FIFTY_MB = 50 * 1024 * 1024


@pytest.fixture(autouse=True)
def still_serving(api: httpx.Client) -> Iterator[None]:
    """After each bad request, the same server still answers."""
    yield
    assert api.get("/health").status_code == 200


def error_of(response: httpx.Response, status: int) -> dict[str, str]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert "Traceback" not in response.text
    return dict(body["error"])


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"height_cm": 175}, "image_url"),
        ({"image_url": "http://127.0.0.1/a.png"}, "height_cm"),
        ({}, "image_url"),
    ],
)
def test_a_missing_field_is_named(api: httpx.Client, payload: dict[str, Any], field: str) -> None:
    error = error_of(api.post("/estimate-body", json=payload), 422)
    assert error["code"] == "invalid_request"
    assert f"{field}: Field required" in error["message"]


@pytest.mark.parametrize(
    "payload",
    [
        {"image_url": "http://127.0.0.1/a.png", "height_cm": "175"},
        {"image_url": "http://127.0.0.1/a.png", "height_cm": True},
        {"image_url": "http://127.0.0.1/a.png", "height_cm": None},
        {"image_url": "http://127.0.0.1/a.png", "height_cm": [175]},
        {"image_url": 12345, "height_cm": 175},
        {"image_url": ["http://127.0.0.1/a.png"], "height_cm": 175},
    ],
)
def test_a_wrong_type_is_refused(api: httpx.Client, payload: dict[str, Any]) -> None:
    assert error_of(api.post("/estimate-body", json=payload), 422)["code"] == "invalid_request"


@pytest.mark.parametrize("height", [99, 99.99, 250.01, 251, -175, 0])
def test_a_height_out_of_range_is_refused(api: httpx.Client, height: float) -> None:
    error = error_of(estimate(api, "http://127.0.0.1/a.png", height), 422)
    assert error["code"] == "invalid_request"
    assert error["message"].startswith("height_cm:")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_height_that_is_not_finite_is_refused(api: httpx.Client, literal: str) -> None:
    content = '{"image_url": "http://127.0.0.1/a.png", "height_cm": ' + literal + "}"
    response = api.post("/estimate-body", content=content, headers={"Content-Type": "application/json"})
    error = error_of(response, 422)
    assert error["message"] == "height_cm: Input should be a finite number"


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/a.png", "file:///etc/passwd", "127.0.0.1/a.png", ""])
def test_an_url_that_is_not_http_is_refused(api: httpx.Client, url: str) -> None:
    error = error_of(estimate(api, url), 422)
    assert error["message"].startswith("image_url:")


@pytest.mark.parametrize(
    "content", [b"not json", b'{"image_url": ', b"\xff\xfe\x00garbage", b"[" * 5000 + b"]" * 5000]
)
def test_a_body_that_is_not_json_is_refused(api: httpx.Client, content: bytes) -> None:
    response = api.post("/estimate-body", content=content, headers={"Content-Type": "application/json"})
    assert error_of(response, 400)["code"] == "invalid_json"


def test_json_that_is_not_an_object_is_refused(api: httpx.Client) -> None:
    assert error_of(api.post("/estimate-body", json=[1, 2]), 422)["message"].startswith("body:")


def test_a_body_that_is_not_declared_json_is_refused(api: httpx.Client) -> None:
    response = api.post("/estimate-body", data={"image_url": "http://127.0.0.1/a.png", "height_cm": "175"})
    assert error_of(response, 415)["code"] == "unsupported_media_type"


def test_a_50_mb_body_is_refused_before_it_is_read(api: httpx.Client) -> None:
    # Given a request declaring 50 MB, of which only the first megabyte is ever sent,
    status, body = _raw_post(api, headers={"Content-Length": str(FIFTY_MB)}, first_bytes=1024 * 1024)
    # then the answer is 413 without waiting for the rest.
    assert status == 413
    assert b'"body_too_large"' in body


def test_a_50_mb_chunked_body_is_cut_off_while_streaming(api: httpx.Client) -> None:
    # Given a chunked upload of 50 MB, sent until the server stops reading it
    status, body = _raw_chunked_post(api, total_bytes=FIFTY_MB)
    # then the answer, already sent, is 413 (a server that hung up without one fails here)
    assert status == 413
    assert b'"body_too_large"' in body


def _raw_post(api: httpx.Client, headers: dict[str, str], first_bytes: int) -> tuple[int, bytes]:
    """POST by hand, sending only `first_bytes` of the body, and read the answer."""
    with _connection(api, headers) as sock:
        sock.sendall(b" " * first_bytes)
        return _read_answer(sock)


def _raw_chunked_post(api: httpx.Client, total_bytes: int) -> tuple[int, bytes]:
    """POST a chunked body of `total_bytes` by hand, stopping when the server closes the connection
    (it has answered and will read no more), and read the answer it sent."""
    chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"
    with _connection(api, {"Transfer-Encoding": "chunked"}) as sock:
        # A server that stops reading and closes makes the next sends fail; what it answered
        # before closing is still there to read.
        with suppress(BrokenPipeError, ConnectionResetError):
            for _ in range(total_bytes // 0x10000):
                sock.sendall(chunk)
        return _read_answer(sock)


@contextmanager
def _connection(api: httpx.Client, headers: dict[str, str]) -> Iterator[socket.socket]:
    """A connection to the API with a POST /estimate-body's head sent."""
    url = urlsplit(str(api.base_url))
    lines = [
        "POST /estimate-body HTTP/1.1",
        f"Host: {url.hostname}:{url.port}",
        "Content-Type: application/json",
        *(f"{k}: {v}" for k, v in headers.items()),
        "",
        "",
    ]
    with socket.create_connection((url.hostname or "", url.port or 80), timeout=10) as sock:
        sock.sendall("\r\n".join(lines).encode())
        yield sock


def _read_answer(sock: socket.socket) -> tuple[int, bytes]:
    answer = b""
    with suppress(ConnectionResetError):  # the answer read so far is what counts
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < 20:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), f"the server hung up without an answer: {answer[:200]!r}"
    return int(head.split()[1]), body


# --- URLs the safe-download guard refuses ------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/missing.png", "http_status"),
        ("/page.html", "not_an_image"),
        ("/huge.png", "image_too_large"),
        ("/moved.png", "redirect_refused"),
        ("/corrupt.png", "corrupt_image"),
    ],
)
def test_an_unusable_image_url_is_refused(
    api: httpx.Client, photos: LocalHTTPServer, path: str, code: str
) -> None:
    assert error_of(estimate(api, photos.url(path)), 422)["code"] == code


def test_a_redirect_is_not_followed(api: httpx.Client, photos: LocalHTTPServer) -> None:
    before = len(photos.requests_to("/person.png"))
    estimate(api, photos.url("/moved.png"))
    assert len(photos.requests_to("/person.png")) == before


def test_the_metadata_address_is_refused_even_when_allowed_by_name(api: httpx.Client) -> None:
    error = error_of(estimate(api, "http://169.254.169.254/latest/meta-data/"), 422)
    assert error["code"] == "address_not_allowed"


def test_a_host_off_the_allow_list_is_refused(api: httpx.Client) -> None:
    error = error_of(estimate(api, "https://example.com/photo.jpg"), 422)
    assert error["code"] == "host_not_allowed"


def test_loopback_is_refused_when_private_networks_are_not_allowed(
    start_api: StartApi, photos: LocalHTTPServer
) -> None:
    with start_api(download_allow_private_networks=False) as strict:
        error = error_of(estimate(strict, photos.url("/person.png")), 422)
        assert error["code"] == "address_not_allowed"
        assert strict.get("/health").status_code == 200


# --- routes and methods ------------------------------------------------------------------------


def test_an_unknown_path_is_a_json_404(api: httpx.Client) -> None:
    assert error_of(api.get("/nope"), 404)["code"] == "not_found"


def test_a_wrong_method_is_a_json_405(api: httpx.Client) -> None:
    response = api.get("/estimate-body")
    assert error_of(response, 405)["code"] == "method_not_allowed"
    assert response.headers["Allow"] == "POST"


def test_after_all_that_a_good_request_still_works(api: httpx.Client, photos: LocalHTTPServer) -> None:
    assert estimate(api, photos.url("/person.png")).status_code == 200


def _chart(*sizes: dict[str, Any]) -> dict[str, Any]:
    return {"name": "shop", "sizes": list(sizes)}


@pytest.mark.parametrize(
    ("chart", "message"),
    [
        (
            _chart({"size": "S", "chest": [86, 94]}, {"size": "M", "chest": [92, 102]}),
            "size_chart: the chest ranges of S and M overlap or are out of order",
        ),
        (
            _chart({"size": "M", "chest": [94, 102]}, {"size": "S", "chest": [86, 94]}),
            "size_chart: the chest ranges of M and S overlap or are out of order",
        ),
        (
            _chart({"size": "S", "chest": [94, 86]}, {"size": "M", "chest": [94, 102]}),
            "size_chart: size S: the chest range must run from low to high",
        ),
        (
            _chart({"size": "S", "chest": [86, 94], "waist": [70, 78]}, {"size": "M", "chest": [94, 102]}),
            "size_chart: size M gives chest; every size must give chest, waist",
        ),
        (
            _chart({"size": "S"}, {"size": "M"}),
            "size_chart: each size needs at least one of chest, waist and hip",
        ),
        (
            _chart({"size": "S", "hip": [86, 94]}, {"size": "S", "hip": [94, 102]}),
            "size_chart: size names must differ; repeated: S",
        ),
    ],
)
def test_a_size_chart_that_cannot_be_used_says_why(
    api: httpx.Client, chart: dict[str, Any], message: str
) -> None:
    payload = {"image_url": "http://127.0.0.1/a.png", "height_cm": 175, "size_chart": chart}
    error = error_of(api.post("/estimate-body", json=payload), 422)
    assert error["code"] == "invalid_size_chart"
    assert error["message"].startswith(message)


@pytest.mark.parametrize(
    ("chart", "where"),
    [
        ("kids_tops", "size_chart"),
        (
            _chart(*({"size": str(i), "chest": [60 + 4 * i, 64 + 4 * i]} for i in range(21))),
            "size_chart.MerchantChart.sizes",
        ),
        (_chart({"size": "S", "chest": [86, 94]}), "size_chart.MerchantChart.sizes"),
        (
            _chart({"size": "S", "chest": [86]}, {"size": "M", "chest": [94, 102]}),
            "size_chart.MerchantChart.sizes.0.chest",
        ),
        (
            _chart({"size": "S", "chest": [86, 1e9]}, {"size": "M", "chest": [94, 102]}),
            "size_chart.MerchantChart.sizes.0.chest.1",
        ),
        (
            _chart({"size": "S", "neck": [36, 38]}, {"size": "M", "chest": [94, 102]}),
            "size_chart.MerchantChart.sizes.0.neck",
        ),
    ],
)
def test_a_size_chart_of_the_wrong_shape_is_refused(api: httpx.Client, chart: Any, where: str) -> None:
    payload = {"image_url": "http://127.0.0.1/a.png", "height_cm": 175, "size_chart": chart}
    error = error_of(api.post("/estimate-body", json=payload), 422)
    assert error["code"] == "invalid_request"
    assert where in error["message"]


@pytest.mark.parametrize("weight", [29.9, 300.1, -80, "80", True])
def test_a_weight_out_of_range_or_not_a_number_is_refused(api: httpx.Client, weight: Any) -> None:
    payload = {"image_url": "http://127.0.0.1/a.png", "height_cm": 175, "weight_kg": weight}
    error = error_of(api.post("/estimate-body", json=payload), 422)
    assert error["code"] == "invalid_request"
    assert error["message"].startswith("weight_kg:")
