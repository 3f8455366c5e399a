"""The store's codec without a server: records ↔ the documents every stored one looks like."""

from __future__ import annotations

from dataclasses import replace

from adapters._codec import (
    change_document,
    message_document,
    message_from_document,
    thread_document,
    thread_from_document,
)
from protocol.events import MessageDeleted, MessageEvent
from protocol.records import ThreadRecord

MESSAGE = MessageEvent(
    thread_id="t1",
    seq=3,
    message_id="m1",
    sender_id="alice",
    text="hi",
    created_at="2026-01-01T00:00:00.000Z",
)
THREAD = ThreadRecord(
    thread_id="t1",
    title="T",
    members=("alice", "bob"),
    created_by="alice",
    created_at="2026-01-01T00:00:00.000Z",
)


def test_a_message_is_stored_with_its_fields_and_no_type_tag() -> None:
    doc = message_document(MESSAGE)
    assert doc == {
        "message_id": "m1",
        "thread_id": "t1",
        "seq": 3,
        "thread_bucket": "t1 0",
        "sender_id": "alice",
        "text": "hi",
        "created_at": "2026-01-01T00:00:00.000Z",
    }
    assert list(doc) == [
        "message_id", "thread_id", "seq", "thread_bucket", "sender_id", "text", "created_at",
    ]  # fmt: skip
    assert message_from_document(doc) == MESSAGE


def test_every_row_names_its_thread_and_its_seq_bucket() -> None:
    assert [
        message_document(replace(MESSAGE, seq=seq))["thread_bucket"]
        for seq in (1, 99, 100, 199, 200, 12_345)
    ] == ["t1 0", "t1 0", "t1 1", "t1 1", "t1 2", "t1 123"]
    delete = MessageDeleted(
        thread_id="t:1",
        seq=100,
        change_id="d1",
        message_id="m1",
        deleted_by="alice",
        deleted_at="2026-01-01T00:00:00.000Z",
    )
    assert change_document(delete)["thread_bucket"] == "t:1 1"


def test_a_row_stored_before_buckets_reads_back_the_same() -> None:
    doc = message_document(MESSAGE)
    del doc["thread_bucket"]
    assert message_from_document(doc) == MESSAGE


def test_a_client_msg_id_is_stored_only_when_there_is_one() -> None:
    with_id = replace(MESSAGE, client_msg_id="c1")
    assert message_document(with_id)["client_msg_id"] == "c1"
    assert message_from_document(message_document(with_id)) == with_id
    assert "client_msg_id" not in message_document(MESSAGE)


def test_a_stored_message_reads_back_past_the_servers_own_fields() -> None:
    doc = {**message_document(MESSAGE), "_id": "x", "seq": 3.0}
    assert message_from_document(doc) == MESSAGE


def test_a_thread_is_stored_with_its_members_as_a_list() -> None:
    doc = thread_document(THREAD)
    assert doc == {
        "thread_id": "t1",
        "title": "T",
        "members": ["alice", "bob"],
        "created_by": "alice",
        "created_at": "2026-01-01T00:00:00.000Z",
    }
    assert thread_from_document({**doc, "_id": "t1"}) == THREAD


def test_a_thread_stored_without_some_fields_reads_with_their_defaults() -> None:
    assert thread_from_document({"thread_id": "t9", "members": ["alice"]}) == ThreadRecord(
        thread_id="t9", members=("alice",)
    )
    assert thread_document(ThreadRecord(thread_id="t9")) == {
        "thread_id": "t9",
        "title": "",
        "members": [],
    }
