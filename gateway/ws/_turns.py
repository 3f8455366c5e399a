"""The assistant turns running in the threads this gateway serves, as this gateway saw them.

Deltas travel on a lossy path (`chat.turns`, never stored), so a client that subscribes in
the middle of a turn cannot replay them from the store. Every gateway reads every turn record
and keeps, per running turn, its `started` record and the text so far (`TurnText`); a new
subscriber gets that as one `started` frame carrying the text and the next delta index, then
the live deltas after it. Both happen in the same synchronous step of the hub (no checkpoint
between reading the snapshot and going live), so there is no gap and no duplicate.

A gateway that joined after a turn began never saw its `started`: it forwards nothing of that
turn but `finished` (its subscribers get the stored reply as an ordinary message). Memory is
bounded by the turns running now: `finished` drops a turn.
"""

from __future__ import annotations

import logging

from protocol.turns import TurnDelta, TurnFinished, TurnGapError, TurnRecord, TurnStarted, TurnText

__all__ = ["ActiveTurns"]

log = logging.getLogger("parley.ws")


class ActiveTurns:
    def __init__(self) -> None:
        # thread_id -> turn_id -> (the turn's started record, its text so far)
        self._threads: dict[str, dict[str, tuple[TurnStarted, TurnText]]] = {}

    def observe(self, record: TurnRecord) -> bool:
        """Apply one turn record; True when subscribers should get it as it is."""
        turns = self._threads.get(record.thread_id)
        if isinstance(record, TurnStarted):
            self._threads.setdefault(record.thread_id, {})[record.turn_id] = (
                record,
                TurnText(record),
            )
            return True
        if isinstance(record, TurnDelta):
            entry = turns.get(record.turn_id) if turns else None
            if entry is None:
                return False  # began before this gateway listened: its reply comes stored
            try:
                return entry[1].apply(record)
            except TurnGapError as exc:
                # A lost delta (the path is lossy by design): this gateway can no longer
                # give a true snapshot, so it stops following the turn; `finished` and the
                # stored reply still come.
                log.warning("turn deltas lost", extra={"why": str(exc)})
                self._forget(record.thread_id, record.turn_id)
                return False
        if isinstance(record, TurnFinished):
            self._forget(record.thread_id, record.turn_id)
        return True

    def snapshots(self, thread_id: str) -> list[TurnStarted]:
        """`started` with the text so far, for each turn running in the thread."""
        turns = self._threads.get(thread_id)
        if not turns:
            return []
        return [text.snapshot(started) for started, text in turns.values()]

    def running(self, thread_id: str) -> list[str]:
        return list(self._threads.get(thread_id, ()))

    def __len__(self) -> int:
        return sum(len(t) for t in self._threads.values())

    def _forget(self, thread_id: str, turn_id: str) -> None:
        turns = self._threads.get(thread_id)
        if turns is not None:
            turns.pop(turn_id, None)
            if not turns:
                del self._threads[thread_id]
