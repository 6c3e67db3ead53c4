"""LeaseRenewer: one thread per worker process renews the claim leases of every attempt running in
it, a batch per channel every quarter of a lease (CLAIM_LEASE_S).

The renewals are the proof of life a redelivered copy of a message looks for (`ClaimOutcome.HELD`):
they go to the database, not to the broker, so a host cut off from the broker alone (whose messages
the broker hands to another host once its heartbeat is stale) keeps its sessions while it finishes
them. A renewal stops when its attempt ends, and at the attempt's deadline however it ended, so a
thread stuck past its time limit cannot hold a session for ever; an attempt that fails ends its
lease at once, so that its retry is not held back by it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from uuid import UUID

from loguru import logger

from wearon import metrics, task_deadline
from wearon.domain.session import CLAIM_LEASE_S, Lease
from wearon.domain.task import Channel
from wearon.errors import WearOnError
from wearon.ports import SessionStore

#: Renewals per lease: one missed (a slow database) leaves three more before it runs out.
RENEWALS_PER_LEASE = 4


@dataclass(frozen=True)
class _Held:
    channel: Channel
    session_id: UUID
    lease: Lease
    #: Monotonic time after which it is not renewed: the attempt's deadline, if it has one.
    until: float


class ThreadedLeaseRenewer:
    def __init__(
        self,
        store: SessionStore,
        *,
        every_s: float = CLAIM_LEASE_S / RENEWALS_PER_LEASE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._every_s = every_s
        self._clock = clock
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @contextmanager
    def renewing(self, channel: Channel, session_id: UUID, lease: Lease) -> Iterator[None]:
        left = task_deadline.left_s()
        until = self._clock() + (left if left is not None else float("inf"))
        with self._lock:
            self._held[lease.holder] = _Held(channel, session_id, lease, until)
            self._start()
        try:
            yield
        except BaseException:
            self._end(channel, session_id, lease.holder)
            raise
        finally:
            with self._lock:
                self._held.pop(lease.holder, None)

    def renew_once(self) -> None:
        """Renew every live lease held here; those past their attempt's deadline are let go."""
        now = self._clock()
        with self._lock:
            self._held = {h: held for h, held in self._held.items() if held.until > now}
            batches: dict[tuple[Channel, int], dict[UUID, str]] = {}
            for held in self._held.values():
                batch = batches.setdefault((held.channel, held.lease.seconds), {})
                batch[held.session_id] = held.lease.holder
        for (channel, seconds), holders in batches.items():
            self._renew(channel, holders, seconds)

    def _renew(self, channel: Channel, holders: dict[UUID, str], seconds: int) -> None:
        try:
            renewed = self._store.renew_leases(channel, holders, seconds)
        except WearOnError as exc:
            # The leases run out unless a later round gets through: copies may then take over.
            logger.warning("could not renew {} claim leases: {}", len(holders), exc)
            metrics.CLAIM_LEASE_RENEWALS.labels(outcome="failed").inc(len(holders))
            return
        metrics.CLAIM_LEASE_RENEWALS.labels(outcome="renewed").inc(len(renewed))
        if lost := len(holders) - len(renewed):
            # Run out and taken over (renewals failed for a whole lease): the session's new holder
            # carries on, and this attempt's completion, if it gets that far, finds it done.
            logger.warning("{} claim leases had been taken over", lost)
            metrics.CLAIM_LEASE_RENEWALS.labels(outcome="lost").inc(lost)

    def _end(self, channel: Channel, session_id: UUID, holder: str) -> None:
        """The attempt failed: its retry, or a copy of its message, may claim the session now."""
        try:
            self._store.renew_leases(channel, {session_id: holder}, 0)
        except WearOnError as exc:  # it runs out by itself
            logger.warning("could not end the claim lease of a failed attempt: {}", exc)

    def _start(self) -> None:
        """Start the renewing thread on first use (in the worker process, after Dramatiq forks)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="lease-renewer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self._every_s)
            try:
                self.renew_once()
            except Exception:  # noqa: BLE001  the thread must outlive any one round
                logger.exception("claim lease renewal round failed")
