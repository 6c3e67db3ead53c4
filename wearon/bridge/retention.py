"""Dead letters kept for the retention (DEAD_LETTER_RETENTION_DAYS), and the age of the oldest
published as `wearon_dead_letter_oldest_age_seconds{store=...}`: `bridge` (the bridge's list) and
`dramatiq:<queue>`. Dramatiq expires its own dead messages after the same retention (the broker's
`dead_message_ttl`); the bridge's list has no expiry, so it is pruned here, oldest first, along
with the errors recorded beside Dramatiq's. An alert fires long before anything is pruned."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from loguru import logger
from redis import RedisError

from wearon import metrics
from wearon.adapters.dead_letters.bridge import BridgeDeadLetters
from wearon.adapters.dead_letters.dramatiq import DramatiqDeadLetters

INTERVAL_S = 15.0


class DeadLetterRetention:
    def __init__(
        self,
        bridge: BridgeDeadLetters,
        dramatiq: DramatiqDeadLetters | None,
        *,
        queues: tuple[str, ...],
        retention: timedelta,
    ) -> None:
        self._bridge = bridge
        self._dramatiq = dramatiq
        self._queues = queues
        self._retention = retention

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self._loop, args=(stop,), name="dead-letter-retention", daemon=True)
        thread.start()
        return thread

    def run_once(self, now: datetime | None = None) -> dict[str, float]:
        """Prune what is past the retention, then publish (and return) the oldest ages."""
        now = now or datetime.now(UTC)
        pruned = self._bridge.prune(now - self._retention)
        if self._dramatiq is not None:
            self._dramatiq.prune(now - self._retention)
        if pruned:
            logger.warning("pruned {} bridge dead letters older than {}", pruned, self._retention)
        ages = {name: (now - at).total_seconds() if at else 0.0 for name, at in self._oldest().items()}
        for store, age in ages.items():
            metrics.DEAD_LETTER_OLDEST_AGE.labels(store=store).set(age)
        return ages

    def _oldest(self) -> dict[str, datetime | None]:
        oldest = {"bridge": self._bridge.oldest()}
        if self._dramatiq is not None:
            oldest.update({f"dramatiq:{q}": self._dramatiq.oldest(q) for q in self._queues})
        return oldest

    def _loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.run_once()
            except RedisError as exc:
                logger.debug("dead-letter retention skipped: {}", exc)
            stop.wait(INTERVAL_S)
