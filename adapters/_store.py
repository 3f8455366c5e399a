"""MongoDB/FerretDB store actor: pymongo behind its own thread limiter.

Every write is one single-document operation (no transactions: FerretDB has none and Jepsen
found anomalies in MongoDB's). Idempotence comes from unique indexes: a retried insert of
a message hits `message_id` and returns the stored message instead of failing.

Callers hand in and get back typed records (MessageEvent, ThreadRecord); documents exist
only inside this module, made and read by `_codec`, and every one is checked by
`check_document` before it is written.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import trio
from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.errors import (
    BulkWriteError,
    CollectionInvalid,
    ConnectionFailure,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
    WTimeoutError,
)
from pymongo.write_concern import WriteConcern

from protocol.domain import (
    DomainEvent,
    MessageDeletedEvent,
    MessageEditedEvent,
    UserProfileUpdated,
    decode_domain_event,
    domain_document,
)
from protocol.events import MessageDeleted, MessageEdited

from . import _buckets
from ._backoff import backoff_delays
from ._codec import (
    BUCKET,
    BUCKET_FIELD,
    bucket_key,
    change_document,
    change_from_document,
    is_change,
    message_document,
    message_from_document,
    row_from_document,
    thread_document,
    thread_from_document,
)
from ._documents import check_document
from ._errors import (
    AdapterClosedError,
    SeqConflictError,
    StoreError,
    StoreUnavailableError,
)
from ._group_insert import GroupInsert
from ._types import HistoryPage, Readiness, StoreCounters, StoredChange, StoredMessage

if TYPE_CHECKING:
    from pymongo.collection import Collection
    from pymongo.database import Database

    from protocol.events import MessageChange, MessageEvent
    from protocol.records import ThreadRecord

    from ._options import StoreOptions

__all__ = ["MongoStore"]

log = logging.getLogger(__name__)
# Documents per ordered insert_many (see _insert_leading).
_ORDERED_SLICE = 100
T = TypeVar("T")
Doc = dict[str, Any]
_SEQ_RETRIES = 5
# A thread document's pending domain events and the flag the relay finds them by.
_OUTBOX = "outbox"
_PENDING = "outbox_pending"
_MAX_PAGE = 500
# Read markers: one document per (user, thread), `_id` = _read_key(...).
_READS = "read_markers"
# Schema steps done once per database: `_id` = the step's name.
_SCHEMA = "schema_steps"
_BACKFILL_STEP = "thread_bucket"


class MongoStore:
    """Messages and threads; run with `nursery.start(store.run)` or call `start()`/`close()`."""

    def __init__(self, options: StoreOptions) -> None:
        self._options = options
        self._pool_size = options.pool_size
        self._timeout_ms = options.server_timeout_ms
        self._database_name = options.database
        self._limiter = trio.CapacityLimiter(options.pool_size)
        self._client: MongoClient[Doc] | None = None
        self._db: Database[Doc] | None = None
        self._schema_ready = trio.Event()
        self._seq_locks: dict[str, list[Any]] = {}
        self._known_marks = _buckets.KnownMarks()
        # Batches of many threads arriving together share one write (see _group_insert).
        self._group_insert = GroupInsert(self._write_leading)
        self._stop_requested = trio.Event()
        self._closed = False
        self._ready = False
        self._message = "store not started"
        self._outbox_event = trio.Event()
        self.counters = StoreCounters()

    # --- lifecycle ------------------------------------------------------------------------
    @property
    def readiness(self) -> Readiness:
        return Readiness(self._ready, self._message)

    @property
    def database(self) -> str | None:
        """The database name given at construction (None: the URI's, else "parley")."""
        return self._database_name

    async def start(self) -> None:
        """Connect and create collections and indexes; raises StoreUnavailableError."""
        self._closed = False
        if self._client is None:
            self._client = MongoClient(
                self._options.uri,
                maxPoolSize=self._pool_size,
                serverSelectionTimeoutMS=self._timeout_ms,
                connectTimeoutMS=self._timeout_ms,
                socketTimeoutMS=max(10_000, 3 * self._timeout_ms),
                tz_aware=True,
                retryWrites=True,
                appname="parley",
            )
            db = self._client.get_default_database(default=self._database_name or "parley")
            if self._database_name:
                db = self._client[self._database_name]
            if self._options.write_majority:
                db = db.with_options(
                    write_concern=WriteConcern(w="majority", j=True, wtimeout=5_000)
                )
            self._db = db
        await self._call(self._ensure_schema, wait_ready=False)
        self._ready, self._message = True, "store connected"
        self._schema_ready.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start with backoff (readiness false meanwhile), serve until stopped, then close."""
        # A supervisor may run this again after a crash (close() dropped the client).
        self._closed = False
        self._stop_requested = trio.Event()
        if self._client is None:
            self._schema_ready = trio.Event()
        task_status.started()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._connect_with_backoff)
                nursery.start_soon(self._watch_health)
                await self._stop_requested.wait()
                nursery.cancel_scope.cancel()
        finally:
            self._closed = True
            with trio.CancelScope(shield=True):
                await self.close()

    async def _connect_with_backoff(self) -> None:
        delays = backoff_delays()
        while not self._schema_ready.is_set():
            try:
                await self.start()
            except StoreUnavailableError as exc:
                self._message = str(exc)
                log.warning("%s", exc)
                await trio.sleep(next(delays))

    async def _watch_health(self) -> None:
        # Readiness must notice an outage (and the recovery) even when nothing is written.
        await self._schema_ready.wait()
        while True:
            await trio.sleep(2.0)
            with contextlib.suppress(StoreError):
                await self._call(self._ping, wait_ready=False)

    def _ping(self) -> None:
        assert self._db is not None
        self._db.command("ping")

    def stop(self) -> None:
        self._stop_requested.set()

    async def close(self) -> None:
        self._closed = True
        self._ready, self._message = False, "store closed"
        client, self._client = self._client, None
        if client is not None:
            await trio.to_thread.run_sync(client.close, limiter=self._limiter)

    # --- messages -------------------------------------------------------------------------
    async def insert_message(
        self, message: MessageEvent, *, assign_seq: bool = False
    ) -> StoredMessage:
        """Store `message` once per `message_id`; a retry returns the stored one (duplicate=True).

        With assign_seq the store gives the message the thread's next seq (retrying on a
        race) in place of `message.seq`; otherwise `message.seq` is used and a clash raises
        SeqConflictError.
        """
        doc = message_document(message)
        check_document(doc)
        if assign_seq:
            # One numbering at a time per thread in this process; the unique (thread_id, seq)
            # index and the retry loop cover writers in other processes.
            async with self._seq_lock(message.thread_id):
                result = await self._call(lambda: self._insert_message(doc, True))
        else:
            result = await self._call(lambda: self._insert_message(doc, False))
        if result.duplicate:
            self.counters.duplicates += 1
        else:
            self.counters.stored += 1
        return result

    async def insert_new_messages(self, messages: Sequence[MessageEvent]) -> int:
        """Store `messages` (each with its own seq) in one ordered write; stop at the first clash.

        Returns how many leading documents were stored. The one that clashed (a message_id
        stored before, or a seq already taken) and all after it are not stored: the caller
        goes on one at a time with insert_message(), which tells those cases apart (so does a
        caller whose batch went out in one write after another caller's clash). One round
        trip for a whole batch is what lets a busy thread keep up (one write per message
        costs a store round trip each), and concurrent batches of other threads share it.
        """
        docs = [message_document(message) for message in messages]
        for doc in docs:
            check_document(doc)
        if not docs:
            return 0
        stored = await self._group_insert.insert(docs)
        self.counters.stored += stored
        return stored

    async def _write_leading(self, docs: list[Doc]) -> int:
        return await self._call(lambda: self._insert_leading(docs))

    @contextlib.asynccontextmanager
    async def _seq_lock(self, thread_id: str) -> AsyncIterator[None]:
        entry = self._seq_locks.setdefault(thread_id, [trio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._seq_locks[thread_id]

    async def find_message(self, message_id: str) -> MessageEvent | None:
        """The stored message with this id, or None (a change's id is not a message's)."""

        def run() -> MessageEvent | None:
            doc = self._messages().find_one({"message_id": message_id}, {"_id": 0})
            return None if doc is None or is_change(doc) else message_from_document(doc)

        return await self._call(run)

    async def apply_change(
        self, change: MessageChange, outbox: Sequence[DomainEvent] = ()
    ) -> StoredChange:
        """Store an edit or a delete once per change_id with its seq, then apply it to its message.

        Two single-document writes, each idempotent, so a crash between them is repaired by
        the redelivery: (1) insert the change (unique change_id as message_id; a clash of
        seq raises SeqConflictError); (2) an edit sets the message's text and edited_at unless
        a later change (change_seq) got there first or it is deleted; a delete blanks the
        message's text (a tombstone keeps the seq) and the text of every edit of it, so the
        deleted text is nowhere in the store.

        ``outbox``: the change's domain events, written in the change's own row (the same
        insert), pending until the relay publishes them; the row's ``_id`` is its change_id
        so the relay marks it by ``_id`` (the one lookup FerretDB does without a scan).
        """
        doc = change_document(change)
        if outbox:
            doc["_id"] = change.change_id
            doc[_OUTBOX] = [domain_document(event) for event in outbox]
            doc[_PENDING] = True
        check_document(doc)
        try:
            result = await self._call(lambda: self._insert_change(doc))
        finally:
            if outbox:
                self._outbox_written()
        stored = result.change
        await self._call(lambda: self._apply_to_message(stored))
        return result

    async def last_seq(self, thread_id: str) -> int:
        """Highest seq stored for the thread (0 when it has no messages)."""
        return await self._call(lambda: self._last_seq(thread_id))

    async def last_seqs(self, thread_ids: Sequence[str]) -> dict[str, int]:
        """Highest seq of each thread (messages, edits and deletes), in ONE aggregation: on
        FerretDB every query on messages scans the collection, so one per thread would not do.
        Threads without any are left out."""
        ids = list(thread_ids)
        if not ids:
            return {}

        def run() -> dict[str, int]:
            rows = self._messages().aggregate(
                [
                    {"$match": {"thread_id": {"$in": ids}}},
                    # FerretDB 1.24 implements neither $max nor $first in $group (measured:
                    # NotImplemented), but $sum. A thread's seqs are 1..n without a hole
                    # (each is last + 1, under the unique (thread_id, seq) index, and no row
                    # is ever removed: a delete leaves a tombstone), so the count IS the last.
                    {"$group": {"_id": "$thread_id", "last_seq": {"$sum": 1}}},
                ]
            )
            return {str(row["_id"]): int(row["last_seq"]) for row in rows}

        return await self._call(run)

    async def count_messages(self, thread_id: str | None = None) -> int:
        query = {} if thread_id is None else {"thread_id": thread_id}
        return await self._call(lambda: self._messages().count_documents(query))

    async def history(
        self,
        thread_id: str,
        *,
        after_seq: int | None = None,
        before_seq: int | None = None,
        limit: int = 50,
    ) -> HistoryPage:
        """A page in ascending seq: after `after_seq`, else before `before_seq`, else the newest."""
        limit = max(1, min(limit, _MAX_PAGE))
        return await self._call(lambda: self._history(thread_id, after_seq, before_seq, limit))

    # --- threads --------------------------------------------------------------------------
    async def create_thread(
        self, thread: ThreadRecord, outbox: Sequence[DomainEvent] = ()
    ) -> ThreadRecord:
        """Store a thread; a retry (same thread_id) returns the one stored first.

        ``outbox``: domain events written in the same document (one insert), pending until
        the outbox relay publishes them (``pending_outbox`` / ``mark_published``).
        """
        doc = thread_document(thread)
        if outbox:
            doc[_OUTBOX] = [domain_document(event) for event in outbox]
            doc[_PENDING] = True
        check_document(doc)
        try:
            return await self._call(lambda: self._create_thread(doc, thread))
        finally:
            if outbox:
                self._outbox_written()

    # --- the outbox (domain events written with the state they describe) --------------------
    def outbox_written(self) -> trio.Event:
        """Set when this process next writes an outbox entry: the relay wakes at once for
        changes made here, and polls slowly for those other processes make."""
        return self._outbox_event

    def _outbox_written(self) -> None:
        self._outbox_event.set()
        self._outbox_event = trio.Event()

    async def pending_outbox(self, limit: int = 100) -> list[DomainEvent]:
        """Domain events written but not yet marked published: threads' first, then users',
        then message changes' in each thread's seq order. A thread's or a user's events live
        in one document, in the order they were written; a thread's edits and deletes are
        rows of their own, and the store's order of rows is not the order they were written
        in (PostgreSQL moves a row it updates), hence the sort by seq."""

        def run() -> list[DomainEvent]:
            events: list[DomainEvent] = []
            by_seq = [("thread_id", 1), ("seq", 1)]
            for collection, order in (
                (self._threads(), None),
                (self._users(), None),
                (self._messages(), by_seq),
            ):
                left = limit - len(events)
                if left <= 0:
                    break
                cur = collection.find({_PENDING: True}, {"_id": 0, _OUTBOX: 1})
                if order is not None:
                    cur = cur.sort(order)
                cur = cur.limit(left)
                for doc in cur:
                    for entry in doc.get(_OUTBOX, ()):
                        event = decode_domain_event(entry)
                        if event is not None:
                            events.append(event)
            return events

        return await self._call(run)

    async def mark_published(self, events: Sequence[DomainEvent]) -> None:
        """Take published events out of the outboxes that held them (one single-document
        update per document: a thread's, a user's, or a change's row)."""
        by_doc: dict[tuple[str, str], list[Doc]] = {}
        for event in events:
            if isinstance(event, UserProfileUpdated):
                where = ("users", event.user_id)
            elif isinstance(event, MessageEditedEvent | MessageDeletedEvent):
                where = ("messages", event.event_id)  # the change's row, _id = change_id
            else:
                where = ("threads", event.thread_id)
            by_doc.setdefault(where, []).append(domain_document(event))

        def run() -> None:
            for (name, key), entries in by_doc.items():
                collection = self._collection(name)
                # $pullAll of the exact entries: FerretDB 1.24 ignores a $pull with a
                # condition ({"event_id": {"$in": ...}}) without an error (measured).
                collection.update_one({"_id": key}, {"$pullAll": {_OUTBOX: entries}})
                # Another change may have added an event meanwhile: only an empty outbox
                # clears the flag, in a second single-document write.
                collection.update_one(
                    {"_id": key, _OUTBOX: {"$size": 0}}, {"$unset": {_PENDING: ""}}
                )

        await self._call(run)

    async def get_thread(self, thread_id: str) -> ThreadRecord | None:
        return await self._call(lambda: _thread_or_none(self._find_thread(thread_id)))

    async def list_threads(self, member: str, limit: int = 100) -> list[ThreadRecord]:
        """Threads `member` belongs to, newest first."""

        def run() -> list[ThreadRecord]:
            cur = self._threads().find({"members": member}, {"_id": 0})
            cur = cur.sort("created_at", DESCENDING).limit(max(1, min(limit, _MAX_PAGE)))
            return [thread_from_document(doc) for doc in cur]

        return await self._call(run)

    async def set_members(
        self, thread_id: str, members: Sequence[str], outbox: Sequence[DomainEvent] = ()
    ) -> ThreadRecord | None:
        """Replace the member list; returns the updated thread, None if it does not exist.

        ``outbox``: domain events pushed in the same update (one document write).
        """
        update: Doc = {"$set": {"members": list(members)}}
        if outbox:
            update["$set"][_PENDING] = True
            update["$push"] = {_OUTBOX: {"$each": [domain_document(e) for e in outbox]}}
        check_document({"members": list(members)})
        try:
            return await self._call(lambda: self._update_thread(thread_id, update))
        finally:
            if outbox:
                self._outbox_written()

    async def set_title(
        self, thread_id: str, title: str, outbox: Sequence[DomainEvent] = ()
    ) -> ThreadRecord | None:
        """Rename; the domain events go in the same update (one document write)."""
        return await self._set_thread_fields(thread_id, {"title": title}, outbox)

    async def set_archived(
        self, thread_id: str, outbox: Sequence[DomainEvent] = ()
    ) -> ThreadRecord | None:
        """Archive (readable, closed to new messages); events in the same update."""
        return await self._set_thread_fields(thread_id, {"archived": True}, outbox)

    async def _set_thread_fields(
        self, thread_id: str, fields: Doc, outbox: Sequence[DomainEvent]
    ) -> ThreadRecord | None:
        update: Doc = {"$set": dict(fields)}
        if outbox:
            update["$set"][_PENDING] = True
            update["$push"] = {_OUTBOX: {"$each": [domain_document(e) for e in outbox]}}
        check_document(fields)
        try:
            return await self._call(lambda: self._update_thread(thread_id, update))
        finally:
            if outbox:
                self._outbox_written()

    # --- users: profiles and read markers ----------------------------------------------
    async def set_profile(
        self, user_id: str, display_name: str, outbox: Sequence[DomainEvent] = ()
    ) -> None:
        """Store the user's display name (created on first use); the events in the same
        upsert of the user's one document (``_id`` = user_id)."""
        update: Doc = {"$set": {"user_id": user_id, "display_name": display_name}}
        if outbox:
            update["$set"][_PENDING] = True
            update["$push"] = {_OUTBOX: {"$each": [domain_document(e) for e in outbox]}}
        check_document({"user_id": user_id, "display_name": display_name})
        try:
            await self._call(
                lambda: self._users().update_one({"_id": user_id}, update, upsert=True)
            )
        finally:
            if outbox:
                self._outbox_written()

    async def profiles(self, user_ids: Sequence[str]) -> dict[str, str]:
        """Display names of those users who set one."""
        ids = list(dict.fromkeys(user_ids))
        if not ids:
            return {}

        def run() -> dict[str, str]:
            cur = self._users().find({"_id": {"$in": ids}}, {"display_name": 1})
            return {
                str(doc["_id"]): str(doc["display_name"])
                for doc in cur
                if isinstance(doc.get("display_name"), str)
            }

        return await self._call(run)

    async def all_profiles(self) -> dict[str, str]:
        """Every stored display name (``parley snapshots rebuild``)."""
        return await self._call(
            lambda: {
                str(doc["_id"]): str(doc["display_name"])
                for doc in self._users().find({}, {"display_name": 1})
                if isinstance(doc.get("display_name"), str)
            }
        )

    async def mark_read(self, user_id: str, thread_id: str, seq: int) -> int:
        """Raise the user's read marker of a thread to `seq` (never lowers it: ``$max``, one
        single-document upsert, so racing tabs cannot move it back); returns the marker."""
        key = _read_key(user_id, thread_id)

        def run() -> int:
            markers = self._collection(_READS)
            markers.update_one(
                {"_id": key},
                {"$max": {"seq": seq}, "$set": {"user_id": user_id, "thread_id": thread_id}},
                upsert=True,
            )
            doc = markers.find_one({"_id": key}, {"seq": 1})
            return int(doc["seq"]) if doc is not None else seq

        return await self._call(run)

    async def read_seqs(self, user_id: str, thread_ids: Sequence[str]) -> dict[str, int]:
        """The user's read marker of each thread that has one."""
        keys = [_read_key(user_id, t) for t in thread_ids]
        if not keys:
            return {}

        def run() -> dict[str, int]:
            cur = self._collection(_READS).find({"_id": {"$in": keys}}, {"thread_id": 1, "seq": 1})
            return {str(doc["thread_id"]): int(doc["seq"]) for doc in cur}

        return await self._call(run)

    async def add_member(self, thread_id: str, user_id: str) -> ThreadRecord | None:
        """Add `user_id` (no-op if present); returns the thread, None if it does not exist."""
        return await self._call(
            lambda: self._update_thread(thread_id, {"$addToSet": {"members": user_id}})
        )

    async def remove_member(self, thread_id: str, user_id: str) -> ThreadRecord | None:
        """Remove `user_id`; returns the thread, None if it does not exist."""
        return await self._call(
            lambda: self._update_thread(thread_id, {"$pull": {"members": user_id}})
        )

    # --- blocking parts (run on the store's limiter) ---------------------------------------
    async def _call(self, fn: Callable[[], T], *, wait_ready: bool = True) -> T:
        if self._closed:
            raise AdapterClosedError("the store is closed")
        if wait_ready:
            # Writes before the unique indexes exist could store duplicates.
            await self._schema_ready.wait()
        try:
            result = await trio.to_thread.run_sync(fn, limiter=self._limiter)
        except (ConnectionFailure, WTimeoutError) as exc:
            self.counters.unavailable += 1
            self._ready = False
            # pymongo appends the whole topology description: keep the first clause.
            reason = str(exc).split(", Timeout:")[0].split(" (configured timeouts")[0]
            self._message = f"store at {self._options.uri} unavailable: {reason}"
            raise StoreUnavailableError(self._message) from exc
        except PyMongoError as exc:
            if isinstance(exc, SeqConflictError):
                raise
            raise StoreError(f"store operation failed: {exc}") from exc
        if not self._ready and self._schema_ready.is_set():
            self._ready, self._message = True, "store connected"
        return result

    def _collection(self, name: str) -> Collection[Doc]:
        """Any collection of the store's database, for the package's other record kinds
        (``_processes``); called on the store's limiter like every blocking part."""
        if self._db is None:
            raise AdapterClosedError("the store is closed")
        return self._db[name]

    def _messages(self) -> Collection[Doc]:
        if self._db is None:
            raise AdapterClosedError("the store is closed")
        return self._db["messages"]

    def _users(self) -> Collection[Doc]:
        return self._collection("users")

    def _threads(self) -> Collection[Doc]:
        if self._db is None:
            raise AdapterClosedError("the store is closed")
        return self._db["threads"]

    def _ensure_schema(self) -> None:
        assert self._db is not None
        self._db.command("ping")
        existing = set(self._db.list_collection_names())
        for name in ("messages", "threads", "users", _READS, _buckets.MARKS, _SCHEMA):
            if name not in existing:
                # Another process may create it first.
                with contextlib.suppress(CollectionInvalid, OperationFailure):
                    self._db.create_collection(name)
        msgs, threads = self._messages(), self._threads()
        msgs.create_index([("message_id", ASCENDING)], unique=True, name="message_id_unique")
        msgs.create_index(
            [("thread_id", ASCENDING), ("seq", ASCENDING)], unique=True, name="thread_seq_unique"
        )
        msgs.create_index([("created_at", ASCENDING)], name="created_at")
        # MongoDB's index for the bucket reads; on FerretDB the GIN index of
        # infra/postgres/indexes.sql serves them (its own btree here cannot serve `@>`).
        msgs.create_index([(BUCKET_FIELD, ASCENDING)], name=BUCKET_FIELD)
        threads.create_index([("thread_id", ASCENDING)], unique=True, name="thread_id_unique")
        threads.create_index([("members", ASCENDING)], name="members")
        threads.create_index([("created_at", ASCENDING)], name="created_at")
        self._backfill_buckets()

    def _backfill_buckets(self) -> None:
        """Rows stored before `thread_bucket` get it (and their threads a mark) on the first
        start of this version; a page, a replay or last_seq would not see a row without it.
        Done once per database (a `schema_steps` document says so, since finding rows without
        the field reads the whole collection on FerretDB); two processes starting together
        both run it harmlessly. Rows an older version still writes after this ran lack the
        field: stop the older writers before the first start of this version."""
        steps = self._collection(_SCHEMA)
        if steps.find_one({"_id": _BACKFILL_STEP}) is not None:
            return
        started = time.monotonic()
        if self._messages().find_one(_buckets.WITHOUT_BUCKET, {"_id": 1}) is not None:
            # Said first: the store is not ready until this ends (~470 rows/s on FerretDB).
            log.warning("thread_bucket backfill: rows stored before it get their bucket, once")
        done = _buckets.backfill(self._messages(), self._marks(), self._known_marks)
        log.info("thread_bucket backfill: %d rows in %.1f s", done, time.monotonic() - started)
        steps.update_one({"_id": _BACKFILL_STEP}, {"$set": {"rows": done}}, upsert=True)

    def _marks(self) -> Collection[Doc]:
        return self._collection(_buckets.MARKS)

    def _mark(self, docs: Sequence[Doc]) -> None:
        _buckets.mark(self._marks(), self._known_marks, _buckets.tops_of(docs))

    def _last_seq(self, thread_id: str) -> int:
        return _buckets.last_seq(self._messages(), self._marks(), self._known_marks, thread_id)

    def _insert_message(self, doc: Doc, assign_seq: bool) -> StoredMessage:
        for _ in range(_SEQ_RETRIES):
            if assign_seq:
                doc["seq"] = self._last_seq(doc["thread_id"]) + 1
                doc[BUCKET_FIELD] = bucket_key(doc["thread_id"], doc["seq"] // BUCKET)
            attempt = dict(doc)  # insert_one adds _id to the dict it is given
            try:
                self._messages().insert_one(attempt)
            except DuplicateKeyError:
                stored = self._messages().find_one({"message_id": doc["message_id"]}, {"_id": 0})
                if stored is not None:
                    return StoredMessage(message_from_document(stored), duplicate=True)
                self.counters.seq_conflicts += 1
                if not assign_seq:
                    raise SeqConflictError(
                        f"seq {doc.get('seq')} of thread {doc['thread_id']} is taken"
                    ) from None
                continue
            self._mark([attempt])
            return StoredMessage(message_from_document(attempt), duplicate=False)
        raise SeqConflictError(
            f"no free seq for thread {doc['thread_id']} after {_SEQ_RETRIES} tries"
        )

    def _insert_change(self, doc: Doc) -> StoredChange:
        attempt = dict(doc)
        try:
            self._messages().insert_one(attempt)
        except DuplicateKeyError:
            stored = self._messages().find_one({"message_id": doc["message_id"]}, {"_id": 0})
            if stored is not None and is_change(stored):
                return StoredChange(change_from_document(stored), duplicate=True)
            self.counters.seq_conflicts += 1
            raise SeqConflictError(
                f"seq {doc['seq']} of thread {doc['thread_id']} is taken"
            ) from None
        self._mark([doc])
        return StoredChange(change_from_document(doc), duplicate=False)

    def _apply_to_message(self, change: MessageChange) -> None:
        target = {
            "message_id": change.message_id,
            "thread_id": change.thread_id,
            "kind": {"$exists": False},
        }
        not_later = {
            "$or": [{"change_seq": {"$exists": False}}, {"change_seq": {"$lt": change.seq}}]
        }
        if isinstance(change, MessageEdited):
            self._messages().update_one(
                {**target, "deleted_at": {"$exists": False}, **not_later},
                {
                    "$set": {
                        "text": change.text,
                        "edited_at": change.edited_at,
                        "change_seq": change.seq,
                    }
                },
            )
            return
        self._messages().update_one(
            target,
            {
                "$set": {
                    "text": "",
                    "deleted_at": change.deleted_at,
                    "deleted_by": change.deleted_by,
                    "change_seq": change.seq,
                }
            },
        )
        self._messages().update_many(
            {"target_id": change.message_id, "kind": "edit"}, {"$set": {"text": ""}}
        )

    def _insert_leading(self, docs: list[Doc]) -> int:
        # In slices: FerretDB (1.24, SQLite) inserts in chunks of 100 and, ordered or not,
        # goes on with the next chunk after a clash, counting those in nInserted (measured:
        # 150 documents clashing at the first stored the last 50 and reported 50). Within a
        # slice of 100 it stops at the clash as MongoDB does, and the first error's index,
        # not nInserted, is what says how many leading documents went in.
        done = 0
        for start in range(0, len(docs), _ORDERED_SLICE):
            part = docs[start : start + _ORDERED_SLICE]
            try:
                self._messages().insert_many(part, ordered=True)
            except BulkWriteError as exc:
                details = exc.details
                clashes = details.get("writeErrors", [])
                if (
                    details.get("writeConcernErrors")
                    or not clashes
                    or any(e.get("code") != 11000 for e in clashes)
                ):
                    raise
                stored = done + min(int(e["index"]) for e in clashes)
                self._mark(docs[:stored])
                return stored
            done += len(part)
        self._mark(docs)
        return done

    def _history(
        self, thread_id: str, after_seq: int | None, before_seq: int | None, limit: int
    ) -> HistoryPage:
        rows, more = _buckets.page(
            self._messages(),
            self._marks(),
            self._known_marks,
            thread_id,
            after_seq,
            before_seq,
            limit,
        )
        messages, changes = _split(rows)
        if after_seq is not None:
            return HistoryPage(
                messages,
                changes=changes,
                next_before_seq=rows[0]["seq"] if rows and after_seq > 0 else None,
                next_after_seq=rows[-1]["seq"] if rows and more else None,
            )
        return HistoryPage(
            messages,
            changes=changes,
            next_before_seq=rows[0]["seq"] if rows and more else None,
            next_after_seq=rows[-1]["seq"] if rows and before_seq is not None else None,
        )

    # A thread's `_id` is its thread_id: membership is read on every post and subscribe (once
    # per cache period), and FerretDB's SQLite backend pushes down an `_id` equality only;
    # any other filter decodes and tests every document of the collection (measured: 15 of
    # 16 store threads waiting in get_thread once a few hundred threads existed). Threads
    # stored before this carry an ObjectId `_id` and are found by thread_id.
    def _thread_key(self, thread_id: str) -> Doc:
        return {"_id": thread_id}

    def _find_thread(self, thread_id: str) -> Doc | None:
        threads = self._threads()
        found = threads.find_one(self._thread_key(thread_id))
        if found is None:
            found = threads.find_one({"thread_id": thread_id})
        return found

    def _create_thread(self, doc: Doc, thread: ThreadRecord) -> ThreadRecord:
        try:
            self._threads().insert_one({**doc, "_id": thread.thread_id})
        except DuplicateKeyError:
            stored = _thread_or_none(self._find_thread(thread.thread_id))
            if stored is None:
                raise StoreError(f"thread {thread.thread_id} clashed but is not stored") from None
            return stored
        return thread

    def _update_thread(self, thread_id: str, update: Doc) -> ThreadRecord | None:
        # Two single-document operations rather than findAndModify: FerretDB's support for
        # the latter's options differs, and membership is not a sequencer.
        threads = self._threads()
        matched = threads.update_one(self._thread_key(thread_id), update).matched_count
        if not matched:
            matched = threads.update_one({"thread_id": thread_id}, update).matched_count
        return _thread_or_none(self._find_thread(thread_id)) if matched else None


def _split(rows: list[Doc]) -> tuple[tuple[MessageEvent, ...], tuple[MessageChange, ...]]:
    messages: list[MessageEvent] = []
    changes: list[MessageChange] = []
    for row in rows:
        item = row_from_document(row)
        if isinstance(item, MessageEdited | MessageDeleted):
            changes.append(item)
        else:
            messages.append(item)
    return tuple(messages), tuple(changes)


def _read_key(user_id: str, thread_id: str) -> str:
    # Both are ids of [A-Za-z0-9._:@-]: a space cannot occur in either, so keys cannot clash.
    return f"{user_id} {thread_id}"


def _thread_or_none(doc: Doc | None) -> ThreadRecord | None:
    return None if doc is None else thread_from_document(doc)
