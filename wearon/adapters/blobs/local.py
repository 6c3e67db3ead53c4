"""The embedded BlobStore: files under a directory, served by the API at `/files/{path}` through
HMAC-signed links that expire, like Supabase's signed URLs.

A link is `{base_url}/files/{path}?expires=<unix seconds>&sig=<hex HMAC-SHA256(key, path, expires)>`;
`verify` is what the `/files` route calls. The key is shared by every local process through a file
(`load_or_create_key`), so a link signed by the worker is accepted by the API.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from urllib.parse import quote

from wearon.adapters.blobs import object_path_parts
from wearon.errors import BlobPathRejected, ConfigError, InfrastructureError, LinkRejected, Misconfigured

KEY_BYTES = 32
#: Unix seconds have 10 digits until 2286; a longer `expires` is not ours (and int() of a huge
#: digit string is slow or refused).
MAX_EXPIRES_DIGITS = 12


def load_or_create_key(path: Path) -> bytes:
    """The signing key shared by every local process: created once (0600), never committed."""
    if not path.exists():
        _create_key(path)
    key = path.read_bytes()
    if len(key) < KEY_BYTES:
        raise ConfigError(f"signing key {path} is shorter than {KEY_BYTES} bytes; delete it to renew")
    return key


def _create_key(path: Path) -> None:
    # Written whole to a private temporary file, then linked into place: a process starting at the
    # same time either wins or reads the winner's key, never a half-written one.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".key-")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(KEY_BYTES))
        with suppress(FileExistsError):  # another process won; its key is as good
            os.link(tmp, path)
    finally:
        os.unlink(tmp)


class LocalBlobStore:
    def __init__(self, root: Path, base_url: str, key: bytes) -> None:
        self._root = root
        self._base_url = base_url.rstrip("/")
        self._key = key

    def upload(self, path: str, data: bytes, content_type: str) -> None:
        target = self._resolve(path)
        try:
            _write_atomically(target, data)
        except OSError as exc:
            raise InfrastructureError(f"local storage failed: {exc.strerror or type(exc).__name__}") from None

    def exists(self, path: str) -> bool:
        return self._resolve(path).is_file()

    def check(self) -> None:
        """The files' folder can be written (created here if missing, as the first upload would)."""
        try:
            self._root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise Misconfigured("local storage", "not_writable", f"{self._root}: {exc.strerror}") from None
        if not os.access(self._root, os.W_OK | os.X_OK):
            raise Misconfigured("local storage", "not_writable", str(self._root))

    def signed_url(self, path: str, ttl_s: int, now: float | None = None) -> str:
        self._resolve(path)
        expires = int((time.time() if now is None else now) + ttl_s)
        return f"{self._base_url}/files/{quote(path)}?expires={expires}&sig={self._sign(path, expires)}"

    def verify(self, path: str, expires: str, sig: str, now: float | None = None) -> Path:
        """The file a signed link points to, or LinkRejected."""
        # Compared as bytes: compare_digest refuses non-ASCII str, and `sig` is the caller's input.
        valid = expires.isascii() and expires.isdigit() and len(expires) <= MAX_EXPIRES_DIGITS
        if not valid or not hmac.compare_digest(self._sign(path, int(expires)).encode(), sig.encode()):
            raise LinkRejected("link_invalid", "this link is not valid")
        if int(expires) < (time.time() if now is None else now):
            raise LinkRejected("link_expired", "this link has expired")
        try:
            target = self._resolve(path)
        except BlobPathRejected:
            raise LinkRejected("invalid_path", "this link is not valid") from None
        if not target.is_file():
            raise LinkRejected("not_found", "no such file")
        return target

    def _sign(self, path: str, expires: int) -> str:
        # The separator keeps ("a1", 23) and ("a", 123) apart.
        return hmac.new(self._key, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def _resolve(self, path: str) -> Path:
        return self._root.joinpath(*object_path_parts(path))


def _write_atomically(target: Path, data: bytes) -> None:
    """Write then rename: a reader never sees half a file, and a retried upload simply replaces it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
