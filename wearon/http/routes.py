"""Every route the API serves: this list is the one place to add one."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from wearon.http.estimate import estimate_body
from wearon.http.health import health
from wearon.http.metrics import metrics
from wearon.http.openapi import openapi

ROUTES: list[BaseRoute] = [
    Route("/estimate-body", estimate_body, methods=["POST"]),
    Route("/health", health, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"], include_in_schema=False),
]
