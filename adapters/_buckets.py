"""A thread's rows found by seq bucket: pages, replays and the last seq at any thread length.

FerretDB 1.24 on PostgreSQL pushes an equality filter down as ``_jsonb -> 'f' @> 'v'`` and
nothing else: not a ``seq`` range, not the sort, not the limit, not ``$in`` or ``$or`` (those
are not pushed down at all: a Seq Scan of the whole collection). A page found by
``thread_id`` and a ``seq`` range therefore read every row of the thread into FerretDB, sorted
them there and kept 51. Every row carries ``thread_bucket`` = "<thread_id> <seq // BUCKET>"
(``_codec``), one equality that a GIN index (``infra/postgres/indexes.sql``) answers with at most
BUCKET rows; MongoDB answers it from the ``thread_bucket`` index. A page reads the one or two
buckets it spans, one query each, and sorts and trims those rows here.

Where a thread ends: ``seq_marks`` holds one document per thread, ``{_id: thread_id, bucket}``,
the highest bucket written, raised with ``$max`` after a write that reaches a bucket this
process has not marked yet (once per BUCKET seqs per thread, and once per thread per process).
The mark is a lower bound only: a write lands before its mark, and a crash between the two
leaves the mark behind. So the top is found by reading the marked bucket and probing upward,
doubling the step, then halving back to the last bucket that has rows; the common case is the
mark, its bucket and one empty bucket above it (three single-key reads), whatever the length.
The probe relies on what the sequencer guarantees anyway (``last_seqs`` counts on it too): a
thread's seqs are 1..n without a hole, so no whole bucket is empty below the top.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pymongo.errors import DuplicateKeyError

from ._codec import BUCKET, bucket_key
from ._codec import BUCKET_FIELD as FIELD

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pymongo.collection import Collection

__all__ = [
    "MARKS",
    "WITHOUT_BUCKET",
    "KnownMarks",
    "backfill",
    "last_seq",
    "mark",
    "page",
    "tops_of",
]

Doc = dict[str, Any]
MARKS = "seq_marks"
# Threads whose mark this process remembers; past it the memory starts over (a forgotten
# thread costs one more $max upsert on its next write, nothing else).
_KNOWN_LIMIT = 10_000
_BACKFILL_SLICE = 20_000


def tops_of(docs: Iterable[Doc]) -> dict[str, int]:
    """The highest bucket of each thread among `docs` (rows with thread_id and seq)."""
    tops: dict[str, int] = {}
    for doc in docs:
        bucket = int(doc["seq"]) // BUCKET
        thread = str(doc["thread_id"])
        if bucket > tops.get(thread, -1):
            tops[thread] = bucket
    return tops


class KnownMarks:
    """The marks this process wrote or read: a write below one needs no upsert."""

    def __init__(self, limit: int = _KNOWN_LIMIT) -> None:
        self._limit = limit
        self._marks: dict[str, int] = {}

    def above(self, tops: dict[str, int]) -> dict[str, int]:
        # No mark reads as bucket 0 (see _marked): a thread's first hundred messages need no
        # upsert, so a new thread's first write costs the store one write, not two.
        return {t: b for t, b in tops.items() if b > self._marks.get(t, 0)}

    def forget(self, thread_id: str) -> None:
        self._marks.pop(thread_id, None)

    def learn(self, tops: dict[str, int]) -> None:
        if len(self._marks) + len(tops) > self._limit:
            self._marks.clear()
        for thread, bucket in tops.items():
            if bucket > self._marks.get(thread, -1):
                self._marks[thread] = bucket


def mark(marks: Collection[Doc], known: KnownMarks, tops: dict[str, int]) -> None:
    """Raise each thread's mark to its bucket in `tops` (only those above what is known).

    One single-document upsert each, not a bulk write: FerretDB 1.24 on PostgreSQL holds a
    pooled connection per statement of an update command until the command ends, and one
    with more statements than its pool (measured: 304 updates by `_id` in one bulk write)
    never returned, and left that FerretDB answering nothing."""
    todo = known.above(tops)
    for thread, bucket in todo.items():
        where, update = {"_id": thread}, {"$max": {"bucket": bucket}}
        try:
            marks.update_one(where, update, upsert=True)
        except DuplicateKeyError:
            # Two writers upserting the same new mark: one insert loses on `_id`; the
            # document exists now, so the same $max again updates it.
            marks.update_one(where, update, upsert=True)
    known.learn(todo)


def _rows(messages: Collection[Doc], thread_id: str, bucket: int) -> list[Doc]:
    return list(messages.find({FIELD: bucket_key(thread_id, bucket)}, {"_id": 0}))


def _marked(marks: Collection[Doc], thread_id: str) -> int:
    found = marks.find_one({"_id": thread_id})
    return int(found["bucket"]) if found is not None else 0


def _top(
    messages: Collection[Doc], marks: Collection[Doc], known: KnownMarks, thread_id: str
) -> tuple[int, list[Doc]]:
    """The thread's highest bucket with rows and those rows; (-1, []) for an empty thread."""
    low = _marked(marks, thread_id)
    rows = _rows(messages, thread_id, low)
    if not rows:
        # No mark and no bucket 0: an empty thread. A marked bucket without rows only if
        # rows were removed past the store: walk down to the first one that has any.
        while not rows and low > 0:
            low -= 1
            rows = _rows(messages, thread_id, low)
        return (low, rows) if rows else (-1, [])
    top, step, empty = low, 1, None
    while empty is None:
        above = _rows(messages, thread_id, top + step)
        if above:
            top, rows, step = top + step, above, step * 2
        else:
            empty = top + step
    while empty - top > 1:
        middle = (top + empty) // 2
        found_rows = _rows(messages, thread_id, middle)
        if found_rows:
            top, rows = middle, found_rows
        else:
            empty = middle
    if top > low:
        # The mark was behind (a write whose mark was lost, or rows loaded past the store);
        # this process may remember writing a higher one, so it is written regardless.
        known.forget(thread_id)
        mark(marks, known, {thread_id: top})
    else:
        known.learn({thread_id: top})
    return top, rows


def last_seq(
    messages: Collection[Doc], marks: Collection[Doc], known: KnownMarks, thread_id: str
) -> int:
    """Highest seq stored for the thread (0 when it has none)."""
    _, rows = _top(messages, marks, known, thread_id)
    return max((int(r["seq"]) for r in rows), default=0)


def page(
    messages: Collection[Doc],
    marks: Collection[Doc],
    known: KnownMarks,
    thread_id: str,
    after_seq: int | None,
    before_seq: int | None,
    limit: int,
) -> tuple[list[Doc], bool]:
    """Up to `limit` rows in ascending seq and whether there are more in the page's direction:
    the first after `after_seq` (below `before_seq` if given), else the last below
    `before_seq`, else the newest."""
    if after_seq is not None:
        return _forward(messages, marks, thread_id, after_seq, before_seq, limit)
    return _backward(messages, marks, known, thread_id, before_seq, limit)


def _forward(
    messages: Collection[Doc],
    marks: Collection[Doc],
    thread_id: str,
    after_seq: int,
    before_seq: int | None,
    limit: int,
) -> tuple[list[Doc], bool]:
    def wanted(doc: Doc) -> bool:
        seq = int(doc["seq"])
        return seq > after_seq and (before_seq is None or seq < before_seq)

    bucket = max(0, (after_seq + 1) // BUCKET)
    end = None if before_seq is None else (before_seq - 1) // BUCKET
    picked: list[Doc] = []
    while len(picked) <= limit and (end is None or bucket <= end):
        rows = _rows(messages, thread_id, bucket)
        if not rows and bucket >= _marked(marks, thread_id):
            # The end of the thread (a bucket without rows below the mark is a hole in seqs
            # written past the store: go on over it).
            break
        picked.extend(r for r in rows if wanted(r))
        bucket += 1
    picked.sort(key=lambda r: int(r["seq"]))
    return picked[:limit], len(picked) > limit


def _backward(
    messages: Collection[Doc],
    marks: Collection[Doc],
    known: KnownMarks,
    thread_id: str,
    before_seq: int | None,
    limit: int,
) -> tuple[list[Doc], bool]:
    if before_seq is not None and before_seq <= 1:
        return [], False
    rows: list[Doc] = []
    if before_seq is not None:
        # Below the top (the usual "older" page) the bucket has rows and the top is not needed.
        bucket = (before_seq - 1) // BUCKET
        rows = _rows(messages, thread_id, bucket)
    if not rows:
        top, rows = _top(messages, marks, known, thread_id)
        if top < 0:
            return [], False
        bucket = top if before_seq is None else min(top, (before_seq - 1) // BUCKET)
        if bucket != top:
            rows = _rows(messages, thread_id, bucket)
    picked: list[Doc] = []
    while True:
        picked.extend(r for r in rows if before_seq is None or int(r["seq"]) < before_seq)
        if len(picked) > limit or bucket == 0:
            break
        bucket -= 1
        rows = _rows(messages, thread_id, bucket)
    picked.sort(key=lambda r: int(r["seq"]))
    return picked[-limit:], len(picked) > limit


# Rows stored before buckets (changes and messages both carry a seq).
WITHOUT_BUCKET: Doc = {FIELD: {"$exists": False}, "seq": {"$exists": True}}


def backfill(messages: Collection[Doc], marks: Collection[Doc], known: KnownMarks) -> int:
    """Give rows stored before buckets their ``thread_bucket`` and their threads a mark;
    idempotent (a second run, or two processes at once, set the same values). Returns how
    many rows it set. A read of the collection per slice (FerretDB filters `$exists` itself),
    then one update by ``_id`` per row (the lookup FerretDB serves from an index; single
    updates, see `mark`): measured 470 rows/s on FerretDB over PostgreSQL here (20,000 rows
    in 43 s), so a million rows hold the store's first start for about 35 minutes."""
    done = 0
    tops: dict[str, int] = {}
    missing = WITHOUT_BUCKET
    while True:
        # In slices read whole rather than one cursor held open through the updates: at
        # 350 rows/s a million rows outlast a server's idle cursor timeout (10 minutes).
        rows = list(
            messages.find(missing, {"_id": 1, "thread_id": 1, "seq": 1}).limit(_BACKFILL_SLICE)
        )
        for doc in rows:
            thread, bucket = str(doc["thread_id"]), int(doc["seq"]) // BUCKET
            done += messages.update_one(
                {"_id": doc["_id"], FIELD: {"$exists": False}},
                {"$set": {FIELD: bucket_key(thread, bucket)}},
            ).modified_count
            if bucket > tops.get(thread, -1):
                tops[thread] = bucket
        if len(rows) < _BACKFILL_SLICE:
            break
    if tops:
        mark(marks, known, tops)
    return done
