"""The API's one middleware (wearon/http/middleware.py) under a real uvicorn: what a request's
metrics and log lines say when the request itself is hostile or the client goes away."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from loguru import logger

from tests.helpers.processes import wait_until
from tests.http.conftest import StartApi, api_settings
from wearon.log import configure_logging


def series(metrics: str, name: str) -> list[str]:
    return [line for line in metrics.splitlines() if line.startswith(name + "{")]


def requests_with(client: httpx.Client, status: str) -> float:
    """The count of POST /estimate-body requests answered `status` (the registry is per process)."""
    labels = f'method="POST",route="/estimate-body",status="{status}"'
    found = re.search(rf"^wearon_http_requests_total\{{{labels}\}} (\S+)$", client.get("/metrics").text, re.M)
    return float(found.group(1)) if found else 0.0


def test_made_up_methods_are_counted_as_other(api: httpx.Client) -> None:
    # Given 300 requests, each with a method of its own
    before = api.get("/metrics").text
    for n in range(300):
        assert api.request(f"MADEUP{n}", "/health").status_code == 405
    api.request("get", "/health")  # methods are case-sensitive: not GET
    after = api.get("/metrics").text
    # Then they share one label value, and the exposition grew by a handful of series at most
    assert "MADEUP" not in after
    assert 'wearon_http_requests_total{method="other",route="/health",status="405"}' in after
    assert (
        len(series(after, "wearon_http_requests_total")) - len(series(before, "wearon_http_requests_total"))
        <= 3
    )


def test_every_label_value_comes_from_a_fixed_set(api: httpx.Client) -> None:
    api.request("PROPFIND", "/no/such/path?x=1")
    api.get("/%2e%2e/etc/passwd")
    labels = re.findall(r'(method|route|status)="([^"]*)"', api.get("/metrics").text)
    methods = {value for name, value in labels if name == "method"}
    routes = {value for name, value in labels if name == "route"}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other"}
    assert routes <= {
        "/estimate-body",
        "/health",
        "/metrics",
        "/openapi.json",
        "/files/{path:path}",
        "unmatched",
    }


@pytest.fixture
def records(start_api: StartApi) -> Iterator[tuple[httpx.Client, list[dict[str, Any]]]]:
    """An app logging at INFO, and every record it logs from then on. (Logging is per process:
    the other apps' level is put back afterwards.)"""
    seen: list[dict[str, Any]] = []
    with start_api(log_level="INFO") as client:
        sink = logger.add(lambda message: seen.append(message.record), level="INFO")
        try:
            yield client, seen
        finally:
            logger.remove(sink)
    configure_logging("api", level=api_settings().log_level)


def access_lines(records: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
    return [r for r in records if r["message"] == "request" and r["extra"]["path"] == path]


def hang_up_mid_body(base_url: str) -> None:
    """Send the headers and the start of a JSON body, then close the connection."""
    host, port = httpx.URL(base_url).host, httpx.URL(base_url).port
    with socket.create_connection((host, port)) as conn:
        conn.sendall(
            b"POST /estimate-body HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"image_url": "http://127.0.0.1/'
        )


def test_a_client_that_hangs_up_is_a_499_logged_at_info(
    records: tuple[httpx.Client, list[dict[str, Any]]],
) -> None:
    client, seen = records
    before = {status: requests_with(client, status) for status in ("499", "500")}
    # When a client hangs up while sending its body
    hang_up_mid_body(str(client.base_url))
    wait_until(lambda: access_lines(seen, "/estimate-body"), 10, what="access log line")
    # Then it is counted as 499, not as a server error, and nothing is logged above INFO
    assert requests_with(client, "499") == before["499"] + 1
    assert requests_with(client, "500") == before["500"]
    assert [(r["level"].name, r["message"]) for r in seen if r["level"].no > 20] == []
    assert any(r["message"] == "client disconnected" for r in seen)
    [access] = access_lines(seen, "/estimate-body")
    assert access["extra"]["status"] == 499
