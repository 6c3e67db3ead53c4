"""Every route the API serves: this list is the one place to add one. (With the embedded backend,
`application.local_file_routes` adds its signed `/files/...` links.)"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from wearon.http.estimate import estimate_body
from wearon.http.health import health
from wearon.http.openapi import openapi
from wearon.http.prometheus import metrics

ROUTES: list[BaseRoute] = [
    Route("/estimate-body", estimate_body, methods=["POST"]),
    Route("/health", health, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"], include_in_schema=False),
]
