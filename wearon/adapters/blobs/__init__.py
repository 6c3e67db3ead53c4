"""BlobStore adapters: Supabase Storage in production, a local directory embedded by default.

Both accept the same object paths (`object_path_parts`), so a path that one store would refuse
cannot work in the other.
"""

from __future__ import annotations

from wearon.errors import BlobPathRejected

#: Characters a store could read differently from us: an escape, a URL delimiter, a control code.
_UNSAFE = frozenset("\\%?#") | {chr(c) for c in (*range(32), 127)}


def object_path_parts(path: str) -> tuple[str, ...]:
    """The `/`-separated segments of a relative object path, or BlobPathRejected."""
    parts = tuple(path.split("/"))
    if any(part in ("", ".", "..") for part in parts) or not _UNSAFE.isdisjoint(path):
        raise BlobPathRejected(f"invalid storage path: {path!r}")
    return parts
