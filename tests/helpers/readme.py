"""What the README promises, read from the README itself, so a test checks the code against the
document rather than against a copy of its numbers."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def documented_seconds(setting: str) -> int:
    """The default the README's money rules give a setting, written there as `SETTING` (N s)."""
    found = re.findall(rf"`{setting}` \((\d+) s\)", README.read_text())
    if len(set(found)) != 1:
        raise AssertionError(f"the README gives {setting} no single default: {found}")
    return int(found[0])
