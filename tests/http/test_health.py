"""/health, /metrics and /openapi.json."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from tests.helpers.asgi import free_port
from tests.helpers.http_server import LocalHTTPServer
from tests.http.conftest import StartApi, estimate
from wearon.adapters.pose import PosePool
from wearon.http.schemas import HealthResponse


def test_ok_when_the_model_is_loaded_and_redis_answers(api: httpx.Client) -> None:
    response = api.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"model": "ok", "redis": "ok"}}


def test_degraded_and_fast_when_redis_is_unreachable(start_api: StartApi) -> None:
    # Given Redis pointed at a port nobody listens on,
    with start_api(redis_url=f"redis://127.0.0.1:{free_port()}/0") as api:
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            response = api.get("/health")
            timings.append(time.perf_counter() - started)
            # then health says degraded, still 200 (sizing does not need Redis),
            assert response.status_code == 200
            assert response.json() == {
                "status": "degraded",
                "checks": {"model": "ok", "redis": "unreachable"},
            }
        # and answers fast every time.
        assert max(timings) < 0.2


def test_degraded_and_fast_when_redis_does_not_answer_at_all(start_api: StartApi) -> None:
    # Given a "Redis" that accepts connections (the kernel's backlog does) and never says a word,
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        with start_api(redis_url=f"redis://127.0.0.1:{silent.getsockname()[1]}/0") as api:
            started = time.perf_counter()
            response = api.get("/health")
            # then the read times out well inside the budget.
            assert time.perf_counter() - started < 0.2
            assert response.json()["checks"]["redis"] == "unreachable"


def test_without_a_loaded_model_health_is_503_and_estimates_wait(
    start_api: StartApi, photos: LocalHTTPServer
) -> None:
    with start_api(detector=PosePool(workers=1)) as api:
        health = api.get("/health")
        assert health.status_code == 503
        assert HealthResponse.model_validate(health.json()).checks.model == "not_loaded"
        refused = estimate(api, photos.url("/person.png"))
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "not_ready"


def test_metrics_count_requests_by_route_and_status(api: httpx.Client, photos: LocalHTTPServer) -> None:
    estimate(api, photos.url("/person.png"))
    api.get("/no/such/path")
    text = api.get("/metrics").text
    assert 'wearon_http_requests_total{method="POST",route="/estimate-body",status="200"}' in text
    assert 'wearon_http_requests_total{method="GET",route="unmatched",status="404"}' in text
    assert (
        'wearon_http_request_duration_seconds_bucket{le="0.5",method="POST",route="/estimate-body"}' in text
    )
    assert 'wearon_http_requests_in_flight{route="/metrics"} 1.0' in text


def test_health_is_exported_as_a_gauge(start_api: StartApi, api: httpx.Client) -> None:
    with start_api(redis_url=f"redis://127.0.0.1:{free_port()}/0") as degraded:
        degraded.get("/health")
        assert "wearon_api_health_ok 0.0" in degraded.get("/metrics").text
    api.get("/health")
    assert "wearon_api_health_ok 1.0" in api.get("/metrics").text


def test_health_exports_which_part_fails(start_api: StartApi, api: httpx.Client) -> None:
    # Given a replica whose Redis is unreachable (its model loaded),
    with start_api(redis_url=f"redis://127.0.0.1:{free_port()}/0") as degraded:
        degraded.get("/health")
        text = degraded.get("/metrics").text
        # then its metrics say which part failed, for ApiHealthDegraded to name it.
        assert 'wearon_api_health_check_ok{check="redis"} 0.0' in text
        assert 'wearon_api_health_check_ok{check="model"} 1.0' in text
    api.get("/health")
    assert 'wearon_api_health_check_ok{check="redis"} 1.0' in api.get("/metrics").text


def test_health_exports_a_model_that_is_not_loaded(start_api: StartApi) -> None:
    with start_api(detector=PosePool(workers=1)) as api:
        api.get("/health")
        assert 'wearon_api_health_check_ok{check="model"} 0.0' in api.get("/metrics").text


def test_metrics_are_prometheus_text(api: httpx.Client) -> None:
    response = api.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")


def test_the_openapi_schema_is_published(api: httpx.Client) -> None:
    schema = api.get("/openapi.json").json()
    assert schema["openapi"].startswith("3.1")
    request = schema["components"]["schemas"]["EstimateRequest"]
    assert request["properties"]["height_cm"]["minimum"] == 100
    assert request["properties"]["height_cm"]["maximum"] == 250
    assert set(request["required"]) == {"image_url", "height_cm"}
    assert set(schema["paths"]) == {"/estimate-body", "/health", "/metrics"}


@pytest.mark.parametrize("path", ["/health", "/metrics", "/openapi.json"])
def test_get_routes_refuse_post(api: httpx.Client, path: str) -> None:
    assert api.post(path).status_code == 405
