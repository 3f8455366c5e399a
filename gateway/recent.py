"""The newest messages of each thread this gateway watched go by, for replays without the store.

Every subscribe replays what the client missed (`since_seq`) from the store first. On MongoDB
that is an index range scan; on FerretDB's SQLite backend every query on `messages` scans the
whole collection (measured: 30 ms per query at 1,000 messages, ~1 s at 30,000), so a thousand
clients joining after a busy hour would each cost seconds. The gateway reads every message
event on `chat.events` anyway: it keeps the tail of each thread it saw, and answers a replay
from memory when it provably can.

What it keeps per thread is a *run*: the messages with seq lo..hi, no hole, where hi is the
newest this gateway has consumed. A replay after `since_seq` inside the run is answered from it:
anything newer than hi was either consumed after the subscription began (and is delivered
live by the hub's seam) or is still to come. That claim holds only while the events consumer
has read its partitions without a break; so the whole memory is dropped whenever its
assignment changes (`epoch`), and runs start only from what was consumed or from a page of the
store that reached the thread's newest message.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice

from protocol.events import MessageDeleted, MessageEdited, MessageEvent, ThreadEvent

__all__ = ["RecentMessages"]

PER_THREAD = 256
MAX_THREADS = 2_000
# What is kept is also bounded by age: the replays it serves are reconnects after a blip, and
# the memory then follows the current message rate, not everything seen since the start
# (a 10-minute soak at 100 msg/s otherwise grew the gateway by ~0.6 KB a message throughout).
MAX_AGE_S = 120.0


@dataclass(slots=True)
class _Run:
    lo: int
    # When the run last learned something (an event, or that the thread is empty).
    touched: float
    events: deque[ThreadEvent] = field(default_factory=deque)
    # When each kept event was learned, aligned with `events`.
    times: deque[float] = field(default_factory=deque)

    @classmethod
    def of(cls, lo: int, events: Sequence[ThreadEvent], now: float) -> _Run:
        return cls(lo, now, deque(events), deque([now] * len(events)))

    @property
    def hi(self) -> int:
        return self.lo + len(self.events) - 1

    def drop_oldest(self) -> None:
        self.events.popleft()
        self.times.popleft()
        self.lo += 1

    def drop_older_than(self, cutoff: float) -> None:
        times = self.times
        while times and times[0] < cutoff:
            self.drop_oldest()


class RecentMessages:
    """Contiguous tails of threads' messages, valid while `epoch()` returns the same value.

    `epoch` returns None while the events consumer has no assignment (nothing is kept then),
    otherwise a number that changes whenever its assignment does (a rebalance may skip events).
    """

    def __init__(
        self,
        epoch: Callable[[], int | None],
        *,
        per_thread: int = PER_THREAD,
        max_threads: int = MAX_THREADS,
        max_age_s: float = MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._epoch_source = epoch
        self._epoch: int | None = None
        self._per_thread = per_thread
        self._max_threads = max_threads
        self._max_age_s = max_age_s
        self._clock = clock
        self._runs: OrderedDict[str, _Run] = OrderedDict()
        # Bumped by every drop of knowledge (epoch change, eviction): a store page read across
        # one cannot be trusted to join what is kept.
        self._generation = 0
        self.hits = 0

    def __len__(self) -> int:
        return len(self._runs)

    def generation(self) -> int:
        """Take before reading the store; hand back to learn_page()/learn_empty()."""
        self._check_epoch()
        return self._generation

    # --- what the events consumer saw ------------------------------------------------------
    def observe(self, event: ThreadEvent) -> None:
        if not self._check_epoch():
            return
        if not isinstance(event, MessageEvent):
            self._apply_change(event)
        now = self._clock()
        cutoff = now - self._max_age_s
        self._forget_idle(cutoff)
        run = self._runs.get(event.thread_id)
        if run is None:
            self._add(event.thread_id, _Run.of(event.seq, [event], now))
            return
        self._runs.move_to_end(event.thread_id)
        hi = run.hi
        if event.seq == hi + 1:
            run.events.append(event)
            run.times.append(now)
            run.touched = now
            if len(run.events) > self._per_thread:
                run.drop_oldest()
            run.drop_older_than(cutoff)
        elif event.seq > hi + 1:
            # A hole: what lies between was never seen here. Start again from this one.
            self._runs[event.thread_id] = _Run.of(event.seq, [event], now)
        # seq <= hi: a redelivery of something already kept.

    def _forget_idle(self, cutoff: float) -> None:
        """Ages the runs that learned nothing lately: the run touched longest ago first (it is
        first in order), then the next, until one was touched after `cutoff`."""
        runs = self._runs
        while runs:
            thread_id, run = next(iter(runs.items()))
            if run.touched >= cutoff:
                return
            run.drop_older_than(cutoff)
            if run.events:
                run.touched = run.times[0]  # checked again once its oldest ages out
                runs.move_to_end(thread_id)
                continue
            # Nothing left to answer from: forget the thread, as an eviction does.
            del runs[thread_id]
            self._generation += 1

    def _apply_change(self, change: MessageEdited | MessageDeleted) -> None:
        # What is kept must read like the store: the message shows its current text (or is a
        # tombstone), and a deleted message's text survives in no kept edit either.
        run = self._runs.get(change.thread_id)
        if run is None:
            return
        for i, kept in enumerate(run.events):
            if kept.message_id != change.message_id:
                continue
            if isinstance(change, MessageDeleted):
                if isinstance(kept, MessageEvent):
                    run.events[i] = replace(kept, text="", deleted_at=change.deleted_at)
                elif isinstance(kept, MessageEdited):
                    run.events[i] = replace(kept, text="")
            elif isinstance(kept, MessageEvent) and kept.deleted_at is None:
                run.events[i] = replace(kept, text=change.text, edited_at=change.edited_at)

    # --- what the store said ---------------------------------------------------------------
    def learn_empty(self, thread_id: str, generation: int) -> None:
        """The thread was just created here: it has no message, so a run starts at seq 1."""
        # The epoch first: a change drops everything and moves the generation on.
        fresh = self._check_epoch() and generation == self._generation
        if fresh and thread_id not in self._runs:
            self._add(thread_id, _Run.of(1, [], self._clock()))

    def learn_page(
        self,
        thread_id: str,
        after_seq: int,
        page: Sequence[ThreadEvent],
        *,
        reached_newest: bool,
        generation: int,
    ) -> None:
        """Keep a store page of messages after `after_seq` when it joins what is known.

        `reached_newest`: the page ended at the thread's newest stored message at query time.
        """
        if not self._check_epoch() or generation != self._generation:
            return
        if any(event.seq != after_seq + 1 + i for i, event in enumerate(page)):
            return  # not one contiguous stretch: nothing can be claimed from it
        run = self._runs.get(thread_id)
        if run is None:
            # An empty page says only "nothing after after_seq", not where the thread ends
            # (a client may claim a seq never reached), unless it began at the beginning.
            if reached_newest and (page or after_seq == 0):
                kept = page[-self._per_thread :] if page else ()
                lo = after_seq + 1 + len(page) - len(kept)
                self._add(thread_id, _Run.of(lo, kept, self._clock()))
            return
        # A page just below the run (or overlapping its start) extends it downwards.
        page_hi = after_seq + len(page)
        if after_seq + 1 < run.lo <= page_hi + 1:
            for event in reversed(page[: run.lo - after_seq - 1]):
                if len(run.events) >= self._per_thread:
                    break
                run.events.appendleft(event)
                run.times.appendleft(run.times[0] if run.times else self._clock())
                run.lo -= 1

    # --- answering a replay ----------------------------------------------------------------
    def page(self, thread_id: str, after_seq: int, limit: int) -> list[ThreadEvent] | None:
        """Messages after `after_seq` (at most `limit`), or None when memory cannot tell."""
        if not self._check_epoch():
            return None
        run = self._runs.get(thread_id)
        if run is None or not run.lo <= after_seq + 1 <= run.hi + 1:
            return None
        self.hits += 1
        start = after_seq + 1 - run.lo
        return list(islice(run.events, start, start + limit))

    # --- upkeep ----------------------------------------------------------------------------
    def _check_epoch(self) -> bool:
        epoch = self._epoch_source()
        if epoch != self._epoch:
            self._epoch = epoch
            self._forget_all()
        return epoch is not None

    def _forget_all(self) -> None:
        self._runs.clear()
        self._generation += 1

    def _add(self, thread_id: str, run: _Run) -> None:
        self._runs[thread_id] = run
        if len(self._runs) > self._max_threads:
            self._runs.popitem(last=False)
            self._generation += 1
