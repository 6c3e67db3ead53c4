"""The API's OpenAPI 3.1 document, built from the pydantic models the endpoints use."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse

from wearon.http.body import MAX_BODY_BYTES
from wearon.http.schemas import ErrorResponse, EstimateRequest, EstimateResponse, HealthResponse

_REF = "#/components/schemas/{model}"


async def openapi(_: Request) -> JSONResponse:
    return JSONResponse(document())


@cache
def document() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in (EstimateRequest, EstimateResponse, ErrorResponse, HealthResponse):
        _add_schema(schemas, model)
    return {
        "openapi": "3.1.0",
        "info": {"title": "WearOn size recommendation", "version": "1.0.0"},
        "paths": {
            "/estimate-body": {"post": _estimate_body()},
            "/health": {"get": _health()},
            "/metrics": {"get": _metrics()},
        },
        "components": {"schemas": schemas},
    }


def _add_schema(schemas: dict[str, Any], model: type[BaseModel]) -> None:
    schema = model.model_json_schema(ref_template=_REF)
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema


def _estimate_body() -> dict[str, Any]:
    return {
        "summary": "Measure a full-body photo and recommend a size",
        "operationId": "estimateBody",
        "requestBody": {
            "required": True,
            "description": f"At most {MAX_BODY_BYTES} bytes.",
            "content": {"application/json": {"schema": {"$ref": _REF.format(model="EstimateRequest")}}},
        },
        "responses": {
            "200": _json("Size, measurements and confidence", "EstimateResponse"),
            "400": _json("The body is not valid JSON", "ErrorResponse"),
            "413": _json("The body is too large", "ErrorResponse"),
            "415": _json("The body is not JSON", "ErrorResponse"),
            "422": _json(
                "A field is missing or invalid (invalid_request), the size chart cannot be used "
                "(invalid_size_chart: overlapping or unordered sizes, ...), the image URL or image "
                "was refused, or the photo shows no measurable full body, or too few pixels of it "
                "(photo_too_small, with the size it needs); the message says what to fix",
                "ErrorResponse",
            ),
            "503": _json("The pose model is not loaded yet", "ErrorResponse"),
        },
    }


def _health() -> dict[str, Any]:
    return {
        "summary": "Whether the pose model is loaded and Redis answers",
        "operationId": "health",
        "responses": {
            "200": _json("ok, or degraded when Redis does not answer", "HealthResponse"),
            "503": _json("The pose model is not loaded", "HealthResponse"),
        },
    }


def _metrics() -> dict[str, Any]:
    return {
        "summary": "Prometheus metrics",
        "operationId": "metrics",
        "responses": {"200": {"description": "Prometheus text format", "content": {"text/plain": {}}}},
    }


def _json(description: str, model: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model=model)}}},
    }
