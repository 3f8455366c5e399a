"""Group commit: the batches many threads want stored at once go out as one ordered write.

Each ThreadActor already sends what queued up for its own thread as one batch. With many
quiet threads (a chat's usual shape: a hundred threads at a few messages a second each) those
batches are single messages, and one insert per message is what the store tops out on
(FerretDB/SQLite: ~2,300 insert_one/s, ~12,000 documents/s as insert_many of 10). So while
one write is in flight, the batches that arrive meanwhile wait and go together in the next.

The write is ordered and stops at the first clash; callers get how many of *their* leading
documents were stored. A caller whose documents came after another's clash gets 0 and goes
on one at a time, exactly as after a clash of its own: nothing after a clash is ever stored,
so a thread's seqs never get a hole.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio

__all__ = ["GroupInsert"]

Doc = dict[str, Any]


class _Waiting:
    __slots__ = ("docs", "done", "error", "stored")

    def __init__(self, docs: list[Doc]) -> None:
        self.docs = docs
        self.done = trio.Event()
        self.stored = 0
        self.error: BaseException | None = None


class GroupInsert:
    """`await insert(docs)` → how many leading docs were stored; one write in flight at once.

    `write(docs)` stores docs in order up to the first clash and returns how many it stored.
    """

    def __init__(self, write: Callable[[list[Doc]], Awaitable[int]]) -> None:
        self._write = write
        self._queue: list[_Waiting] = []
        self._writing = False
        self._written = trio.Event()
        self.writes = 0

    async def insert(self, docs: list[Doc]) -> int:
        mine = _Waiting(docs)
        self._queue.append(mine)
        while not mine.done.is_set():
            if self._writing:
                # Woken when that write ends: ours is in the next one (or we lead it).
                await self._written.wait()
            else:
                await self._write_queued(mine)
        if mine.error is not None:
            raise mine.error
        return mine.stored

    async def _write_queued(self, mine: _Waiting) -> None:
        self._writing = True
        written = self._written = trio.Event()
        try:
            batch, self._queue = self._queue, []
            docs = [doc for waiting in batch for doc in waiting.docs]
            try:
                stored = await self._write(docs)
            except Exception as exc:
                for waiting in batch:
                    waiting.error = exc
                    waiting.done.set()
                return
            except BaseException:
                # Cancelled while writing: the others must not wait for an answer that will
                # never come; they try again (their documents may be stored: a retry finds
                # them as duplicates).
                self._queue[:0] = [waiting for waiting in batch if waiting is not mine]
                raise
            self.writes += 1
            offset = 0
            for waiting in batch:
                waiting.stored = max(0, min(len(waiting.docs), stored - offset))
                offset += len(waiting.docs)
                waiting.done.set()
        finally:
            self._writing = False
            written.set()
