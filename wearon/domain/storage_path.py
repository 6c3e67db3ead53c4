"""What may be one segment of a storage object path: the one rule the task model (for the ids it
puts in a path) and both blob stores (for every path they are given) apply."""

from __future__ import annotations

#: Characters a store could read differently from us: a separator, an escape, a URL delimiter, a
#: control code.
_UNSAFE = frozenset("/\\%?#") | {chr(c) for c in (*range(32), 127)}


def is_path_segment(text: str) -> bool:
    """True when `text` names exactly one folder or file, the same one in every store."""
    return text not in ("", ".", "..") and _UNSAFE.isdisjoint(text)
