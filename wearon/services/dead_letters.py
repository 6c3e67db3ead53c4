"""The operator's use cases over both dead-letter stores: list, find, replay, purge.

A replay re-validates the payload and refuses one whose session is already finished: its credit
was refunded when it failed, so running it again would give a free generation (or, for a bridge
payload the app will never fix, fail again)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from wearon.domain.dead_letter import DeadLetter, DeadLetterStore
from wearon.domain.task import GenerationTask
from wearon.errors import InvalidTask, OperationRefused
from wearon.ports import DeadLetters, SessionInspector

#: Re-validates a bridge dead letter's raw payload (wearon.domain.task.parse_task on its bytes).
Validate = Callable[[DeadLetter], GenerationTask]


class DeadLetterService:
    def __init__(self, stores: Sequence[DeadLetters], sessions: SessionInspector, validate: Validate) -> None:
        self._stores = {store.store: store for store in stores}
        self._sessions = sessions
        self._validate = validate

    def all(self) -> list[DeadLetter]:
        """Every dead letter of every store, oldest first."""
        return sorted((x for s in self._stores.values() for x in s.letters()), key=lambda x: x.at)

    def find(self, letter_id: str) -> DeadLetter:
        """By id, or by the start of one when it names a single letter."""
        found = [x for x in self.all() if x.id == letter_id] or [
            x for x in self.all() if x.id.startswith(letter_id)
        ]
        if len(found) != 1:
            raise OperationRefused(f"{len(found)} dead letters match {letter_id!r}; give one id")
        return found[0]

    def replay(self, letter: DeadLetter) -> None:
        """Re-validate, refuse a finished session, then put it back where it came from."""
        if letter.store is DeadLetterStore.BRIDGE:
            self._revalidate(letter)
        self._refuse_if_finished(letter)
        if not self._stores[letter.store].requeue(letter):
            raise OperationRefused(f"dead letter {letter.id} is gone (replayed or purged meanwhile)")

    def purge(self, letter: DeadLetter) -> bool:
        return self._stores[letter.store].remove(letter)

    def _revalidate(self, letter: DeadLetter) -> None:
        try:
            self._validate(letter)
        except InvalidTask as exc:
            raise OperationRefused(f"still invalid, not replayed: {exc.reason}") from None

    def _refuse_if_finished(self, letter: DeadLetter) -> None:
        if letter.session is None:
            return
        report = self._sessions.inspect(letter.session[1])
        if report is not None and report.status.is_terminal:
            raise OperationRefused(
                f"session {report.session_id} is already {report.status.value}: not replayed"
                " (a failed session was refunded; a new try is a new session in the app)"
            )
