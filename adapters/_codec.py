"""Records ↔ BSON documents: the one place that knows how the store lays out what it keeps.

    messages   {message_id, thread_id, seq, thread_bucket, sender_id, text, created_at
                [, client_msg_id][, edited_at, change_seq][, deleted_at, deleted_by, change_seq]}
               ↔ protocol.events.MessageEvent (its `type` tag is not stored); a deleted
               message is a tombstone: its seq stays, its text is ""
               changes share the collection (so the unique (thread_id, seq) and message_id
               indexes number and fence them like messages):
               {message_id: change_id, thread_id, seq, thread_bucket, kind: "edit"|"delete",
                target_id, actor_id, created_at[, text]}
               thread_bucket = "<thread_id> <seq // BUCKET>": the one equality a page, a
               replay and the last seq find a thread's rows by (see _buckets); rows stored
               before it get it from the store's schema step (_buckets.backfill)
               ↔ protocol.events.MessageEdited / MessageDeleted (an edit's text is
               blanked when its message is deleted)
    threads    {thread_id, title, members, created_by, created_at[, archived]}
               ↔ protocol.records.ThreadRecord (a thread's `_id` is its thread_id; the store
               adds that on insert, see _store.py)

The field names and types are those of every document stored so far and of the indexes
(`message_id`, `(thread_id, seq)`, `thread_bucket`, `created_at`, `members`): change them
here and existing data no longer reads back. A field a document lacks reads as the record's
default; fields the records do not know are ignored on read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from protocol.events import MessageChange, MessageDeleted, MessageEdited, MessageEvent
from protocol.records import ThreadRecord

__all__ = [
    "BUCKET",
    "BUCKET_FIELD",
    "bucket_key",
    "change_document",
    "change_from_document",
    "is_change",
    "message_document",
    "message_from_document",
    "row_from_document",
    "thread_document",
    "thread_from_document",
]

Doc = dict[str, Any]
# Seqs per bucket. A page of 50 (the default) spans one or two buckets: 100 rows of ~300 bytes
# read for it cost less than one more round trip would.
BUCKET = 100
BUCKET_FIELD = "thread_bucket"


def bucket_key(thread_id: str, bucket: int) -> str:
    # Ids are [A-Za-z0-9._:@-]; the bucket is the last space-separated part either way.
    return f"{thread_id} {bucket}"


def message_document(message: MessageEvent) -> Doc:
    doc: Doc = {
        "message_id": message.message_id,
        "thread_id": message.thread_id,
        "seq": message.seq,
        BUCKET_FIELD: bucket_key(message.thread_id, message.seq // BUCKET),
        "sender_id": message.sender_id,
        "text": message.text,
        "created_at": message.created_at,
    }
    if message.client_msg_id is not None:
        doc["client_msg_id"] = message.client_msg_id
    if message.turn_id is not None:
        doc["turn_id"] = message.turn_id
    if message.turn_status is not None:
        doc["turn_status"] = message.turn_status
    if message.turn_reason is not None:
        doc["turn_reason"] = message.turn_reason
    return doc


def message_from_document(doc: Mapping[str, Any]) -> MessageEvent:
    return MessageEvent(
        thread_id=doc["thread_id"],
        seq=int(doc["seq"]),
        message_id=doc["message_id"],
        sender_id=doc["sender_id"],
        text=doc.get("text", ""),
        created_at=str(doc["created_at"]),
        client_msg_id=doc.get("client_msg_id"),
        edited_at=doc.get("edited_at"),
        deleted_at=doc.get("deleted_at"),
        turn_id=doc.get("turn_id"),
        turn_status=doc.get("turn_status"),
        turn_reason=doc.get("turn_reason"),
    )


def change_document(change: MessageChange) -> Doc:
    doc: Doc = {
        "message_id": change.change_id,
        "thread_id": change.thread_id,
        "seq": change.seq,
        BUCKET_FIELD: bucket_key(change.thread_id, change.seq // BUCKET),
        "target_id": change.message_id,
    }
    if isinstance(change, MessageEdited):
        doc.update(kind="edit", actor_id=change.editor_id, created_at=change.edited_at)
        doc["text"] = change.text
    else:
        doc.update(kind="delete", actor_id=change.deleted_by, created_at=change.deleted_at)
    return doc


def is_change(doc: Mapping[str, Any]) -> bool:
    return "kind" in doc


def change_from_document(doc: Mapping[str, Any]) -> MessageChange:
    if doc["kind"] == "edit":
        return MessageEdited(
            thread_id=doc["thread_id"],
            seq=int(doc["seq"]),
            change_id=doc["message_id"],
            message_id=doc["target_id"],
            editor_id=doc["actor_id"],
            text=doc.get("text", ""),
            edited_at=str(doc["created_at"]),
        )
    return MessageDeleted(
        thread_id=doc["thread_id"],
        seq=int(doc["seq"]),
        change_id=doc["message_id"],
        message_id=doc["target_id"],
        deleted_by=doc["actor_id"],
        deleted_at=str(doc["created_at"]),
    )


def row_from_document(doc: Mapping[str, Any]) -> MessageEvent | MessageChange:
    """A row of a thread's log: a message, or a change with its own seq."""
    return change_from_document(doc) if is_change(doc) else message_from_document(doc)


def thread_document(thread: ThreadRecord) -> Doc:
    doc: Doc = {
        "thread_id": thread.thread_id,
        "title": thread.title,
        "members": list(thread.members),
    }
    # Every thread the gateway creates has both; a record without them stores without them.
    if thread.created_by is not None:
        doc["created_by"] = thread.created_by
    if thread.created_at is not None:
        doc["created_at"] = thread.created_at
    if thread.archived:
        doc["archived"] = True
    return doc


def thread_from_document(doc: Mapping[str, Any]) -> ThreadRecord:
    return ThreadRecord(
        thread_id=doc["thread_id"],
        title=doc.get("title", ""),
        members=tuple(doc.get("members", ())),
        created_by=doc.get("created_by"),
        created_at=doc.get("created_at"),
        archived=bool(doc.get("archived", False)),
    )
