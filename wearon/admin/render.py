"""The text form of each read command's answer (its --json form is the same data)."""

from __future__ import annotations

from typing import Any


def age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def letters(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no dead letters"
    lines = [f"{'STORE':9} {'ID':36} {'QUEUE':18} {'AGE':>6} {'KIND':16} {'SESSION':36} REASON"]
    for r in rows:
        lines.append(
            f"{r['store']:9} {r['id']:36} {r['queue']:18} {age(r['age_s']):>6} {r['kind']:16} "
            f"{r['session_id'] or '-':36} {r['reason'][:100]}"
        )
    return "\n".join(lines)


def fields(data: dict[str, Any], indent: str = "") -> str:
    """A nested dict as `key: value` lines."""
    lines = []
    for key, value in data.items():
        if isinstance(value, dict) and value:
            lines.append(f"{indent}{key}:")
            lines.append(fields(value, indent + "  "))
        else:
            lines.append(f"{indent}{key}: {'-' if value is None or value == {} else value}")
    return "\n".join(lines)
