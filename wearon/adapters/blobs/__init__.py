"""BlobStore adapters: Supabase Storage in production, a local directory embedded by default.

Both accept the same object paths (`object_path_parts`), so a path that one store would refuse
cannot work in the other.
"""

from __future__ import annotations

from wearon.domain.storage_path import is_path_segment
from wearon.errors import BlobPathRejected


def object_path_parts(path: str) -> tuple[str, ...]:
    """The `/`-separated segments of a relative object path, or BlobPathRejected."""
    parts = tuple(path.split("/"))
    if not all(is_path_segment(part) for part in parts):
        raise BlobPathRejected(f"invalid storage path: {path!r}")
    return parts
