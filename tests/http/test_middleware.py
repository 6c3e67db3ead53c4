"""The API's one middleware (wearon/http/middleware.py) under a real uvicorn: what a request's
metrics and log lines say when the request itself is hostile or the client goes away."""

from __future__ import annotations

import re

import httpx


def series(metrics: str, name: str) -> list[str]:
    return [line for line in metrics.splitlines() if line.startswith(name + "{")]


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
