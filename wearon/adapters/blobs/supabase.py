"""BlobStore over Supabase Storage: upsert uploads (a retried task may upload twice) and signed URLs.

A refusal is an outage or a misconfiguration (a missing bucket, a refused key), told apart by
`wearon.adapters.supabase_errors`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import httpx
import pydantic
from storage3.types import FileOptions
from storage3.utils import StorageException
from supabase import Client

from wearon.adapters.blobs import object_path_parts
from wearon.adapters.supabase_errors import counted, storage_error
from wearon.errors import InfrastructureError

T = TypeVar("T")


class SupabaseBlobStore:
    def __init__(self, client: Client, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def upload(self, path: str, data: bytes, content_type: str) -> None:
        object_path_parts(path)
        options: FileOptions = {"content-type": content_type, "upsert": "true"}
        self._guard("upload", lambda: self._client.storage.from_(self._bucket).upload(path, data, options))

    def exists(self, path: str) -> bool:
        object_path_parts(path)
        return self._guard("exists", lambda: self._client.storage.from_(self._bucket).exists(path))

    def signed_url(self, path: str, ttl_s: int) -> str:
        """An absolute URL; storage3 joins the server's relative answer to the storage URL."""
        object_path_parts(path)
        signed = self._guard(
            "sign", lambda: self._client.storage.from_(self._bucket).create_signed_url(path, ttl_s)
        )
        url = signed.get("signedURL")
        if not url:
            raise InfrastructureError("storage returned no signed URL")
        return str(url)

    def check(self) -> None:
        self._guard("bucket", lambda: self._client.storage.get_bucket(self._bucket))

    @staticmethod
    def _guard(what: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except StorageException as exc:
            status, code = getattr(exc, "status", "?"), getattr(exc, "code", type(exc).__name__)
            message = getattr(exc, "message", None)
            raise counted(storage_error(f"storage {what}", status, code, message)) from None
        except httpx.HTTPError as exc:
            raise InfrastructureError(f"storage {what}: unreachable ({type(exc).__name__})") from None
        except pydantic.ValidationError:
            raise InfrastructureError(f"storage {what}: unexpected answer") from None
