"""The store's codec without a server: records ↔ the documents every stored one looks like."""

from __future__ import annotations

from dataclasses import replace

from adapters._codec import (
    message_document,
    message_from_document,
    thread_document,
    thread_from_document,
)
from protocol.events import MessageEvent
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
        "sender_id": "alice",
        "text": "hi",
        "created_at": "2026-01-01T00:00:00.000Z",
    }
    assert list(doc) == ["message_id", "thread_id", "seq", "sender_id", "text", "created_at"]
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
