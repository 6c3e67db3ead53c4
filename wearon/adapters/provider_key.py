"""Whether OpenAI accepts our API key: `GET /v1/models`, which costs nothing and counts against no
image limit. Only the status and OpenAI's error code are reported: its message quotes part of the
key."""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from wearon.errors import InfrastructureError, Misconfigured

TIMEOUT_S = 10.0


def check_provider_key(base_url: str, api_key: SecretStr) -> str:
    """What OpenAI says of the key; raises Misconfigured when it refuses it, InfrastructureError
    when it does not answer."""
    headers = {"Authorization": f"Bearer {api_key.get_secret_value()}"}
    try:
        answer = httpx.get(f"{base_url.rstrip('/')}/models", headers=headers, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise InfrastructureError(f"provider unreachable ({type(exc).__name__})") from None
    if answer.status_code in (401, 403):
        raise Misconfigured("provider models", f"{answer.status_code} {_code_of(answer)}", remedy=_REMEDY)
    if not answer.is_success:
        raise InfrastructureError(f"provider answered {answer.status_code}")
    return f"OpenAI accepts the key ({base_url})"


_REMEDY = "set OPENAI_API_KEY to a key of the organization and project with GPT Image access"


def _code_of(answer: httpx.Response) -> str:
    try:
        error = answer.json().get("error") or {}
    except (ValueError, AttributeError):
        return "no error code"
    return str(error.get("code") or error.get("type") or "no error code")
