"""The blob contract for both stores: uploads replace, signed links work, and stop working."""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from tests.helpers.asgi import free_port
from tests.helpers.backends import Backend, SupabaseBackend
from tests.standins.supabase import SERVICE_ROLE_KEY
from wearon.adapters.blobs.local import LocalBlobStore, load_or_create_key
from wearon.adapters.blobs.supabase import SupabaseBlobStore
from wearon.adapters.supabase_client import create_supabase_client
from wearon.errors import BlobPathRejected, ConfigError, InfrastructureError, LinkRejected, Misconfigured
from wearon.ports import BlobStore

PATH = "generated/u1/11111111-2222-3333-4444-555555555555.jpg"
HOUR = 3600
KEY = b"k" * 32


def follow(backend: Backend, url: str, *, later_s: float = 0.0) -> bytes | None:
    """Follow a signed link `later_s` from now, as its consumer would; None when it is refused."""
    if isinstance(backend, SupabaseBackend):
        backend.standin.clock = lambda: time.time() + later_s
        response = httpx.get(url, timeout=10)
        return response.content if response.status_code == 200 else None
    parts, query = urlsplit(url), parse_qs(urlsplit(url).query)
    path, expires, sig = unquote(parts.path.removeprefix("/files/")), query["expires"][0], query["sig"][0]
    try:
        file = backend.local_blobs.verify(path, expires, sig, now=time.time() + later_s)
    except LinkRejected:
        return None
    return file.read_bytes()


def test_upload_then_sign_then_fetch(backend: Backend) -> None:
    backend.blobs.upload(PATH, b"first", "image/jpeg")
    url = backend.blobs.signed_url(PATH, 6 * HOUR)
    assert url.startswith("http://127.0.0.1:")
    assert follow(backend, url) == b"first"


def test_exists_tells_a_stored_result_from_a_missing_one(backend: Backend) -> None:
    # What a retried generation checks before paying the provider again
    assert backend.blobs.exists(PATH) is False
    backend.blobs.upload(PATH, b"first", "image/jpeg")
    assert backend.blobs.exists(PATH) is True


def test_a_second_upload_replaces_the_first(backend: Backend) -> None:
    # A retried task uploads again: that must succeed and leave the newer image.
    backend.blobs.upload(PATH, b"first", "image/jpeg")
    backend.blobs.upload(PATH, b"second", "image/jpeg")
    assert backend.stored(PATH) == b"second"
    assert follow(backend, backend.blobs.signed_url(PATH, HOUR)) == b"second"


def test_a_link_expires(backend: Backend) -> None:
    backend.blobs.upload(PATH, b"data", "image/jpeg")
    url = backend.blobs.signed_url(PATH, HOUR)
    assert follow(backend, url, later_s=HOUR - 60) == b"data"
    assert follow(backend, url, later_s=HOUR + 60) is None


def test_a_tampered_link_is_refused(backend: Backend) -> None:
    backend.blobs.upload(PATH, b"data", "image/jpeg")
    url = backend.blobs.signed_url(PATH, HOUR)
    forged = url[:-4] + ("0000" if not url.endswith("0000") else "1111")
    assert follow(backend, forged) is None


def test_a_link_opens_only_its_own_file(backend: Backend) -> None:
    other = "generated/u2/other.jpg"
    backend.blobs.upload(PATH, b"mine", "image/jpeg")
    backend.blobs.upload(other, b"theirs", "image/jpeg")
    url = backend.blobs.signed_url(PATH, HOUR)
    assert follow(backend, url.replace(PATH, other)) is None


BAD_PATHS = ["../etc/passwd", "/abs/path.jpg", "a/../../b.jpg", "a//b.jpg", "a/./b.jpg", "", "a\\..\\b"]
BAD_PATHS += ["a%2F..%2Fb", "a/b\x00.jpg", "a/b.jpg?x=1", "a/b.jpg#frag", "a/"]


@pytest.mark.parametrize("path", BAD_PATHS)
def test_paths_cannot_escape_or_be_ambiguous(backend: Backend, path: str) -> None:
    with pytest.raises(BlobPathRejected):
        backend.blobs.upload(path, b"data", "image/jpeg")
    with pytest.raises(BlobPathRejected):
        backend.blobs.signed_url(path, HOUR)


def test_an_unavailable_store_is_an_infrastructure_error(backend: Backend, tmp_path: Path) -> None:
    if isinstance(backend, SupabaseBackend):
        backend.standin.outage = True
        blobs: BlobStore = backend.blobs
    else:
        (tmp_path / "a-file").write_bytes(b"")  # the root cannot be created: a file is in the way
        blobs = LocalBlobStore(tmp_path / "a-file", "http://x", KEY)
    with pytest.raises(InfrastructureError):
        blobs.upload(PATH, b"data", "image/jpeg")


# --- Supabase Storage -----------------------------------------------------------------------------


def test_supabase_storage_unreachable_is_an_infrastructure_error_without_the_key() -> None:
    client = create_supabase_client(f"http://127.0.0.1:{free_port()}", SecretStr(SERVICE_ROLE_KEY))
    with pytest.raises(InfrastructureError) as caught:
        SupabaseBlobStore(client, "images").upload(PATH, b"data", "image/jpeg")
    assert SERVICE_ROLE_KEY not in str(caught.value)


@pytest.mark.parametrize("failure", ["outage", "proxy_error"])
def test_supabase_signing_during_an_outage(supabase: SupabaseBackend, failure: str) -> None:
    supabase.blobs.upload(PATH, b"data", "image/jpeg")
    setattr(supabase.standin, failure, True)
    with pytest.raises(InfrastructureError):
        supabase.blobs.signed_url(PATH, HOUR)


def test_an_unknown_bucket_is_refused_as_supabase_storage_refuses_it(supabase: SupabaseBackend) -> None:
    # Supabase Storage renders its 404 errors as HTTP 400 with statusCode "404" in the body.
    headers = {"apikey": SERVICE_ROLE_KEY, "Authorization": f"Bearer {SERVICE_ROLE_KEY}"}
    answer = httpx.post(
        f"{supabase.url}/storage/v1/object/generations/{PATH}",
        files={"file": ("a.jpg", b"x")},
        headers=headers,
    )
    assert answer.status_code == 400
    assert answer.json() == {"statusCode": "404", "error": "Bucket not found", "message": "Bucket not found"}
    client = create_supabase_client(supabase.url, SecretStr(SERVICE_ROLE_KEY))
    with pytest.raises(Misconfigured, match="Bucket not found"):
        SupabaseBlobStore(client, "generations").upload(PATH, b"data", "image/jpeg")


@pytest.mark.parametrize("content_type", ["image/jpeg", "image/png"])
def test_an_object_is_served_with_the_type_it_was_uploaded_with(
    supabase: SupabaseBackend, content_type: str
) -> None:
    supabase.blobs.upload(PATH, b"data", content_type)
    answer = httpx.get(supabase.blobs.signed_url(PATH, HOUR), timeout=10)
    assert (answer.status_code, answer.headers["content-type"]) == (200, content_type)


# --- the local store's links and key --------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires", "sig"),
    [("", ""), ("abc", "00"), ("²", "00"), ("9" * 5000, "00"), ("1", "é" * 64), ("-1", "00")],
)
def test_malformed_local_links_are_refused_not_crashed(tmp_path: Path, expires: str, sig: str) -> None:
    blobs = LocalBlobStore(tmp_path, "http://x", KEY)
    blobs.upload(PATH, b"data", "image/jpeg")
    with pytest.raises(LinkRejected) as caught:
        blobs.verify(PATH, expires, sig)
    assert caught.value.code == "link_invalid"


def test_a_signed_link_to_a_missing_file_is_not_found(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path, "http://x", KEY)
    query = parse_qs(urlsplit(blobs.signed_url("never/uploaded.jpg", HOUR)).query)
    with pytest.raises(LinkRejected) as caught:
        blobs.verify("never/uploaded.jpg", query["expires"][0], query["sig"][0])
    assert caught.value.code == "not_found"


def test_the_signing_key_is_created_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "data" / "signing.key"
    first = load_or_create_key(path)
    assert len(first) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_key(path) == first
    assert [p.name for p in path.parent.iterdir()] == ["signing.key"]  # no temporary left behind


def test_processes_starting_together_share_one_key(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    keys: list[bytes] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        keys.append(load_or_create_key(path))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 8 and len(set(keys)) == 1


def test_a_short_key_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "signing.key").write_bytes(b"short")
    with pytest.raises(ConfigError):
        load_or_create_key(tmp_path / "signing.key")
