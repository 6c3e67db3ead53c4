"""One supabase-py client per process, built from the URL and the service-role key."""

from __future__ import annotations

from pydantic import SecretStr
from supabase import Client, ClientOptions, create_client

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
    return create_client(url, service_role_key.get_secret_value(), options)
