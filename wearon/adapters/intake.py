"""The switch an operator pauses the bridges' intake with: while the key exists, every bridge
leaves the tasks list alone (wearon.bridge.bridge.Bridge.paused); tasks wait there, none is lost."""

from __future__ import annotations

from datetime import UTC, datetime

from redis import Redis

from wearon import keys


class IntakeSwitch:
    def __init__(self, client: Redis) -> None:
        self._redis = client

    def pause(self, by: str) -> None:
        self._redis.set(keys.INTAKE_PAUSED, f"{by} at {datetime.now(UTC).isoformat()}")

    def resume(self) -> bool:
        """False when intake was not paused."""
        return bool(self._redis.delete(keys.INTAKE_PAUSED))

    def paused_by(self) -> str | None:
        found: bytes | None = self._redis.get(keys.INTAKE_PAUSED)  # type: ignore[assignment]
        return found.decode() if found is not None else None
