"""One supabase-py client per process, built from the URL and the service-role key."""

from __future__ import annotations

import httpx
from pydantic import SecretStr
from supabase import Client, ClientOptions, create_client

from wearon import task_deadline

#: Short enough that an outage is noticed (and retried) quickly, long enough for a slow upload.
POSTGREST_TIMEOUT_S = 10
STORAGE_TIMEOUT_S = 30


def create_supabase_client(url: str, service_role_key: SecretStr) -> Client:
    options = ClientOptions(
        postgrest_client_timeout=POSTGREST_TIMEOUT_S,
        storage_client_timeout=STORAGE_TIMEOUT_S,
        auto_refresh_token=False,
        persist_session=False,
    )
    client = create_client(url, service_role_key.get_secret_value(), options)
    # supabase-py takes no timeout per call: each request's are cut on its way out instead.
    for session in (client.postgrest.session, client.storage._client):
        session.event_hooks["request"].append(cut_to_task_deadline)
    return client


def cut_to_task_deadline(request: httpx.Request) -> None:
    """An httpx request hook: every phase's timeout cut to the time the running task has left."""
    if task_deadline.left_s() is None:
        return
    timeouts = request.extensions.get("timeout", {})
    request.extensions["timeout"] = {
        phase: task_deadline.cut(STORAGE_TIMEOUT_S if seconds is None else seconds)
        for phase, seconds in timeouts.items()
    }
