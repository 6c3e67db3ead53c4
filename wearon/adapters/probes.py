"""Whether a dependency will serve us, asked once by `wearon-admin check`: Redis (or the broker's
Redis), RabbitMQ, and OpenAI's key. Each returns what it found, or raises Misconfigured (a refusal
no retry changes) or InfrastructureError (no answer).

OpenAI is asked `GET /v1/models`, which costs nothing and counts against no image limit; only its
status and error code are reported, as its message quotes part of the key.
"""

from __future__ import annotations

import httpx
import redis
from pydantic import SecretStr

from wearon.errors import InfrastructureError, Misconfigured

TIMEOUT_S = 10.0


def redis_answers(client: redis.Redis, what: str) -> str:
    try:
        client.ping()
    except (redis.AuthenticationError, redis.exceptions.NoPermissionError) as exc:
        remedy = "check the user and password in its URL, and the user's ACL"
        raise Misconfigured(what, type(exc).__name__, remedy=remedy) from None
    except redis.RedisError as exc:
        raise InfrastructureError(f"{what} unreachable ({type(exc).__name__})") from None
    return f"{what} answers"


def rabbitmq_answers(url: str) -> str:
    import pika  # RabbitMQ's client, as Dramatiq's broker uses it; only this check needs it

    try:
        pika.BlockingConnection(pika.URLParameters(url)).close()
    except pika.exceptions.ProbableAuthenticationError:
        raise Misconfigured("RabbitMQ", "auth", remedy="check the user and password in BROKER_URL") from None
    except pika.exceptions.AMQPError as exc:
        raise InfrastructureError(f"RabbitMQ unreachable ({type(exc).__name__})") from None
    return "RabbitMQ answers"


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
