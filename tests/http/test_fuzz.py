"""Schema-driven fuzzing: whatever schemathesis sends per the app's own OpenAPI document, the
server answers without a 5xx, and every answer matches the document (status, type, body).

The document is the one the app serves at /openapi.json (checked below); requests go over real
HTTP to the running app. Valid and invalid bodies are both generated, a bounded number of each.
"""

from __future__ import annotations

from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from wearon.http.openapi import document

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]

#: Invalid data must be refused with one of the API's own refusals (stricter than the default list):
#: 413 too, since a body over the size limit is refused before it is parsed.
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": [400, 413, 415, 422]}}}
)
schema = schemathesis.openapi.from_dict(document(), config=CONFIG)


def test_the_fuzzed_document_is_the_one_the_app_serves(api: httpx.Client) -> None:
    assert api.get("/openapi.json").json() == document()


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_makes_the_server_fail(case: schemathesis.Case[Any], api: httpx.Client) -> None:
    case.call_and_validate(base_url=str(api.base_url), checks=CHECKS)
